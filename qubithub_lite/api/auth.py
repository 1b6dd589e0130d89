"""/auth: register, login, refresh, logout, me (platform-notes §2)."""

from __future__ import annotations

from aiohttp import web

from ..errors import Forbidden, Unauthorized
from ..schemas.admin import ChangePasswordRequest, ChangePasswordResponse
from ..schemas.auth import (
    AuthResponse, LoginRequest, OrganizationMembership, RefreshRequest, RegisterRequest, TokenResponse, UserResponse,
)
from ..services.accounts import NewUser, Session
from .routing import Ctx, Router, json_response

router = Router("auth")
COOKIE = "refresh_token"


async def user_response(ctx: Ctx, user) -> UserResponse:
    orgs = await ctx.hub.accounts.memberships(user)
    return UserResponse(
        id=user.id, email=user.email, username=user.username, name=user.name, avatar=user.avatar,
        is_admin=user.is_admin,
        organizations=[OrganizationMembership(id=o.id, name=o.name, slug=o.slug, role=role) for o, role in orgs],
    )


def _with_cookie(ctx: Ctx, payload, session: Session, status: int) -> web.Response:
    response = json_response(payload, status)
    response.set_cookie(
        COOKIE, session.refresh_token, max_age=ctx.hub.settings.auth.refresh_token_ttl_days * 86400,
        httponly=True, samesite="Lax", path="/", secure=ctx.request.secure,
    )
    return response


async def _auth_response(ctx: Ctx, user, session: Session, status: int) -> web.Response:
    payload = AuthResponse(
        access_token=session.access_token, refresh_token=session.refresh_token,
        expires_in=session.expires_in, user=await user_response(ctx, user),
    )
    return _with_cookie(ctx, payload, session, status)


@router.post("/auth/register", body=RegisterRequest, response=AuthResponse, status=201, errors=(403,))
async def register(ctx: Ctx):
    """Create an account and log in at once (also creates the personal organization)."""
    b: RegisterRequest = ctx.body
    user, session = await ctx.hub.accounts.register(NewUser(email=b.email, username=b.username, password=b.password, name=b.name))
    return await _auth_response(ctx, user, session, 201)


@router.post("/auth/login", body=LoginRequest, response=AuthResponse, errors=(401,))
async def login(ctx: Ctx):
    """Log in with an email or a username (`identifier`; older clients send `email`)."""
    user, session = await ctx.hub.accounts.login(ctx.body.login_name, ctx.body.password)
    return await _auth_response(ctx, user, session, 200)


@router.post("/auth/refresh", body=RefreshRequest, response=TokenResponse, errors=(401,))
async def refresh(ctx: Ctx):
    """Exchange a refresh token (body, else cookie) for a new pair; the old one is spent."""
    token = ctx.body.refresh_token or ctx.request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("refresh_token is required")
    session = await ctx.hub.accounts.refresh(token)
    payload = TokenResponse(access_token=session.access_token, refresh_token=session.refresh_token, expires_in=session.expires_in)
    return _with_cookie(ctx, payload, session, 200)


@router.post("/auth/logout", body=RefreshRequest, status=204)
async def logout(ctx: Ctx):
    """Revoke a refresh token (cookie first, then body). Needs no access token."""
    await ctx.hub.accounts.logout(ctx.request.cookies.get(COOKIE) or ctx.body.refresh_token)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


@router.get("/auth/me", response=UserResponse, auth="user")
async def me(ctx: Ctx):
    """The signed-in user with their organizations."""
    return await user_response(ctx, ctx.user)


@router.post("/auth/password", body=ChangePasswordRequest, response=ChangePasswordResponse, auth="user",
             errors=(400, 401, 403))
async def change_password(ctx: Ctx):
    """Change one's own password (the current one is required). Every session of the account
    ends at once, other devices included; the response carries a fresh session for this one."""
    if ctx.principal.api_key is not None:
        raise Forbidden("changing the password needs a signed-in session, not an API key")
    session, ended = await ctx.hub.accounts.change_password(ctx.user, ctx.body.current_password, ctx.body.new_password)
    payload = ChangePasswordResponse(
        access_token=session.access_token, refresh_token=session.refresh_token, expires_in=session.expires_in,
        sessions_ended=ended, detail=f"password changed; {ended} session(s) ended, use the new tokens from now on",
    )
    return _with_cookie(ctx, payload, session, 200)

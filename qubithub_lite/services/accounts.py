"""Accounts: registration, login, refresh-token rotation, logout."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from peewee import IntegrityError

from ..config import AuthConfig
from ..db import accounts as queries
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import Membership, Organization, RefreshToken, User
from ..errors import BadRequest, Forbidden, Unauthorized
from ..jobs.bus import Announcer
from ..logs import fields
from .passwords import PasswordHasher, password_problem
from .tokens import AccessTokens, new_opaque_token, sha256_hex

log = logging.getLogger(__name__)

LOGIN_FAILED = "incorrect email/username or password"


@dataclass
class Session:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass
class NewUser:
    email: str
    username: str
    password: str
    name: str = ""
    is_admin: bool = False
    is_pro: bool = False


class Accounts:
    def __init__(self, db: Db, hasher: PasswordHasher, tokens: AccessTokens, config: AuthConfig,
                 announcer: Announcer | None = None):
        self.db = db
        self.hasher = hasher
        self.tokens = tokens
        self.config = config
        #: user id → (expiry, active user or None); see :meth:`get_active_user`.
        self._active: dict[str, tuple[float, User | None]] = {}
        self._clock = time.monotonic
        #: Several processes on one database (``jobs.bus``): a user forgotten here is forgotten
        #: in each of them (topic ``user``); None: one process.
        self._announcer = announcer
        if announcer is not None:
            announcer.on("user", self._forget_here)

    #: How long a looked-up user row (or its absence) is reused for authenticating requests.
    #: Changes made through this service drop the entry at once; a user disabled or deleted
    #: any other way (direct SQL, another process) is refused within this many seconds.
    USER_CACHE_SECONDS = 2.0
    _USER_CACHE_MAX = 4096

    # Users ---------------------------------------------------------------
    async def create_user(self, new: NewUser) -> User:
        """Create a user and their personal organization (slug = username)."""
        problem = password_problem(new.password, username=new.username, email=new.email)
        if problem:
            raise BadRequest(problem)
        await self._ensure_free(new.email, new.username)
        password_hash = await self.hasher.hash(new.password)
        now = utcnow()
        try:
            async with self.db.tx():
                user = await User.acreate(
                    id=new_id(), email=new.email, username=new.username, name=new.name or new.username,
                    password_hash=password_hash, is_admin=new.is_admin, is_pro=new.is_pro,
                    created_at=now, updated_at=now,
                )
                org = await Organization.acreate(
                    id=new_id(), name=user.name, slug=new.username, is_personal=True, created_at=now
                )
                await Membership.acreate(id=new_id(), organization=org, user=user, role="owner", created_at=now)
        except IntegrityError:
            # A concurrent registration won the race for the same name.
            raise BadRequest("email or username already registered") from None
        log.info("user.created", extra=fields(user_id=user.id, username=user.username, admin=new.is_admin))
        return user

    async def _ensure_free(self, email: str, username: str) -> None:
        if await queries.email_taken(self.db, email):
            raise BadRequest("email already registered")
        if await queries.username_taken(self.db, username):
            raise BadRequest("username already taken")
        if await queries.org_slug_taken(self.db, username):
            raise BadRequest("username already taken by an organization")

    async def register(self, new: NewUser) -> tuple[User, Session]:
        if not self.config.open_registration:
            raise Forbidden("registration is closed on this server; ask an administrator for an account")
        user = await self.create_user(new)
        return user, await self.create_session(user)

    async def get_active_user(self, user_id: str, *, cached: bool = True) -> User | None:
        """The active user with this id, or None. Every authenticated request asks, so the
        answer is reused for up to :data:`USER_CACHE_SECONDS` (``cached=False`` reads the row)."""
        now = self._clock()
        hit = self._active.get(user_id)
        if cached and hit is not None and hit[0] > now:
            return hit[1]
        user = await User.aget_or_none(User.id == user_id)
        active = user if user is not None and user.is_active else None
        if len(self._active) >= self._USER_CACHE_MAX:
            self._active = {k: v for k, v in self._active.items() if v[0] > now}
            if len(self._active) >= self._USER_CACHE_MAX:
                self._active.clear()
        self._active[user_id] = (now + self.USER_CACHE_SECONDS, active)
        return active

    def forget_user(self, user_id: str) -> None:
        """Drop a cached user row (call after changing or disabling the user), in every process."""
        self._forget_here(user_id)
        if self._announcer is not None:
            self._announcer.broadcast_soon("user", user_id)

    def _forget_here(self, user_id: str) -> None:
        self._active.pop(user_id, None)

    async def memberships(self, user: User) -> list[tuple[Organization, str]]:
        """The user's organizations (personal first, then by slug) with their role.
        /auth/me asks on every call (see :func:`..db.accounts.memberships`)."""
        rows = await queries.memberships(self.db, user.id)
        return [(org, org.member_role) for org in rows]

    # Sessions ------------------------------------------------------------
    async def login(self, identifier: str, password: str) -> tuple[User, Session]:
        ident = identifier.strip()
        query = User.email == ident.lower() if "@" in ident else User.username == ident.lower()
        user = await User.aget_or_none(query)
        ok = await self.hasher.verify(password, user.password_hash if user else None)
        if not ok or user is None or not user.is_active:
            raise Unauthorized(LOGIN_FAILED)
        return user, await self.create_session(user)

    async def create_session(self, user: User, family_id: str | None = None) -> Session:
        refresh = new_opaque_token("qhr_")
        await self._store_refresh(user.id, refresh, family_id or new_id())
        return Session(self.tokens.issue(user.id, user.session_generation or 0), refresh, self.tokens.ttl_seconds)

    async def _store_refresh(self, user_id: str, token: str, family_id: str) -> None:
        now = utcnow()
        async with self.db.tx():
            await RefreshToken.acreate(
                id=new_id(), user=user_id, family_id=family_id, token_hash=sha256_hex(token),
                created_at=now, expires_at=now + dt.timedelta(days=self.config.refresh_token_ttl_days),
            )

    async def refresh(self, token: str) -> Session:
        """Rotate a refresh token. Reusing an already-rotated token revokes its whole family."""
        now = utcnow()
        async with self.db.tx():
            row = await RefreshToken.aget_or_none(RefreshToken.token_hash == sha256_hex(token))
            if row is None:
                raise Unauthorized("invalid refresh token")
            if row.rotated_at is not None:
                await queries.revoke_refresh_family(self.db, row.family_id, now)
                log.warning("auth.refresh_reuse", extra=fields(user_id=row.user_id, family=row.family_id))
                reused = True
            else:
                reused = False
                if row.revoked_at is not None or row.expires_at <= now:
                    raise Unauthorized("refresh token expired or revoked")
                user = await self.get_active_user(row.user_id, cached=False)
                if user is None:
                    raise Unauthorized("account disabled")
                row.rotated_at = now
                await row.asave(only=[RefreshToken.rotated_at])
                session = await self.create_session(user, family_id=row.family_id)
        if reused:
            # Raised after the transaction so the family revocation is committed.
            raise Unauthorized("refresh token was already used; all sessions of this login were revoked")
        return session

    async def logout(self, token: str | None) -> None:
        if not token:
            return
        async with self.db.tx():
            await queries.revoke_refresh_token(self.db, sha256_hex(token), utcnow())

    async def set_password(self, user: User, password: str) -> None:
        problem = password_problem(password, username=user.username, email=user.email)
        if problem:
            raise BadRequest(problem)
        user.password_hash = await self.hasher.hash(password)
        user.updated_at = utcnow()
        try:
            async with self.db.tx():
                await user.asave(only=[User.password_hash, User.updated_at])
        finally:
            self.forget_user(user.id)

    async def end_sessions(self, user_id: str) -> int:
        """End every session of a user at once: refresh tokens are revoked and access tokens
        already issued stop working (the session generation moves on). Returns how many
        refresh tokens were still live. Call inside or outside a transaction."""
        now = utcnow()
        try:
            async with self.db.tx():
                revoked = await queries.revoke_live_refresh_tokens(self.db, user_id, now)
                await queries.bump_session_generation(self.db, user_id, now)
        finally:
            self.forget_user(user_id)
        return revoked

    async def change_password(self, user: User, current: str, new: str) -> tuple[Session, int]:
        """The user's own password change: the current one must match; every session ends,
        and the caller gets a fresh one. Returns (new session, sessions ended)."""
        fresh = await User.aget_or_none(User.id == user.id)
        if fresh is None or not fresh.is_active:
            raise Unauthorized("account not found or disabled")
        if not await self.hasher.verify(current, fresh.password_hash):
            raise BadRequest("current password is incorrect")
        if current == new:
            raise BadRequest("the new password must differ from the current one")
        await self.set_password(fresh, new)
        ended = await self.end_sessions(fresh.id)
        fresh = await self.get_active_user(fresh.id, cached=False)
        return await self.create_session(fresh), ended

"""/admin: site administration of accounts (the same operations as ``qubithub-lite users``).
Every route needs a signed-in site administrator (:func:`services.admin.require_site_admin`)."""

from __future__ import annotations

import asyncio

from ..errors import BadRequest
from ..schemas.admin import (
    AdminDeleteResponse, AdminImportRequest, AdminImportResponse, AdminPasswordRequest, AdminPasswordResponse,
    AdminUser, AdminUserDetail, AdminUserList, AdminUserListQuery,
)
from ..services.admin import require_site_admin, user_admin, user_dict
from .routing import Ctx, Router

router = Router("admin")
ADMIN_ERRORS = (401, 403, 404, 409)
MAX_IMPORT_ROWS = 1000  # each password is hashed with bcrypt: about 0.25 s each at the default cost


def _admin(ctx: Ctx):
    actor = require_site_admin(ctx.principal)
    return user_admin(ctx.hub), actor


@router.get("/admin/users", query=AdminUserListQuery, response=AdminUserList, auth="user", errors=(401, 403))
async def list_users(ctx: Ctx):
    """Every account (filter by text, status, site role)."""
    admin, _ = _admin(ctx)
    q: AdminUserListQuery = ctx.query
    total, rows = await admin.list(search=q.search, status=q.status, role=q.role, limit=q.limit, offset=q.offset)
    return {"items": [user_dict(u) for u in rows], "total": total, "limit": q.limit, "offset": q.offset}


@router.get("/admin/users/{user}", response=AdminUserDetail, auth="user", errors=ADMIN_ERRORS)
async def show_user(ctx: Ctx):
    """One account (id, username or email): roles, organizations, what it owns."""
    admin, _ = _admin(ctx)
    return await admin.describe(await admin.find(ctx.path["user"]))


def _changer(name: str, doc: str, change):
    async def handler(ctx: Ctx):
        admin, actor = _admin(ctx)
        return user_dict(await change(admin, ctx.path["user"], actor.id))

    handler.__name__ = name
    handler.__doc__ = doc
    router.post(f"/admin/users/{{user}}/{name.split('_')[0]}", response=AdminUser, auth="user", errors=ADMIN_ERRORS)(handler)


_changer("disable_user", "Disable an account: its sessions end and its API keys are refused at once.",
         lambda a, u, actor: a.set_active(u, False, actor_id=actor))
_changer("enable_user", "Enable a disabled account again.", lambda a, u, actor: a.set_active(u, True, actor_id=actor))
_changer("promote_user", "Make an account a site administrator.", lambda a, u, actor: a.set_admin(u, True, actor_id=actor))
_changer("demote_user", "Take site administration away (never from the last active administrator).",
         lambda a, u, actor: a.set_admin(u, False, actor_id=actor))


@router.post("/admin/users/{user}/password", body=AdminPasswordRequest, response=AdminPasswordResponse, auth="user",
             errors=ADMIN_ERRORS)
async def set_user_password(ctx: Ctx):
    """Set an account's password, or generate one (no password given); every session of theirs ends."""
    admin, actor = _admin(ctx)
    given = ctx.body.password
    user, password, ended = await admin.set_password(ctx.path["user"], given, actor_id=actor.id)
    return {"user": user_dict(user), "password": None if given is not None else password, "sessions_ended": ended}


@router.delete("/admin/users/{user}", response=AdminDeleteResponse, auth="user", errors=ADMIN_ERRORS)
async def delete_user(ctx: Ctx):
    """Delete an account: personal resources and runs go (blobs released); what it made in a
    shared organization passes to an owner; 409 for the only owner of a shared organization."""
    admin, actor = _admin(ctx)
    user = await admin.find(ctx.path["user"])
    summary = await admin.delete(user.id, actor_id=actor.id)
    return {"deleted": user.username, **summary}


@router.post("/admin/users/import", body=AdminImportRequest, response=AdminImportResponse, auth="user",
             errors=(401, 403, 409))
async def import_users(ctx: Ctx):
    """Create a class: every row checked first, then one transaction (all or nothing).
    Rows without a password get a generated one, returned once in ``credentials``."""
    from ..services.class_csv import ClassFileError, parse_class_csv

    admin, actor = _admin(ctx)
    body: AdminImportRequest = ctx.body
    if body.csv is not None:
        try:
            rows = await asyncio.to_thread(parse_class_csv, body.csv)
        except ClassFileError as exc:
            raise BadRequest(f"csv: {exc}") from None
        if len(rows) > MAX_IMPORT_ROWS:
            raise BadRequest(f"csv: at most {MAX_IMPORT_ROWS} rows per request (the command line takes more)")
    else:
        rows = [(i, {k: v for k, v in r.model_dump().items() if v is not None}) for i, r in enumerate(body.rows or [], 1)]
    plan = await admin.plan_import(rows, org=body.org.strip().lower() if body.org else None,
                                   skip_existing=body.skip_existing)
    credentials = [{"username": r.user.username, "email": r.user.email, "name": r.user.name,
                    "password": r.user.password, "org": r.org or ""} for r in plan.to_create if r.generated]
    if body.dry_run:
        return {"created": 0, "skipped": plan.skipped, "enrolled": 0, "organizations_created": 0, "dry_run": True,
                "credentials": []}
    result = await admin.run_import(plan, actor_id=actor.id)
    return {**result, "credentials": credentials}


@router.get("/metrics", raw_response="text/plain", auth="user", errors=(401, 403))
async def metrics(ctx: Ctx):
    """Prometheus metrics (text format): site administrators, with a session or an API key."""
    from aiohttp import web

    from ..metrics import CONTENT_TYPE, metrics_of

    require_site_admin(ctx.principal, allow_api_key=True)
    body = await metrics_of(ctx.request.app).render(ctx.hub)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response

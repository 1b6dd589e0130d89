"""/admin: site administration of accounts (the same operations as ``qubithub-lite users``).
Every route needs a signed-in site administrator (:func:`services.admin.require_site_admin`)."""

from __future__ import annotations

import asyncio

from ..errors import ApiError, BadRequest, PayloadTooLarge
from ..schemas.admin import (
    AdminDeleteResponse, AdminImportRequest, AdminImportResponse, AdminPasswordRequest, AdminPasswordResponse,
    AdminUser, AdminUserDetail, AdminUserList, AdminUserListQuery,
)
from ..schemas.bundles import BundleExportQuery, BundleImportQuery, BundleImportReportOut
from ..services.admin import require_site_admin, user_dict
from .routing import Ctx, Router

router = Router("admin")
ADMIN_ERRORS = (401, 403, 404, 409)
MAX_IMPORT_ROWS = 1000  # each password is hashed with bcrypt: about 0.25 s each at the default cost


def _admin(ctx: Ctx):
    actor = require_site_admin(ctx.principal)
    return ctx.hub.user_admin, actor


@router.get("/admin/users", query=AdminUserListQuery, response=AdminUserList, auth="user", errors=(401, 403, 404))
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
             errors=(401, 403, 404, 409))
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


@router.get("/metrics", raw_response="text/plain", auth="user", errors=(401, 403, 404))
async def metrics(ctx: Ctx):
    """Prometheus metrics (text format): site administrators, with a session or an API key."""
    from aiohttp import web

    from ..metrics import CONTENT_TYPE, metrics_of

    require_site_admin(ctx.principal, allow_api_key=True)
    body = await metrics_of(ctx.request.app).render(ctx.hub)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


# ---- course bundles over HTTP (the format of `qubithub-lite export` / `import`) ---------------
def _site_admin(ctx: Ctx):
    """Bundles are for site administrators; to anyone else these routes do not exist."""
    from ..errors import NotFound
    from ..services.permissions import is_site_admin

    if not is_site_admin(ctx.actor):
        raise NotFound()
    return ctx.user


@router.get("/admin/export", query=BundleExportQuery, raw_response="application/x-tar", auth="user",
            errors=(400, 401, 404))
async def export_bundle(ctx: Ctx):
    """A course bundle of the chosen resources (a tar, streamed as it is written).

    Circuits (every version), datasets (every version) and spaces of the chosen organizations,
    users and owner/name resources: `bundle.json`, then `objects/<sha256>`; for
    `POST /admin/import` or `qubithub-lite import`."""
    import time

    from aiohttp import web

    from ..services.bundles import BundleError, Selection, stream_bundle

    _site_admin(ctx)
    q: BundleExportQuery = ctx.query
    selection = Selection(list(q.org), list(q.user), list(q.circuit), list(q.dataset), list(q.space))
    if selection.empty:
        raise BadRequest("nothing selected: give org, user, circuit, dataset or space")
    bundles = ctx.hub.bundles
    try:
        manifest = await bundles.collect(selection)
    except BundleError as exc:
        raise BadRequest(str(exc)) from None
    name = time.strftime("qubithub-bundle-%Y%m%d-%H%M%S.tar", time.gmtime())
    response = web.StreamResponse(headers={"Content-Type": "application/x-tar", "Cache-Control": "no-store",
                                           "Content-Disposition": f'attachment; filename="{name}"'})
    response.enable_chunked_encoding()
    await response.prepare(ctx.request)
    chunks = stream_bundle(bundles, manifest)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    finally:
        await chunks.aclose()
    await response.write_eof()
    return response


@router.post("/admin/import", query=BundleImportQuery, response=BundleImportReportOut, auth="user",
             multipart={"file": "The bundle (a tar made by GET /admin/export or `qubithub-lite export`)"},
             errors=(400, 401, 404, 409, 413))
async def import_bundle(ctx: Ctx):
    """Import a course bundle and answer the import report.

    Streamed to a temporary file (at most 2 GiB), checked whole (every member, every object's
    hash), then imported through the same service calls as uploads. Importing again changes
    nothing; a name holding other content is a clash, never overwritten."""
    from ..services.bundles import MAX_BUNDLE_BYTES, import_upload, report_dict
    from .uploads import drain_body, iter_multipart_files

    _site_admin(ctx)
    if (ctx.request.content_length or 0) > MAX_BUNDLE_BYTES + 64 * 1024:
        raise PayloadTooLarge(f"a bundle is at most {MAX_BUNDLE_BYTES} bytes")
    q: BundleImportQuery = ctx.query
    files = iter_multipart_files(ctx.request, ["file"])
    try:
        incoming = await anext(files, None)
        if incoming is None:
            raise BadRequest("send the bundle as the multipart field 'file'")
        report = await import_upload(ctx.hub.bundles, incoming.chunks, ctx.hub.settings.data_dir,
                                     as_org=q.as_org, as_user=q.as_user)
    except ApiError:
        await drain_body(ctx.request)
        raise
    finally:
        await files.aclose()
    return report_dict(report)

"""The Admin page (site administrators only; to anyone else it does not exist: 404): users
(search and filter, disable/enable, reset password shown once, promote/demote), a class CSV
import with its credentials sheet to download, a metrics summary (the data of ``GET /metrics``),
backup, and course bundle export/import (the same service calls as ``/admin/export`` and
``/admin/import``)."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from typing import Any

from aiohttp import web

from ..errors import ApiError, BadRequest, NotFound
from .common import NAV, STATE_KEY, NavEntry
from .pages import View, form, page, parse, redirect

NAV.append(NavEntry("Admin", "/admin", needs_user=True, admin_only=True))

PAGE_SIZE = 50
SHEET_SECONDS = 15 * 60  # a credentials sheet can be downloaded for this long after the import
MAX_SHEETS = 20
MAX_CSV_BYTES = 900_000  # as POST /admin/users/import's csv field


def _need_admin(v: View):
    from ..services.permissions import is_site_admin

    if v.user is None or not is_site_admin(v.user):
        raise NotFound("There is no page at this address.")
    return v.user


def _sheets(v: View) -> dict[str, tuple[float, str, str]]:
    """Credentials sheets of recent imports: token -> (expiry, admin id, CSV). Held in memory
    only, for :data:`SHEET_SECONDS`, for the admin who ran the import."""
    store = v.request.app[STATE_KEY].setdefault("credential_sheets", {})
    now = time.monotonic()
    for token in [t for t, (exp, _, _) in store.items() if exp < now]:
        del store[token]
    return store


async def _metrics_summary(v: View) -> list[dict[str, Any]]:
    from prometheus_client.parser import text_string_to_metric_families

    from ..metrics import metrics_of

    text = (await metrics_of(v.request.app).render(v.hub)).decode("utf-8", "replace")
    out = []
    for fam in text_string_to_metric_families(text):
        if fam.name.endswith("_created"):
            continue
        if fam.type in ("counter", "gauge"):
            samples = [s for s in fam.samples if not s.name.endswith("_created")]
            total = sum(s.value for s in samples)
            parts = sorted(((", ".join(f"{k}={x}" for k, x in sorted(s.labels.items())), s.value) for s in samples if s.labels),
                           key=lambda p: -p[1])[:8]
        elif fam.type in ("histogram", "summary"):
            counts = [s for s in fam.samples if s.name.endswith("_count")]
            sums = [s for s in fam.samples if s.name.endswith("_sum")]
            total = sum(s.value for s in counts)
            mean = sum(s.value for s in sums) / total if total else 0.0
            parts = [("mean", round(mean, 6))]
        else:
            continue
        out.append({"name": fam.name, "help": fam.documentation, "type": fam.type, "total": total, "parts": parts})
    return out


def _base(v: View) -> str:
    rest = urllib.parse.urlencode([(k, x) for k, x in v.request.query.items() if k != "page" and x])
    return f"/admin?{rest}&" if rest else "/admin?"


async def _render(v: View, status: int = 200, **extra: Any) -> web.Response:
    from ..schemas.admin import AdminUserListQuery
    from ..services.admin import user_dict

    data = {k: v.q(k) for k in ("search", "status", "role") if v.q(k)}
    q = parse(AdminUserListQuery, data)
    try:
        page_no = max(1, min(int(v.q("page", "1") or 1), 100_000))
    except ValueError:
        raise BadRequest("page: not a number") from None
    total, rows = await v.hub.user_admin.list(search=q.search, status=q.status, role=q.role, limit=PAGE_SIZE,
                                              offset=(page_no - 1) * PAGE_SIZE)
    pages = -(-total // PAGE_SIZE) if total else 0
    context = dict(users=[user_dict(u) for u in rows], total=total, page=page_no, pages=pages,
                   around=[p for p in range(max(1, page_no - 2), min(pages, page_no + 2) + 1)], users_base=_base(v),
                   filters=data, metrics=await _metrics_summary(v), data_dir=str(v.hub.settings.data_dir),
                   notice=None, error=None, new_password=None,
                   imported=None, bundle_report=None)
    context.update(extra)
    response = v.render("admin.html", status=status, **context)
    response.headers["Cache-Control"] = "no-store"  # passwords are shown once: never cached
    return response


@page("/admin", exclusive=True)
async def admin_page(v: View):
    _need_admin(v)
    return await _render(v)


def _back(v: View) -> str:
    return "/admin" + (("?" + v.form.get("back")) if v.form.get("back") and not v.form.get("back").startswith(("/", "\\")) else "")


def _user_action(action: str):
    async def handler(v: View):
        actor = _need_admin(v)
        admin = v.hub.user_admin
        ident = v.match["user_id"]
        if action == "disable":
            user = await admin.set_active(ident, False, actor_id=actor.id)
        elif action == "enable":
            user = await admin.set_active(ident, True, actor_id=actor.id)
        elif action == "promote":
            user = await admin.set_admin(ident, True, actor_id=actor.id)
        elif action == "demote":
            user = await admin.set_admin(ident, False, actor_id=actor.id)
        else:  # reset: a generated password, shown once
            user, password, ended = await admin.set_password(ident, None, actor_id=actor.id)
            return await _render(v, new_password={"username": user.username, "password": password, "ended": ended})
        return redirect(_back(v))
    handler.__name__ = f"admin_{action}_user"
    return handler


for _action in ("disable", "enable", "promote", "demote", "reset"):
    form(f"/-/admin/users/{{user_id}}/{_action}")(_user_action(_action))


@form("/-/admin/import-class", stream=True)
async def import_class(v: View):
    """A class CSV from the page: the same checks and single transaction as POST /admin/users/import."""
    import asyncio

    from ..services.class_csv import ClassFileError, credentials_csv, parse_class_csv

    actor = _need_admin(v)
    if len(v.files) != 1:
        return await _render(v, status=400, error="choose the class list (a CSV file)")
    raw = bytearray()
    async for chunk in v.files[0].chunks:
        raw += chunk
        if len(raw) > MAX_CSV_BYTES:
            return await _render(v, status=413, error=f"the class list is larger than {MAX_CSV_BYTES} bytes "
                                                      "(the command line `qubithub-lite users import` takes more)")
    org = (v.fields.get("org") or "").strip().lower() or None
    admin = v.hub.user_admin
    try:
        try:
            rows = await asyncio.to_thread(parse_class_csv, raw.decode("utf-8-sig"))
        except (ClassFileError, UnicodeDecodeError) as exc:
            raise BadRequest(f"csv: {exc}") from None
        from ..api.admin import MAX_IMPORT_ROWS

        if len(rows) > MAX_IMPORT_ROWS:
            raise BadRequest(f"csv: at most {MAX_IMPORT_ROWS} rows from this page (the command line takes more)")
        plan = await admin.plan_import(rows, org=org, skip_existing=v.fields.get("skip_existing") == "on")
        credentials = [{"username": r.user.username, "email": r.user.email, "name": r.user.name,
                        "password": r.user.password, "org": r.org or ""} for r in plan.to_create if r.generated]
        result = await admin.run_import(plan, actor_id=actor.id)
    except ApiError as exc:
        return await _render(v, status=exc.status, error=exc.detail)
    token = None
    if credentials:
        store = _sheets(v)
        while len(store) >= MAX_SHEETS:
            store.pop(next(iter(store)))
        token = secrets.token_urlsafe(24)
        store[token] = (time.monotonic() + SHEET_SECONDS, actor.id, credentials_csv(credentials))
    return await _render(v, imported={**result, "credentials": credentials, "sheet": token})


@page("/admin/credentials/{token}", exclusive=True)
async def credentials_sheet(v: View):
    actor = _need_admin(v)
    entry = _sheets(v).get(v.match["token"])
    if entry is None or entry[1] != actor.id:
        raise NotFound("This credentials sheet has expired (they are kept 15 minutes) or is not yours.")
    return web.Response(body=entry[2].encode(), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": 'attachment; filename="class-credentials.csv"', "Cache-Control": "no-store"})


@form("/-/admin/import-bundle", stream=True)
async def import_bundle(v: View):
    """A course bundle from the page: the same call as POST /admin/import."""
    from ..schemas.bundles import BundleImportQuery
    from ..services.bundles import import_upload, report_dict

    _need_admin(v)
    if len(v.files) != 1:
        return await _render(v, status=400, error="choose a bundle file (.tar, made by Export or `qubithub-lite export`)")
    try:
        q = parse(BundleImportQuery, {k: v.fields[k].strip() for k in ("as_org", "as_user") if (v.fields.get(k) or "").strip()})
        report = await import_upload(v.hub.bundles, v.files[0].chunks, v.hub.settings.data_dir,
                                     as_org=q.as_org, as_user=q.as_user)
    except ApiError as exc:
        return await _render(v, status=exc.status, error=exc.detail)
    return await _render(v, bundle_report=report_dict(report))

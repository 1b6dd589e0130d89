"""Page handlers: parse the query → the same services the API calls → a template.
Form posts live under ``/-/`` (the API never uses that prefix), each checks the CSRF field."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ValidationError

from ..api.routing import HUB_KEY, PRINCIPAL_KEY, describe_validation
from ..errors import ApiError, BadRequest, Forbidden, NotFound, PayloadTooLarge
from ..hub import Hub
from ..run_status import RunStatus
from ..schemas.api_keys import SCOPES
from . import render, session as sess
from .common import SECURITY_HEADERS, STATE_KEY, STATIC_DIR, web_key

PAGES_KEY = web.AppKey("web_pages", web.UrlDispatcher)
PageHandler = Callable[["View"], Awaitable[web.StreamResponse]]

#: (path, handler, exclusive): exclusive paths are the UI's own; the others are pages only
#: for requests whose Accept prefers HTML.
_PAGES: list[tuple[str, PageHandler, bool]] = []
EXCLUSIVE: set[PageHandler] = set()
_FORMS: list[tuple[str, Callable, bool]] = []


def page(path: str, *, exclusive: bool = False):
    def deco(fn: PageHandler) -> PageHandler:
        _PAGES.append((path, fn, exclusive))
        if exclusive:
            EXCLUSIVE.add(fn)
        return fn
    return deco


def form(path: str, *, stream: bool = False):
    """A ``POST /-/…`` form route: CSRF field checked, errors shown as a page. ``stream``: a
    multipart form whose (single) file is streamed to the handler rather than read first."""
    def deco(fn):
        _FORMS.append((path, fn, stream))
        return fn
    return deco


@dataclass
class View:
    request: web.Request
    hub: Hub
    user: Any
    session: sess.WebSession
    match: dict[str, str]
    form: Any = None
    new_cookie: bool = False
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Any] = field(default_factory=list)

    @classmethod
    def of(cls, request: web.Request, match: dict[str, str]) -> "View":
        key = web_key(request.app)
        s = sess.from_request(request, key)
        fresh = s is None
        if s is None:
            s = sess.new_session()
        principal = request.get(PRINCIPAL_KEY)
        user = principal.user if principal is not None and principal.api_key is None else None
        return cls(request, request.app[HUB_KEY], user, s, match, new_cookie=fresh)

    @property
    def uid(self) -> str | None:
        return self.user.id if self.user else None

    @property
    def csrf(self) -> str:
        return self.session.csrf_token(web_key(self.request.app))

    def q(self, name: str, default: str = "") -> str:
        return self.request.query.get(name, default)

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        rest = urllib.parse.urlencode([(k, x) for k, x in self.request.query.items() if k != "page"])
        context.update(me=self.user, csrf=self.csrf, request=self.request, path=self.request.path,
                       query=self.request.query, page_base=f"{self.request.path}?{rest}&" if rest else f"{self.request.path}?")
        return aiohttp_jinja2.render_template(template, self.request, context, status=status)

    def login(self, user) -> None:
        self.session = sess.new_session(user, web_key(self.request.app))  # a new id: no session fixation
        self.new_cookie = True
        self.user = user

    def logout(self) -> None:
        self.session = sess.new_session()
        self.new_cookie = True
        self.user = None

    def finish(self, response: web.StreamResponse) -> None:
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        response.headers.setdefault("Cache-Control", "no-cache, private" if self.user else "no-cache")
        response.headers.setdefault("Vary", "Accept, Cookie")
        if self.new_cookie:
            sess.set_cookie(self.request, response, web_key(self.request.app), self.session)

    def need_user(self):
        if self.user is None:
            raise web.HTTPSeeOther("/login?next=" + urllib.parse.quote(self.request.path_qs, safe=""))
        return self.user


class FallThrough(Exception):
    """Raised by a page that turns out not to apply: the request goes on to the API routes."""


def resource_id(v: View, key: str) -> str:
    """A page's ``{…_id}``: ids are UUIDs; anything else (``/circuits/resolve``) is an API path."""
    from ..services.access import UUID_RE

    value = v.match[key]
    if not UUID_RE.match(value):
        raise FallThrough()
    return value


def error_page(view: View, status: int, detail: str) -> web.Response:
    return view.render("error.html", status=status, status_code=status, detail=detail)


def redirect(to: str) -> web.Response:
    return web.Response(status=303, headers={"Location": to})


def safe_next(target: str | None) -> str:
    """Only same-site paths: ``next`` never sends a user elsewhere."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(ch) < 32 for ch in target)):
        return "/"
    return target


def parse(model: type[BaseModel], data: dict[str, Any]):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc)) from None


def query_dict(request: web.Request, model: type[BaseModel], lists: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in model.model_fields:
        if name in lists:
            values = [v for v in request.query.getall(name, []) if v]
            if len(values) == 1 and "," in values[0]:
                values = [v.strip() for v in values[0].split(",") if v.strip()]
            if values:
                out[name] = values
        elif request.query.get(name):
            out[name] = request.query[name]
    return out


def pages_around(page: int, pages: int) -> list[int]:
    return [p for p in range(max(1, page - 2), min(pages, page + 2) + 1)]


async def read_blob(hub: Hub, sha256: str, limit: int) -> bytes | None:
    path = hub.blobs.path_for(sha256)
    def read() -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read(limit + 1)
        except OSError:
            return None
    data = await asyncio.to_thread(read)
    return None if data is None or len(data) > limit else data


def as_text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# Favicon, explore -----------------------------------------------------------------------
async def favicon(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "favicon.svg", headers={
        "Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"})


@page("/", exclusive=True)
async def explore(v: View):
    from ..schemas.circuits import CircuitListQuery
    from ..schemas.datasets import DatasetListQuery
    from ..schemas.spaces import SpaceListQuery

    kind = v.q("type", "circuits")
    if kind not in ("circuits", "datasets", "spaces"):
        raise BadRequest("type must be circuits, datasets or spaces")
    model = {"circuits": CircuitListQuery, "datasets": DatasetListQuery, "spaces": SpaceListQuery}[kind]
    data = query_dict(v.request, model, lists=("tags",))
    data.setdefault("limit", "24")
    if data.get("sort", "").lstrip("-") == "relevance":
        data.pop("sort")
    try:
        q = model.model_validate(data)
    except ValidationError as exc:
        return v.render("explore.html", status=400, kind=kind, error=describe_validation(exc), items=[], total=0,
                        page=1, pages=0, around=[])
    service = {"circuits": v.hub.circuits, "datasets": v.hub.datasets, "spaces": v.hub.spaces}[kind]
    result = await service.list(v.uid, q)
    return v.render("explore.html", kind=kind, error=None, items=result[kind], total=result["total"],
                    page=result["page"], pages=result["pages"], around=pages_around(result["page"], result["pages"]))


# Circuits -------------------------------------------------------------------------------
async def _circuit_files(v: View, circuit_id: str, version: str | None) -> dict[str, Any]:
    return await v.hub.circuits.list_files(v.uid, circuit_id, version)


#: A diff page reads at most this much changed text (unchanged files are never read).
DIFF_BUDGET = 4 * 1024 * 1024


async def _changed_texts(v: View, a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The text of the files that differ between two listings (by content hash), within
    :data:`DIFF_BUDGET`; the paths left out (binary, too large, over budget) are returned too."""
    old = {f["name"]: f for f in a["files"]}
    new = {f["name"]: f for f in b["files"]}
    budget = DIFF_BUDGET
    texts: tuple[dict[str, str], dict[str, str]] = ({}, {})
    skipped: list[str] = []
    for path in sorted(set(old) | set(new)):
        fa, fb = old.get(path), new.get(path)
        if fa is not None and fb is not None and fa["sha256"] == fb["sha256"]:
            continue
        sides = [(i, f) for i, f in enumerate((fa, fb)) if f is not None]
        size = sum(f["size"] for _, f in sides)
        if size > budget or any(f["size"] > render.MAX_DIFF for _, f in sides):
            skipped.append(path)
            continue
        got = [(i, as_text(await read_blob(v.hub, f["sha256"], render.MAX_DIFF))) for i, f in sides]
        if any(t is None for _, t in got):
            skipped.append(path)
            continue
        budget -= size
        for i, t in got:
            texts[i][path] = t
    return texts[0], texts[1], skipped


@page("/circuits/{circuit_id}")
async def circuit_page(v: View):
    cid = resource_id(v, "circuit_id")
    circuit = await v.hub.circuits.view(v.uid, cid)
    version = v.q("version") or None
    if version is not None and not version.lstrip("v").isdigit():
        raise BadRequest("version must be a number")
    listing = await _circuit_files(v, circuit["id"], version)
    files = listing["files"]
    selected = v.q("file")
    readme_html = source_html = None
    by_name = {f["name"]: f for f in files}
    readme = next((f for f in files if f["name"].lower() == "readme.md"), None)
    if readme is not None:
        text = as_text(await read_blob(v.hub, readme["sha256"], render.MAX_MARKDOWN))
        if text is not None:
            readme_html = await asyncio.to_thread(render.markdown, text)
    shown = by_name.get(selected) if selected else None
    if selected and shown is None:
        raise NotFound("file not found in this version")
    if shown is not None:
        text = as_text(await read_blob(v.hub, shown["sha256"], render.MAX_HIGHLIGHT))
        source_html = await asyncio.to_thread(render.highlight, text, shown["name"]) if text is not None else None
    manifest = circuit.get("manifest") or {}
    backends = await v.hub.runs.backend_infos()
    params = manifest.get("parameters") or {}
    execution = manifest.get("execution") or {}
    return v.render(
        "circuit.html", c=circuit, files=files, listing=listing, selected=shown, readme_html=readme_html,
        source_html=source_html, manifest=manifest, educational=manifest.get("educational") or {},
        expected=manifest.get("expected_output") or {}, params=params, backends=backends,
        default_backend=execution.get("default_backend") or "", default_shots=execution.get("default_shots") or 1024,
    )


def _message_svg(text: str) -> bytes:
    from xml.sax.saxutils import escape

    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="40" viewBox="0 0 480 40">'
            f'<text x="8" y="24" font-family="sans-serif" font-size="13" fill="#4b5261">'
            f'{escape(text[:160])}</text></svg>').encode()




@page("/{owner}/{name}")
async def repo_page(v: View):
    """``/owner/name`` (the hosted hub's circuit address, beside ``/owner/name.git``): the
    circuit's page. Paths of the API's own resources go on to the API unchanged."""
    owner, name = v.match["owner"], v.match["name"]
    if owner in _api_segments(v.request.app) or name.endswith(".git"):
        raise FallThrough()
    circuit = await v.hub.circuits.resolve_quiet(v.uid, f"{owner}/{name}")
    return redirect(f"/circuits/{circuit.id}")


@page("/circuits/{circuit_id}/diagram.svg", exclusive=True)
async def circuit_diagram(v: View):
    """The circuit drawn by the sandboxed visualizer, shown through ``<img>`` (an SVG there can't
    run script); when it can't be drawn, a picture saying why (the page still works)."""
    from ..services.diagrams import CircuitDiagrams

    version = v.q("version") or None
    if version is not None and not version.isdigit():
        raise BadRequest("version must be a number")
    state = v.request.app[STATE_KEY]
    diagrams = state.get("diagrams") or state.setdefault("diagrams", CircuitDiagrams(
        v.hub.db, v.hub.circuits, v.hub.blobs, v.hub.spaces.slots, v.hub.settings.spaces, v.hub.require_sandbox))
    try:
        d = await diagrams.diagram(v.uid, v.match["circuit_id"], version)
        body, cache = (d.svg, "max-age=3600") if d.svg is not None else (_message_svg(f"No diagram: {d.error}"), "no-cache")
    except ApiError as exc:
        if exc.status == 404:
            raise
        body, cache = _message_svg(f"No diagram: {exc.detail}"), "no-cache"
    return web.Response(body=body, content_type="image/svg+xml", headers={
        "Cache-Control": ("private, " if v.user else "") + cache,
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"})


@page("/circuits/{circuit_id}/diff", exclusive=True)
async def circuit_diff(v: View):
    cid = v.match["circuit_id"]
    circuit = await v.hub.circuits.get_visible(v.uid, cid)
    numbers = [v.q("a"), v.q("b")]
    if not all(n.isdigit() for n in numbers):
        raise BadRequest("choose two versions (a and b) to compare")
    a = await _circuit_files(v, circuit.id, numbers[0])
    b = await _circuit_files(v, circuit.id, numbers[1])
    old, new, skipped = await _changed_texts(v, a, b)
    lines = await asyncio.to_thread(render.unified_diff, old, new, f"v{numbers[0]}", f"v{numbers[1]}")
    lines += [render.DiffLine("file", f"{path}: changed (binary or too large to show)") for path in skipped]
    detail = await v.hub.circuits.detail(circuit, v.uid)
    return v.render("diff.html", c=detail, a=numbers[0], b=numbers[1], lines=lines)


_SOCIAL = {"circuits": "circuits", "datasets": "datasets", "spaces": "spaces"}


def _social_service(v: View):
    kind = v.match["kind"]
    if kind not in _SOCIAL:
        raise NotFound("nothing to star or fork here")
    return kind, getattr(v.hub, _SOCIAL[kind])


@form("/-/{kind}/{item_id}/star")
async def star_item(v: View):
    """Toggle the caller's star on a circuit, dataset or space."""
    user = v.need_user()
    kind, service = _social_service(v)
    await v.hub.limiter.take("star", user.id, v.hub.limiter.action_limit("star"))
    await service.star(user, v.match["item_id"])
    return redirect(f"/{kind}/{v.match['item_id']}")


@form("/-/{kind}/{item_id}/fork")
async def fork_item(v: View):
    """Copy a circuit, dataset or space into the caller's namespace."""
    user = v.need_user()
    kind, service = _social_service(v)
    await v.hub.limiter.take("fork", user.id, v.hub.limiter.action_limit("fork"))
    name = (v.form.get("name") or "").strip() or None
    fork = await service.fork(user, v.match["item_id"], name)
    return redirect(f"/{kind}/{fork['id']}")


def _run_body(v: View, circuit_id: str, manifest_params: dict[str, Any]) -> dict[str, Any]:
    f = v.form
    backend = (f.get("backend") or "").strip()
    body: dict[str, Any] = {"circuit_id": circuit_id, "shots": f.get("shots") or 1024}
    if backend:
        kind, _, name = backend.partition(":")
        body.update(backend_type=kind, backend_name=name)
    if f.get("seed"):
        body["seed"] = f.get("seed")
    params = {}
    for name, spec in manifest_params.items():
        raw = f.get(f"param_{name}")
        if raw is None or raw == "":
            continue
        kind = (spec or {}).get("type", "float")
        try:
            params[name] = (raw in ("on", "true", "1")) if kind == "bool" else int(raw) if kind == "int" else \
                raw if kind == "string" else float(raw)
        except ValueError:
            raise BadRequest(f"parameter {name}: not a {kind}") from None
    if params:
        body["parameters"] = params
    return body


@form("/-/circuits/{circuit_id}/run")
async def run_circuit(v: View):
    """Without scripts the Run form lands here; with them it goes to ``POST /runs``."""
    from ..schemas.runs import RunCreate

    user = v.need_user()
    circuit = await v.hub.circuits.detail(await v.hub.circuits.get_visible(user.id, v.match["circuit_id"]), user.id)
    body = parse(RunCreate, _run_body(v, circuit["id"], (circuit.get("manifest") or {}).get("parameters") or {}))
    run = await v.hub.runs.submit(user, body)
    return redirect(f"/runs/{run.id}")


# Runs -------------------------------------------------------------------------------------
@page("/runs")
async def my_runs(v: View):
    from ..schemas.runs import RunListQuery

    user = v.need_user()
    q = parse(RunListQuery, query_dict(v.request, RunListQuery))
    result = await v.hub.runs.list_for(q, user_id=user.id)
    stats = await v.hub.runs.stats("user", user.id)
    return v.render("runs.html", runs=result["runs"], total=result["total"], page=result["page"],
                    pages=result["pages"], around=pages_around(result["page"], result["pages"]), stats=stats,
                    run_status=q.status or "", run_statuses=[s.value for s in RunStatus])


async def _run(v: View) -> tuple[Any, dict[str, Any] | None]:
    run = await v.hub.runs.get_visible(v.uid, resource_id(v, "run_id"))
    response = await v.hub.runs.response(run)
    return response, (response.results or {}).get("counts")


@page("/runs/{run_id}")
async def run_page(v: View):
    run, counts = await _run(v)
    expected = None
    try:
        circuit = await v.hub.circuits.detail(await v.hub.circuits.get_visible(v.uid, run.circuit_id), v.uid)
        expected = (circuit.get("manifest") or {}).get("expected_output")
    except ApiError:
        circuit = None
    return v.render("run.html", run=run, counts=counts, bars=render.histogram(counts, (expected or {}).get("dominant_states")),
                    check=render.expected_check(counts, expected), circuit=circuit,
                    done=RunStatus(run.status).is_terminal)


@page("/runs/{run_id}/counts.json", exclusive=True)
async def run_counts_json(v: View):
    run, counts = await _run(v)
    return web.Response(body=json.dumps(counts or {}, indent=1).encode(), content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="run-{run.id}-counts.json"'})


@page("/runs/{run_id}/counts.csv", exclusive=True)
async def run_counts_csv(v: View):
    run, counts = await _run(v)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["bitstring", "count"])
    for k, c in sorted((counts or {}).items()):
        w.writerow([k, c])
    return web.Response(text=buf.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="run-{run.id}-counts.csv"'})


# Datasets ------------------------------------------------------------------------------
PREVIEW_PAGE = 50


@page("/datasets/{dataset_id}")
async def dataset_page(v: View):
    did = resource_id(v, "dataset_id")
    d = await v.hub.datasets.get(v.uid, did)
    version = v.q("version")
    if version and not version.isdigit():
        raise BadRequest("version must be a number")
    number = int(version) if version else None
    page_no = v.q("page", "1")
    if not page_no.isdigit() or not 1 <= int(page_no) <= 1000 // PREVIEW_PAGE:
        raise BadRequest(f"page must be 1..{1000 // PREVIEW_PAGE}")
    page_no_i = int(page_no)
    preview = error = None
    stats = await v.hub.datasets.stats(v.uid, did, number)
    if d.get("versions"):
        try:
            preview = await v.hub.datasets.preview(v.uid, did, min(1000, page_no_i * PREVIEW_PAGE), number)
        except ApiError as exc:
            if exc.status == 404 and "version" in exc.detail:
                raise
            error = exc.detail
    rows = (preview or {}).get("rows", [])[(page_no_i - 1) * PREVIEW_PAGE: page_no_i * PREVIEW_PAGE]
    total = (preview or {}).get("total_rows")
    shown = min(1000, total if total is not None else len((preview or {}).get("rows", [])))
    pages = max(1, math.ceil(shown / PREVIEW_PAGE)) if preview else 0
    return v.render("dataset.html", d=d, preview=preview, rows=rows, error=error, stats=stats, version=number,
                    page=page_no_i, pages=pages, first_row=(page_no_i - 1) * PREVIEW_PAGE)


# Spaces --------------------------------------------------------------------------------
@page("/spaces/{space_id}")
async def space_page(v: View):
    s = await v.hub.spaces.view(v.uid, resource_id(v, "space_id"))
    files = s["files"]
    selected = next((f for f in files if f["path"] == v.q("file")), None) if v.q("file") else (files[0] if files else None)
    if v.q("file") and selected is None:
        raise NotFound("file not found in this space")
    can_edit = False
    if v.user is not None:
        try:
            await v.hub.spaces._writable(v.user.id, s["id"])
            can_edit = True
        except ApiError:
            can_edit = False
    return v.render("space.html", s=s, files=files, selected=selected, can_edit=can_edit, output=None)


@form("/-/spaces/{space_id}/files")
async def space_add_file(v: View):
    from ..services.spaces import one_chunk

    user = v.need_user()
    path = (v.form.get("path") or "").strip()
    content = v.form.get("content") or ""
    if not path:
        raise BadRequest("a file name is required")

    class Incoming:
        filename = path
        chunks = one_chunk(content.encode())
    await v.hub.spaces.add_file(user, v.match["space_id"], Incoming())
    return redirect(f"/spaces/{v.match['space_id']}?file={urllib.parse.quote(path)}")


@form("/-/spaces/files/{file_id}/save")
async def space_save_file(v: View):
    from ..services.spaces import one_chunk

    user = v.need_user()
    f = await v.hub.spaces.update_file(user, v.match["file_id"], None, one_chunk((v.form.get("content") or "").encode()))
    return redirect(f"/spaces/{f['space_id']}?file={urllib.parse.quote(f['path'])}")


@form("/-/spaces/files/{file_id}/delete")
async def space_delete_file(v: View):
    user = v.need_user()
    f, _ = await v.hub.spaces.open_file(user.id, v.match["file_id"])
    await v.hub.spaces.delete_file(user, v.match["file_id"])
    return redirect(f"/spaces/{f.space_id}")


@form("/-/spaces/{space_id}/execute")
async def space_execute(v: View):
    from ..schemas.spaces import ExecuteRequest

    user = v.need_user()
    body = parse(ExecuteRequest, {"file_to_run": v.form.get("file_to_run") or None, "code": v.form.get("code") or None})
    out = await v.hub.spaces.execute(user, v.match["space_id"], body)
    s = await v.hub.spaces.detail(await v.hub.spaces.get_visible(user.id, v.match["space_id"]), user.id)
    selected = next((f for f in s["files"] if f["path"] == body.file_to_run), None)
    return v.render("space.html", s=s, files=s["files"], selected=selected, can_edit=True, output=out)


# Backends ------------------------------------------------------------------------------
def coupling_picture(n: int, edges: list[list[int]], size: int = 260) -> dict[str, Any]:
    r = size / 2 - 24
    nodes = [{"q": i, "x": size / 2 + r * math.cos(2 * math.pi * i / max(n, 1) - math.pi / 2),
              "y": size / 2 + r * math.sin(2 * math.pi * i / max(n, 1) - math.pi / 2)} for i in range(n)]
    pairs = sorted({tuple(sorted(e)) for e in edges if len(e) == 2 and all(0 <= q < n for q in e)})
    return {"size": size, "nodes": nodes, "edges": [(nodes[a], nodes[b]) for a, b in pairs]}


@page("/backends")
async def backends_page(v: View):
    from ..backends.base import BackendError
    from ..backends.calibration import fetch_calibration

    backends = await v.hub.runs.backend_infos()
    chosen = v.q("backend")
    calibration = picture = error = None
    if chosen:
        info = next((b for b in backends if b["id"] == chosen), None)
        if info is None:
            raise NotFound(f"unknown backend {chosen!r}")
        try:
            calibration = await fetch_calibration(chosen)
        except BackendError as exc:
            error = exc.message
        if calibration:
            picture = coupling_picture(calibration.get("num_qubits", 0), calibration.get("coupling_map") or [])
    return v.render("backends.html", backends=backends, chosen=chosen, calibration=calibration, picture=picture,
                    error=error)


# People --------------------------------------------------------------------------------
@page("/login", exclusive=True)
async def login_page(v: View):
    return v.render("login.html", next=safe_next(v.q("next")), error=None, identifier="",
                    open_registration=v.hub.settings.auth.open_registration)


@page("/register", exclusive=True)
async def register_page(v: View):
    return v.render("register.html", error=None, values={}, open_registration=v.hub.settings.auth.open_registration)


@form("/-/login")
async def do_login(v: View):
    ident = (v.form.get("identifier") or "").strip()
    nxt = safe_next(v.form.get("next"))
    await v.hub.limiter.take("requests", f"login:{v.request.remote}", 30)
    try:
        user, _ = await v.hub.accounts.login(ident, v.form.get("password") or "")
    except ApiError as exc:
        return v.render("login.html", status=exc.status, next=nxt, error=exc.detail, identifier=ident,
                        open_registration=v.hub.settings.auth.open_registration)
    v.login(user)
    return redirect(nxt)


@form("/-/register")
async def do_register(v: View):
    from ..schemas.auth import RegisterRequest
    from ..services.accounts import NewUser

    values = {k: (v.form.get(k) or "").strip() for k in ("email", "username", "name")}
    try:
        b = parse(RegisterRequest, {**values, "password": v.form.get("password") or ""})
        user, _ = await v.hub.accounts.register(NewUser(email=b.email, username=b.username, password=b.password,
                                                        name=b.name))
    except ApiError as exc:
        return v.render("register.html", status=exc.status, error=exc.detail, values=values,
                        open_registration=v.hub.settings.auth.open_registration)
    v.login(user)
    return redirect("/")


@form("/-/logout")
async def do_logout(v: View):
    v.logout()
    return redirect("/")


@page("/u/{name}", exclusive=True)
async def profile(v: View):
    from ..db.models import User
    from ..schemas.circuits import CircuitListQuery

    name = v.match["name"].lower()
    user = await User.aget_or_none((User.username == name) & (User.is_active == True))  # noqa: E712
    org = members = role = None
    if user is None:
        org = await v.hub.orgs.by_slug(name)
        if v.user is not None:
            try:
                role = await v.hub.orgs.require_role(org, v.user)
            except ApiError:
                role = None
        if role is not None:
            members = await v.hub.orgs.members(org)
    circuits = await v.hub.circuits.list(v.uid, CircuitListQuery(owner=name, limit=50))
    return v.render("profile.html", profile_user=user, org=org, members=members, role=role,
                    circuits=circuits["circuits"], total=circuits["total"])


@form("/-/orgs")
async def create_org(v: View):
    from ..schemas.orgs import OrganizationCreate

    user = v.need_user()
    body = parse(OrganizationCreate, {k: (v.form.get(k) or "").strip() or None for k in ("name", "slug", "description")})
    org = await v.hub.orgs.create(user, body.name, body.slug, body.description)
    return redirect(f"/u/{org.slug}")


async def _org_member_form(v: View):
    from ..schemas.orgs import MemberAdd, MemberUpdate

    user = v.need_user()
    org = await v.hub.orgs.by_slug(v.match["slug"])
    return user, org, MemberAdd, MemberUpdate


@form("/-/orgs/{slug}/members")
async def add_org_member(v: View):
    user, org, MemberAdd, _ = await _org_member_form(v)
    body = parse(MemberAdd, {"email": (v.form.get("email") or "").strip(), "role": v.form.get("role") or "member"})
    await v.hub.orgs.add_member(org, user, body.email, body.role)
    return redirect(f"/u/{org.slug}")


@form("/-/orgs/{slug}/members/{user_id}/role")
async def change_org_role(v: View):
    user, org, _, MemberUpdate = await _org_member_form(v)
    body = parse(MemberUpdate, {"role": v.form.get("role") or ""})
    await v.hub.orgs.change_role(org, user, v.match["user_id"], body.role)
    return redirect(f"/u/{org.slug}")


@form("/-/orgs/{slug}/members/{user_id}/remove")
async def remove_org_member(v: View):
    user, org, _, _ = await _org_member_form(v)
    await v.hub.orgs.remove_member(org, user, v.match["user_id"])
    return redirect(f"/u/{org.slug}" if v.match["user_id"] != user.id else "/settings")


@page("/settings", exclusive=True)
async def settings_page(v: View):
    user = v.need_user()
    keys = await v.hub.api_keys.list_for_user(user)
    return v.render("settings.html", keys=keys, new_key=None, scopes=SCOPES, error=None,
                    orgs=await v.hub.accounts.memberships(user))




@form("/-/keys")
async def create_key(v: View):
    from ..schemas.api_keys import ApiKeyCreateRequest

    user = v.need_user()
    data: dict[str, Any] = {"name": (v.form.get("name") or "").strip(), "scopes": v.form.getall("scopes", [])}
    if v.form.get("expires_in_days"):
        data["expires_in_days"] = v.form.get("expires_in_days")
    try:
        key, plaintext = await v.hub.api_keys.create(user, parse(ApiKeyCreateRequest, data),
                                                     user_limit=v.hub.limiter.user_limit(user))
    except ApiError as exc:
        return v.render("settings.html", status=exc.status, keys=await v.hub.api_keys.list_for_user(user),
                        new_key=None, scopes=SCOPES, error=exc.detail, orgs=await v.hub.accounts.memberships(user))
    response = v.render("settings.html", keys=await v.hub.api_keys.list_for_user(user),
                        new_key={"name": key.name, "key": plaintext, "scopes": key.scopes}, scopes=SCOPES, error=None,
                        orgs=await v.hub.accounts.memberships(user))
    response.headers["Cache-Control"] = "no-store"  # the key is shown once: never cached
    return response


@form("/-/keys/{key_id}/revoke")
async def revoke_key(v: View):
    user = v.need_user()
    await v.hub.api_keys.revoke(await v.hub.api_keys.get_for_user(user, v.match["key_id"]))
    return redirect("/settings")


# Upload --------------------------------------------------------------------------------
@page("/new", exclusive=True)
async def upload_page(v: View):
    v.need_user()
    return v.render("upload.html", error=None, kind=v.q("type", "circuit"), values={})


@dataclass
class _Incoming:
    filename: str
    data: bytes
    chunks: Any = field(init=False)

    def __post_init__(self):
        from ..services.spaces import one_chunk

        self.chunks = one_chunk(self.data)


#: Circuit and space files from the Upload page are held in memory until the manifest is
#: checked (nothing is stored before): that is bounded. Dataset files are streamed instead.
PAGE_UPLOAD_BYTES = 16 * 1024 * 1024
FIELD_BYTES = 100_000


async def _read_part(part: BodyPartReader, cap: int, what: str) -> bytes:
    buf = bytearray()
    while chunk := await part.read_chunk(65536):
        buf += chunk
        if len(buf) > cap:
            raise PayloadTooLarge(f"{what} is larger than {cap} bytes")
    return bytes(buf)


async def _read_upload(request: web.Request, *, stream: bool) -> tuple[dict[str, str], list[Any]]:
    """The form's fields and files. With ``stream`` it stops at the first file, which is
    returned unread (its chunks come straight from the request); fields after it are not read."""
    from ..api.uploads import IncomingFile, _part_chunks

    fields: dict[str, str] = {}
    files: list[Any] = []
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not supported")
            if part.filename is not None:
                if not part.filename:  # a file input left empty sends a nameless part
                    await part.release()
                    continue
                if stream:
                    files.append(IncomingFile(part.name, part.filename, part.headers.get("Content-Type"),
                                              _part_chunks(part)))
                    break
                if len(files) >= 1000:
                    raise BadRequest("too many files (at most 1000)")
                data = await _read_part(part, PAGE_UPLOAD_BYTES - total,
                                        f"the upload (from this page at most {PAGE_UPLOAD_BYTES // 2**20} MiB; use the API for more)")
                total += len(data)
                files.append(_Incoming(part.filename, data))
            elif part.name:
                fields[part.name] = (await _read_part(part, FIELD_BYTES, f"field {part.name}")).decode("utf-8", "replace")
    except (ValueError, AssertionError, KeyError) as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    return fields, files


@form("/-/new/circuit")
async def new_circuit(v: View):
    from ..schemas.circuits import CircuitCreate
    from ..services.manifest import parse_manifest

    user = v.need_user()
    files = v.files
    manifest_file = next((f for f in files if f.filename.lower() == "qubithub.toml"), None)
    try:
        if manifest_file is None:
            raise BadRequest("add a qubithub.toml manifest (it names the circuit, its framework and entry point)")
        manifest = await asyncio.to_thread(parse_manifest, manifest_file.data, tree_paths={f.filename for f in files})
        project = manifest.project  # (circuit_fields() holds only the keys the manifest sets)
        body = parse(CircuitCreate, {
            "name": project.name, "title": project.title, "framework": project.framework,
            "qubits": project.qubits, "tags": project.tags, "description": project.description,
            "is_public": v.fields.get("visibility", "public") == "public",
        })
    except ApiError as exc:
        return v.render("upload.html", status=exc.status, error=f"qubithub.toml: {exc.detail}" if manifest_file else exc.detail,
                        kind="circuit", values=v.fields)
    circuit = await v.hub.circuits.create(user, body)

    async def gen():
        for f in files:
            yield f
    try:
        await v.hub.circuits.upload(user, circuit["id"], gen(), v.fields.get("message") or "Initial upload", batch=False)
    except ApiError as exc:
        await v.hub.circuits.delete(user, circuit["id"])  # nothing half-made stays behind
        return v.render("upload.html", status=exc.status, error=exc.detail, kind="circuit", values=v.fields)
    return redirect(f"/circuits/{circuit['id']}")


@form("/-/new/dataset", stream=True)
async def new_dataset(v: View):
    from ..schemas.datasets import DatasetCreate

    user = v.need_user()
    files = v.files
    try:
        if len(files) != 1:
            raise BadRequest("a dataset version is exactly one file")
        body = parse(DatasetCreate, {k: v.fields.get(k) for k in ("name", "title", "format") if v.fields.get(k)}
                     | {"is_public": v.fields.get("visibility", "public") == "public"})
    except ApiError as exc:
        return v.render("upload.html", status=exc.status, error=exc.detail, kind="dataset", values=v.fields)
    d = await v.hub.datasets.create(user, body)

    async def gen():
        yield files[0]
    try:
        await v.hub.datasets.add_version(user, d["id"], gen(), v.fields.get("message") or "Initial upload")
    except ApiError as exc:
        await v.hub.datasets.delete(user, d["id"])
        return v.render("upload.html", status=exc.status, error=exc.detail, kind="dataset", values=v.fields)
    return redirect(f"/datasets/{d['id']}")


@form("/-/new/space")
async def new_space(v: View):
    from ..schemas.spaces import SpaceCreate

    user = v.need_user()
    try:
        body = parse(SpaceCreate, {k: v.fields.get(k) for k in ("name", "title", "sdk") if v.fields.get(k)}
                     | {"is_public": v.fields.get("visibility", "public") == "public"})
    except ApiError as exc:
        return v.render("upload.html", status=exc.status, error=exc.detail, kind="space", values=v.fields)
    s = await v.hub.spaces.create(user, body)
    try:
        for f in v.files:
            await v.hub.spaces.add_file(user, s["id"], f)
    except ApiError as exc:
        await v.hub.spaces.delete(user, s["id"])
        return v.render("upload.html", status=exc.status, error=exc.detail, kind="space", values=v.fields)
    return redirect(f"/spaces/{s['id']}")


# Registration ----------------------------------------------------------------------------
def _form_handler(fn, stream: bool):
    async def handler(request: web.Request) -> web.StreamResponse:
        view = View.of(request, dict(request.match_info))
        try:
            origin = request.headers.get("Origin")
            if origin is not None and urllib.parse.urlsplit(origin).netloc != request.host:
                raise Forbidden("cross-site form posts are refused")
            if request.content_type == "multipart/form-data":
                view.fields, view.files = await _read_upload(request, stream=stream)
                view.form = view.fields
                presented = view.fields.get(sess.CSRF_FIELD)
            else:
                view.form = await request.post()
                presented = view.form.get(sess.CSRF_FIELD)
            if not view.session.csrf_ok(web_key(request.app), presented):
                raise Forbidden("the form expired or came from another site (CSRF check failed): reload and retry")
            response = await fn(view)
        except ApiError as exc:
            response = error_page(view, exc.status, exc.detail)
        except web.HTTPException as exc:
            if exc.status < 400:
                if exc.status in (301, 302, 303, 307, 308):
                    response = redirect(exc.headers.get("Location", "/"))
                else:
                    raise
            else:
                response = error_page(view, exc.status, exc.reason)
        view.finish(response)
        return response

    handler.__name__ = fn.__name__
    return handler


#: First path segments only UI pages use, and last segments of UI pages under shared paths.
_EXCLUSIVE_FIRST: set[str] = set()
_EXCLUSIVE_LAST: set[str] = set()


def might_be_exclusive(path: str) -> bool:
    """Cheap pre-check before resolving a non-HTML request against the page routes."""
    parts = path.split("/")
    return len(parts) < 2 or parts[1] in _EXCLUSIVE_FIRST or parts[-1] in _EXCLUSIVE_LAST


def _index_exclusive() -> None:
    shared = {p.split("/")[1] for p, _, exclusive in _PAGES if not exclusive}
    for path, _, exclusive in _PAGES:
        if exclusive:
            parts = path.split("/")
            if parts[1] not in shared:
                _EXCLUSIVE_FIRST.add(parts[1])
            elif "{" not in parts[-1]:
                _EXCLUSIVE_LAST.add(parts[-1])


#: First segments of the app's other routes (read once the app is frozen: every module's
#: routes, added before or after the web UI's, are there).
_API_SEGMENTS: set[str] = set()


def _api_segments(app: web.Application) -> set[str]:
    if not _API_SEGMENTS:
        found = {"api", "static", "hf", "-"}
        for resource in app.router.resources():
            info = resource.get_info()
            path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
            segment = path.split("/")[1] if path.count("/") >= 1 else ""
            if segment and "{" not in segment:
                found.add(segment)
        _API_SEGMENTS.update(found)
    return _API_SEGMENTS


def register(app: web.Application) -> None:
    _index_exclusive()
    pages = web.UrlDispatcher()
    # Plain paths first, then templated ones, and the catch-all /{owner}/{name} last.
    for path, fn, _ in sorted(_PAGES, key=lambda p: ("{" in p[0], p[0].startswith("/{"))):
        pages.add_get(path, fn)
    app[PAGES_KEY] = pages
    for path, fn, stream in _FORMS:
        app.router.add_post(path, _form_handler(fn, stream))

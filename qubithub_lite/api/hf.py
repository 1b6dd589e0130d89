"""The Hugging Face Hub–compatible read surface under ``/hf`` (``HF_ENDPOINT=http://HOST:8000/hf``
for ``huggingface_hub`` and ``datasets``): circuits as models, datasets, spaces.

Raw aiohttp routes (the Hub's URL shapes have multi-segment paths such as
``tree/{rev}/{path…}``), registered after the JSON API and kept out of the OpenAPI document:

- ``GET /hf/api/{models|datasets|spaces}/{owner}/{name}[/revision/{rev}]``: repo info
- ``GET /hf/api/{kind}/{owner}/{name}/tree/{rev}[/{path}]``: ``?recursive``, ``?expand``,
  paginated with ``?cursor`` / ``?limit`` (≤ 1000) and a ``Link: <…>; rel="next"`` header
- ``POST /hf/api/{kind}/{owner}/{name}/paths-info/{rev}``: form ``paths`` (repeated), ``expand``
- ``GET /hf/api/{kind}/{owner}/{name}/commits/{rev}``
- ``GET|HEAD /hf/[datasets/|spaces/]{owner}/{name}/resolve/{rev}/{path}``: the bytes, with
  ``ETag`` (sha256), ``X-Repo-Commit``, ``Range``; a dataset download counts as on
  ``GET /datasets/{id}/download``.

Authentication is the API's (``Authorization: Bearer <token or API key>``, scopes
``circuit:read`` / ``dataset:read`` / ``space:read``). Errors are ``{"detail": …}`` with the
Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from ..errors import BadRequest
from ..services.hf_compat import MAX_PAGE, SCOPES
from .downloads import BlobResponse, content_type_for
from .datasets import DownloadResponse, _tracker
from .routing import HUB_KEY, PRINCIPAL_KEY, Ctx

PREFIX = "/hf"
KIND = "{kind:models|datasets|spaces}"
REPO = "/{owner:[^/]+}/{name:[^/]+}"
TRUE = ("1", "true", "True", "yes")


def _caller(request: web.Request, kind: str):
    """Who asks (a Principal: an organization key stays in its organization), or None."""
    principal = request.get(PRINCIPAL_KEY)
    if principal is None:
        return None
    principal.require_scope(SCOPES[kind])
    return principal


def _args(request: web.Request, kind: str | None = None):
    m = request.match_info
    kind = kind or m["kind"]
    return kind, _caller(request, kind), m["owner"], m["name"]


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value not in TRUE and value not in ("0", "false", "False", "no", ""):
        raise BadRequest(f"query.{name}: must be true or false")
    return value in TRUE


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise BadRequest(f"query.{name}: must be an integer from {low} to {high}")
    return int(raw)


async def repo_info(request: web.Request) -> web.Response:
    hf = request.app[HUB_KEY].hf
    rev = request.match_info.get("rev", "main")  # match_info is percent-decoded
    return web.json_response(await hf.info(*_args(request), rev))


async def tree(request: web.Request) -> web.Response:
    hf = request.app[HUB_KEY].hf
    m = request.match_info
    rev, path = m["rev"], m.get("path", "")
    offset = _int(request, "cursor", 0, 0, 10**9)
    limit = _int(request, "limit", MAX_PAGE, 1, MAX_PAGE)
    recursive, expand = _flag(request, "recursive"), _flag(request, "expand")
    entries, more = await hf.tree(*_args(request), rev, path, recursive=recursive, offset=offset, limit=limit,
                                  expand=expand)
    headers = {}
    if more:
        query = {k: v for k, v in request.query.items() if k != "cursor"}
        query["cursor"] = str(offset + limit)
        headers["Link"] = f'<{request.url.with_query(None)}?{urlencode(query)}>; rel="next"'
    return web.json_response(entries, headers=headers)


async def paths_info(request: web.Request) -> web.Response:
    hf = request.app[HUB_KEY].hf
    form = await request.post()
    paths = [str(p) for p in form.getall("paths", [])] + [str(p) for p in form.getall("paths[]", [])]
    expand = str(form.get("expand", "false")) in TRUE
    entries = await hf.paths_info(*_args(request), request.match_info["rev"], paths, expand=expand)
    return web.json_response(entries)


async def commits(request: web.Request) -> web.Response:
    hf = request.app[HUB_KEY].hf
    return web.json_response(await hf.commits(*_args(request), request.match_info["rev"]))


async def resolve(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    kind = request.match_info.get("kind", "models")
    m = request.match_info
    resource, revision, f = await hub.hf.resolve(*_args(request, kind), m["rev"], m["path"])
    options = dict(etag=f.sha256, content_type=content_type_for(f.path), filename=f.path.rsplit("/", 1)[-1],
                   inline=False, cache_control="public, no-cache" if resource.is_public else "private, no-cache")
    path = hub.blobs.path_for(f.sha256)
    if kind == "datasets":
        principal = request.get(PRINCIPAL_KEY)
        ctx = Ctx(request, hub, principal)
        caller = f"user:{principal.user_id}" if principal else f"ip:{request.remote or 'unknown'}"
        response = await DownloadResponse.open(
            path, **options, on_complete=lambda: hub.datasets.record_download(resource.id, revision.version_id),
            tracker=_tracker(ctx), caller=(caller, revision.version_id))
    else:
        response = await BlobResponse.open(path, **options)
    response.headers["X-Repo-Commit"] = revision.sha
    response.headers["X-Linked-Size"] = str(f.size)
    return response


def setup(app: web.Application) -> None:
    """Register the ``/hf`` routes (after the JSON API)."""
    api = f"{PREFIX}/api/{KIND}{REPO}"
    app.router.add_get(api, repo_info)
    app.router.add_get(api + "/revision/{rev}", repo_info)
    app.router.add_get(api + "/tree/{rev}", tree)
    app.router.add_get(api + "/tree/{rev}/{path:.*}", tree)
    app.router.add_post(api + "/paths-info/{rev}", paths_info)
    app.router.add_get(api + "/commits/{rev}", commits)
    app.router.add_get(f"{PREFIX}/{{kind:datasets|spaces}}{REPO}/resolve/{{rev}}/{{path:.+}}", resolve)
    app.router.add_get(f"{PREFIX}{REPO}/resolve/{{rev}}/{{path:.+}}", resolve)

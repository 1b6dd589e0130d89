"""/spaces (API reference "Spaces", platform-notes §8). Thin handlers:
parse → ``ctx.hub.spaces`` → serialise.

Space files can be sent two ways (both streamed into the blob store, same
name sanitising and size limit as circuit uploads):

- JSON ``{"path": "lib/util.py", "content": "...", "encoding": "utf-8" | "base64"}``
  (``filename`` is accepted as an alias of ``path``; the JSON body is bounded by
  ``[server] max_body_bytes``);
- multipart/form-data with one file part named ``file`` (its file name, which may
  contain ``/``, is the path; for large or binary files). One file per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterable

from ..errors import ApiError, BadRequest
from ..schemas.spaces import (
    ExecuteRequest, ExecuteResponse, SpaceCreate, SpaceDetail, SpaceFileCreate, SpaceFileOut, SpaceFileUpdate,
    SpaceForkRequest, SpaceList, SpaceListQuery, SpaceUpdate, StarResponse, VisualizeRequest, VisualizeResponse,
)
from ..services.spaces import one_chunk
from .downloads import BlobResponse, content_type_for
from .uploads import drain_body, iter_multipart_files
from .resources import Resource
from .routing import Ctx, Router

router = Router("spaces")
READ, WRITE = "space:read", "space:write"
FILE_FORM = {"file": "The file (its name, which may contain '/', is the path). Or send JSON {path, content, encoding}."}


def _uid(ctx: Ctx):
    """The caller for the service's permission checks (anonymous included)."""
    return ctx.actor


@dataclass
class _JsonFile:
    filename: str
    chunks: AsyncIterable[bytes]


def _json_file(name: str, body: SpaceFileCreate | SpaceFileUpdate) -> _JsonFile | None:
    try:
        data = body.data()
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return None if data is None else _JsonFile(name, one_chunk(data))


async def _with_multipart_file(ctx: Ctx, action):
    """Run ``action(incoming)`` on the single ``file`` part of a multipart body."""
    files = iter_multipart_files(ctx.request, ["file"])
    try:
        incoming = await anext(files, None)
        if incoming is None:
            raise BadRequest("no file in the multipart field 'file'")
        return await action(incoming)
    except ApiError:
        await drain_body(ctx.request)
        raise
    finally:
        await files.aclose()


SPACES = Resource(router, "spaces", "space", READ, WRITE)
SPACES.collection(query=SpaceListQuery, listing=SpaceList, create=SpaceCreate, detail=SpaceDetail,
                  list_doc="Spaces the caller may see, filtered (sdk, space_type, owner, q), sorted and paginated.",
                  create_doc="Create a space (sdk default qiskit, space_type default notebook, public by default).")
SPACES.item(update=SpaceUpdate, detail=SpaceDetail,
            get_doc="The space with all its files (UTF-8 contents inline up to [spaces] inline_content_bytes).",
            update_doc="Partial update (owner or organization member).",
            delete_doc="Delete a space and (once unreferenced) its stored files.")
SPACES.star_and_fork(star=StarResponse, star_doc="Toggle your star (30/minute).", star_errors=(404,), fork=SpaceForkRequest,
                     detail=SpaceDetail, fork_errors=(400, 403, 404, 409),
                     fork_doc="Copy the space and its files into your personal namespace (5/minute).")


@router.post("/spaces/{space_id}/files", body=SpaceFileCreate, response=SpaceFileOut, status=201, auth="user",
             scope=WRITE, multipart=FILE_FORM, errors=(400, 403, 404, 409, 413))
async def add_space_file(ctx: Ctx):
    """Create a file: JSON {path|filename, content, encoding?} or multipart field `file`."""
    space_id = ctx.path["space_id"]
    if ctx.body is None:
        return await _with_multipart_file(ctx, lambda f: ctx.hub.spaces.add_file(ctx.actor, space_id, f))
    body: SpaceFileCreate = ctx.body
    return await ctx.hub.spaces.add_file(ctx.actor, space_id, _json_file(body.name, body))


@router.put("/spaces/files/{file_id}", body=SpaceFileUpdate, response=SpaceFileOut, auth="user", scope=WRITE,
            multipart=FILE_FORM, errors=(400, 403, 404, 409, 413))
async def update_space_file(ctx: Ctx):
    """Replace a file's content and/or rename it: JSON {content?, encoding?, path?} or multipart field `file`."""
    file_id = ctx.path["file_id"]
    if ctx.body is None:
        return await _with_multipart_file(ctx, lambda f: ctx.hub.spaces.update_file(ctx.actor, file_id, None, f))
    body: SpaceFileUpdate = ctx.body
    return await ctx.hub.spaces.update_file(ctx.actor, file_id, body.name, _json_file(body.name or "", body))


@router.delete("/spaces/files/{file_id}", status=204, auth="user", scope=WRITE, errors=(403, 404))
async def delete_space_file(ctx: Ctx):
    """Delete a file."""
    await ctx.hub.spaces.delete_file(ctx.actor, ctx.path["file_id"])


@router.get("/spaces/files/{file_id}", scope=READ, raw_response="*/*", errors=(404, 416))
async def download_space_file(ctx: Ctx):
    """Raw bytes of one file (ETag, Range, HEAD)."""
    row, path = await ctx.hub.spaces.open_file(_uid(ctx), ctx.path["file_id"])
    return await BlobResponse.open(path, etag=row.sha256, content_type=content_type_for(row.path),
                                   filename=row.path.rsplit("/", 1)[-1], cache_control="private, no-cache")


@router.post("/spaces/{space_id}/execute", body=ExecuteRequest, response=ExecuteResponse, auth="user", scope=WRITE,
             errors=(400, 403, 404, 413, 429, 503))
async def execute_space(ctx: Ctx):
    """Run `code` or `file_to_run` in the sandbox with the space's files (timeout 1-300 s, default 30)."""
    return await ctx.hub.spaces.execute(ctx.actor, ctx.path["space_id"], ctx.body)


@router.post("/spaces/{space_id}/visualize", body=VisualizeRequest, response=VisualizeResponse, auth="user",
             scope=WRITE, errors=(400, 403, 404, 413, 429, 503))
async def visualize_space(ctx: Ctx):
    """Draw the circuit the code builds as SVG (base64), with the framework's own drawer, in the sandbox."""
    return await ctx.hub.spaces.visualize(ctx.actor, ctx.path["space_id"], ctx.body)


@router.get("/orgs/{slug}/spaces", query=SpaceListQuery, response=SpaceList, scope=READ, errors=(400, 404))
async def org_spaces(ctx: Ctx):
    """The organization's spaces: public ones, all of them for members."""
    org = await ctx.hub.orgs.by_slug(ctx.path["slug"])
    return await ctx.hub.spaces.list(_uid(ctx), ctx.query, organization=org)

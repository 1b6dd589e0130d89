"""GET /files/{file_path}: a stored circuit file (ETag, Range, HEAD)."""

from __future__ import annotations

from .downloads import BlobResponse, content_type_for
from .routing import Ctx, Router

router = Router("files")


@router.get("/files/{file_path:.*}", scope="circuit:read", raw_response="*/*", errors=(404, 416))
async def download_file(ctx: Ctx):
    """Raw bytes of `circuits/<circuit id>/v<N>/<path>` (as listed by `/circuits/{id}/files`)."""
    stored = await ctx.hub.circuits.open_file(ctx.actor, ctx.path["file_path"])
    return await BlobResponse.open(
        ctx.hub.blobs.path_for(stored.sha256), etag=stored.sha256, content_type=content_type_for(stored.name),
        filename=stored.name, cache_control="public, no-cache" if stored.is_public else "private, no-cache",
    )

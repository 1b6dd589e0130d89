"""/datasets (API reference "Datasets") and ``GET /orgs/{slug}/datasets``.
Thin handlers: parse → ``ctx.hub.datasets`` → serialise.

Download counting ("each completed download counts once"): a ``GET`` counts
when the response that carries **byte 0** of the file (a ``200``, or a ``206``
whose range starts at 0) has been sent completely. ``HEAD``, ``304``/``412``/
``416`` and range continuations (a range starting after byte 0) never count,
so a client that downloads in pieces or resumes counts once. One exception
keeps an interrupted-then-resumed download from being lost: when a byte-0
response is cut off, the same caller (user, else IP) finishing the file with a
range continuation within an hour counts instead.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections import OrderedDict
from typing import Awaitable, Callable

from aiohttp import hdrs

from ..errors import ApiError
from ..logs import fields
from ..schemas.datasets import (
    DatasetCreate, DatasetDetail, DatasetForkRequest, DatasetList, DatasetListQuery, DatasetPreview,
    DatasetStarResponse, DatasetStats, DatasetUpdate, DatasetVersionOut, OrgDatasetsQuery, PreviewQuery,
    VersionQuery, VersionUploadQuery,
)
from .downloads import BlobResponse
from .uploads import drain_body, iter_multipart_files
from .resources import Resource
from .routing import Ctx, Router

log = logging.getLogger(__name__)

router = Router("datasets")
READ, WRITE = "dataset:read", "dataset:write"


def _uid(ctx: Ctx):
    """The caller for the service's permission checks (anonymous included)."""
    return ctx.actor


# Download accounting ---------------------------------------------------------------------
class ResumeTracker:
    """Byte-0 downloads that were cut off, per (caller, version), for an hour (bounded LRU)."""

    def __init__(self, ttl: float = 3600.0, max_entries: int = 10_000, clock=time.monotonic):
        self.ttl, self.max_entries, self._clock = ttl, max_entries, clock
        self._cut: OrderedDict[tuple[str, str], float] = OrderedDict()

    def interrupted(self, key: tuple[str, str]) -> None:
        self._cut[key] = self._clock()
        self._cut.move_to_end(key)
        while len(self._cut) > self.max_entries:
            self._cut.popitem(last=False)

    def take(self, key: tuple[str, str]) -> bool:
        stamp = self._cut.pop(key, None)
        return stamp is not None and self._clock() - stamp <= self.ttl


_TRACKERS: "weakref.WeakKeyDictionary[object, ResumeTracker]" = weakref.WeakKeyDictionary()


def _tracker(ctx: Ctx) -> ResumeTracker:
    """One tracker per running hub (per app)."""
    tracker = _TRACKERS.get(ctx.hub)
    if tracker is None:
        tracker = _TRACKERS[ctx.hub] = ResumeTracker()
    return tracker


class DownloadResponse(BlobResponse):
    """A :class:`BlobResponse` that reports whether the bytes it sent complete a download."""

    def __init__(self, path, *, on_complete: Callable[[], Awaitable[None]], tracker: ResumeTracker,
                 caller: tuple[str, str], **options):
        super().__init__(path, **options)
        self._on_complete = on_complete
        self._tracker = tracker
        self._caller = caller

    def _span(self, size: int) -> tuple[int, int] | None:
        """(first, last) byte index of the body being sent, or None when no body is sent."""
        if self.status == 200:
            return (0, size - 1) if size > 0 else None
        if self.status == 206:
            value = self.headers.get(hdrs.CONTENT_RANGE, "")
            try:
                first, last = value.removeprefix("bytes ").split("/", 1)[0].split("-")
                return int(first), int(last)
            except ValueError:
                return None
        return None

    async def _send(self, request, fobj, st: os.stat_result):
        try:
            writer = await super()._send(request, fobj, st)
        except BaseException:
            span = self._span(st.st_size) if request.method == hdrs.METH_GET else None
            if span is not None and span[0] == 0:
                self._tracker.interrupted(self._caller)
            raise
        span = self._span(st.st_size) if request.method == hdrs.METH_GET else None
        if span is not None:
            first, last = span
            counts = first == 0 or (last == st.st_size - 1 and self._tracker.take(self._caller))
            if first == 0:
                self._tracker.take(self._caller)
            if counts:
                try:
                    await self._on_complete()
                except Exception:  # the file was served; a lost count must not break the connection
                    log.exception("dataset.download_count_failed", extra=fields(path=request.path))
        return writer


# Routes ------------------------------------------------------------------------------------
DATASETS = Resource(router, "datasets", "dataset", READ, WRITE)
DATASETS.collection(query=DatasetListQuery, listing=DatasetList, create=DatasetCreate, detail=DatasetDetail,
                    list_doc="Datasets the caller may see, filtered (format, tags, task_categories, q), sorted and "
                             "paginated.",
                    create_doc="Create dataset metadata (files are uploaded as versions).")
DATASETS.item(update=DatasetUpdate, detail=DatasetDetail, view="get", get_doc="Full details with every version.",
              update_doc="Partial update (owner or organization member); `format` only while there are no versions.",
              delete_doc="Delete a dataset, its versions and (once unreferenced) its stored files.")
DATASETS.star_and_fork(star=DatasetStarResponse, star_doc="Toggle the caller's star (30/minute).", star_errors=(404, 429), fork=DatasetForkRequest,
                       detail=DatasetDetail, fork_errors=(403, 404, 409, 429),
                       fork_doc="Copy the dataset (all versions, files by reference) into the caller's namespace (5/minute).")


@router.post("/datasets/{dataset_id}/versions", query=VersionUploadQuery, response=DatasetVersionOut, status=201,
             auth="user", scope=WRITE, multipart={"file": "The dataset file (its content must match the dataset's format)"},
             errors=(400, 403, 404, 409, 413))
async def upload_version(ctx: Ctx):
    """Upload the next version's file (streamed; checked against the dataset's format; rows counted)."""
    files = iter_multipart_files(ctx.request, ["file"])
    try:
        return await ctx.hub.datasets.add_version(ctx.actor, ctx.path["dataset_id"], files, ctx.query.commit_message)
    except ApiError:
        await drain_body(ctx.request)
        raise
    finally:
        await files.aclose()


@router.get("/datasets/{dataset_id}/preview", query=PreviewQuery, response=DatasetPreview, scope=READ,
            errors=(400, 404, 422))
async def preview_dataset(ctx: Ctx):
    """The first `rows` rows (1-1000, default 100) of the latest version (or `?version=N`), with the schema."""
    q: PreviewQuery = ctx.query
    body = await ctx.hub.datasets.preview(_uid(ctx), ctx.path["dataset_id"], q.rows, q.version)
    return DatasetPreview.model_construct(**body)


@router.get("/datasets/{dataset_id}/stats", query=VersionQuery, response=DatasetStats, scope=READ, errors=(400, 404))
async def dataset_stats(ctx: Ctx):
    """Downloads, stars, forks and size; with `?version=N`, that version's figures."""
    return await ctx.hub.datasets.stats(_uid(ctx), ctx.path["dataset_id"], ctx.query.version)


@router.get("/datasets/{dataset_id}/download", query=VersionQuery, scope=READ, errors=(400, 404, 416),
            raw_response="*/*")
async def download_dataset(ctx: Ctx):
    """The latest (or `?version=N`) file: streamed, strong ETag, Range; a completed download counts once."""
    service = ctx.hub.datasets
    d = await service.open_download(_uid(ctx), ctx.path["dataset_id"], ctx.query.version)
    caller = f"user:{ctx.user.id}" if ctx.principal else f"ip:{ctx.client_ip}"
    return await DownloadResponse.open(
        d.path, etag=d.sha256, content_type=d.content_type, filename=d.filename, inline=False,
        cache_control="public, no-cache" if d.is_public else "private, no-cache",
        on_complete=lambda: service.record_download(d.dataset_id, d.version_id),
        tracker=_tracker(ctx), caller=(caller, d.version_id),
    )


@router.get("/orgs/{slug}/datasets", query=OrgDatasetsQuery, response=DatasetList, scope=READ, errors=(400, 404))
async def org_datasets(ctx: Ctx):
    """The organization's datasets: public ones, all of them for members."""
    return await ctx.hub.datasets.list_for_org(ctx.path["slug"], ctx.query, _uid(ctx))

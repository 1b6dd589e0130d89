"""Datasets: metadata, visibility, versioned files, previews, stats, downloads.

Reuses the circuits building blocks rather than re-implementing them:
the content-addressed :class:`~qubithub_lite.storage.BlobStore` (stage → check
→ add_refs/commit inside one transaction), per-owner quotas
(:class:`~qubithub_lite.storage.StorageAccounts`), the visibility rules of
:mod:`.access` (private → 404 to strangers) and the generic stars/counters of
:mod:`.social`.

A version is one file (one reference on its blob). Before a version is
created the staged file is checked in a worker thread: :func:`formats.sniff`
(is it really a ``<format>`` file, by content) and :func:`formats.count_rows`
(from metadata for npy/hdf5/parquet; one bounded-memory pass for csv/json that
also validates the whole file). The count is stored with the version, so a
preview never rescans a file: it reads only the rows it shows.

``storage_bytes`` of a dataset is the size of its distinct blobs; it is
charged to the owner (the organization for organization datasets) when a
version adds a blob the dataset did not hold yet, and credited back on delete.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterable

from peewee import IntegrityError

from ..config import DatasetsConfig, StorageConfig
from ..db.core import Db
from ..db.datasets import STAR_TARGET, Dataset, DatasetLabel, DatasetVersion
from ..db.fields import new_id, utcnow
from ..db.models import Organization, User
from ..errors import ApiError, BadRequest, Conflict, NotFound, ServiceUnavailable
from ..logs import fields
from ..schemas.datasets import SORT_FIELDS, DatasetCreate, DatasetListQuery, DatasetUpdate, OrgDatasetsQuery
from ..storage import BlobStore, StagedBlob, StorageAccounts, UnsafePath, owner_key, safe_relative_path
from ..db import resources as queries
from . import access, permissions, social
from .resources import IncomingFileLike, ResourceService, sort_order

log = logging.getLogger(__name__)

UUID_RE = access.UUID_RE
EXTENSIONS = {"csv": "csv", "npy": "npy", "hdf5": "h5", "json": "json", "parquet": "parquet"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "npy": "application/octet-stream",
    "hdf5": "application/x-hdf5",
    "parquet": "application/vnd.apache.parquet",
}


class Unprocessable(ApiError):
    status = 422
    default_detail = "the stored file cannot be previewed"


@dataclass(frozen=True)
class Download:
    """What the HTTP layer needs to serve one version's file."""

    dataset_id: str
    version_id: str
    version_number: int
    path: Path
    sha256: str
    size: int
    filename: str
    content_type: str
    is_public: bool


def commit_hash(blob_sha: str, parent: str | None, file_name: str, message: str | None) -> str:
    return hashlib.sha256(
        f"blob {blob_sha}\nname {file_name}\nparent {parent or ''}\nmessage {message or ''}".encode()
    ).hexdigest()


def storage_path(dataset_id: str, version_number: int, file_name: str) -> str:
    return f"datasets/{dataset_id}/v{version_number}/{file_name}"


def _file_name(raw: str | None, dataset: Dataset) -> str:
    """The uploaded base name if it is safe, else ``<dataset name>.<ext>``."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        return safe_relative_path(base)
    except UnsafePath:
        return f"{dataset.name}.{EXTENSIONS[dataset.format]}"


METADATA_COUNT_FORMATS = frozenset({"npy", "hdf5", "parquet"})  # = formats.METADATA_COUNT_FORMATS


def _formats():
    """The formats package, imported on first use: it needs the optional ``[data]`` extra
    (numpy, pyarrow, h5py), and the server must start without it."""
    try:
        from .. import formats
    except ImportError as exc:
        raise ServiceUnavailable(
            f"dataset files need the optional data libraries ({exc.name} is missing): "
            "pip install 'qubithub-lite[data]'"
        ) from None
    return formats


def _check_file(path: Path, fmt: str) -> int:
    """Worker thread: raise FormatError unless ``path`` is a ``fmt`` file; return its row count."""
    formats = _formats()
    formats.sniff(path, fmt)
    return formats.count_rows(path, fmt)


class Datasets(ResourceService):
    """Datasets: metadata, immutable versions (one file each, checked and counted by its format),
    previews, stats and counted downloads."""

    model = Dataset
    noun = "dataset"
    star_target = STAR_TARGET
    file_model = DatasetVersion

    def __init__(self, db: Db, blobs: BlobStore, accounts: StorageAccounts, storage: StorageConfig,
                 config: DatasetsConfig):
        super().__init__(db, blobs, accounts)
        self.max_file_bytes = config.max_file_bytes or storage.max_file_bytes
        self._preview_slots = asyncio.Semaphore(config.preview_concurrency)
        self._scan_slots = asyncio.Semaphore(config.scan_concurrency)
        self._count_locks: dict[str, asyncio.Lock] = {}

    # Loading -------------------------------------------------------------------------
    async def _versions(self, dataset_id: str) -> list[DatasetVersion]:
        return await self.db.list(
            DatasetVersion.select().where(DatasetVersion.dataset == dataset_id).order_by(DatasetVersion.version_number)
        )

    async def _version(self, dataset: Dataset, number: int | None) -> DatasetVersion:
        """The given version, else the latest; 404 with a clear reason."""
        query = DatasetVersion.select().where(DatasetVersion.dataset == dataset.id)
        if number is None:
            v = await self.db.first(query.order_by(DatasetVersion.version_number.desc()))
            if v is None:
                raise NotFound("this dataset has no versions yet; upload a file with POST /datasets/{id}/versions")
            return v
        v = await self.db.first(query.where(DatasetVersion.version_number == number))
        if v is None:
            raise NotFound(f"version {number} of this dataset not found")
        return v

    # Serialising ----------------------------------------------------------------------
    def card(self, d: Dataset, starred: bool | None) -> dict[str, Any]:
        return {
            **self.base_card(d, starred), "format": d.format, "tags": d.tags or [],
            "task_categories": d.task_categories or [], "license": d.license,
            "downloads_count": d.downloads_count, "size_bytes": d.size_bytes,
        }

    @staticmethod
    def version_dict(v: DatasetVersion, dataset_id: str) -> dict[str, Any]:
        return {
            "id": v.id, "dataset_id": dataset_id, "version_number": v.version_number, "commit_hash": v.commit_hash,
            "parent_hash": v.parent_hash, "file_name": v.file_name,
            "file_path": storage_path(dataset_id, v.version_number, v.file_name), "file_size": v.file_size,
            "sha256": v.sha256, "total_rows": v.total_rows, "downloads_count": v.downloads_count,
            "commit_message": v.commit_message, "created_at": v.created_at,
        }

    async def detail(self, d: Dataset, user_id: str | None) -> dict[str, Any]:
        starred = await social.is_starred(self.db, STAR_TARGET, d.id, user_id)
        versions = await self._versions(d.id)
        out = self.card(d, starred)
        out.update(
            citation=d.citation, storage_bytes=d.storage_bytes,
            versions=[self.version_dict(v, d.id) for v in versions],
            latest_version=self.version_dict(versions[-1], d.id) if versions else None,
        )
        return out

    async def get(self, who: Any, dataset_id: str) -> dict[str, Any]:
        return await self.detail(await self.get_visible(who, dataset_id), permissions.user_id_of(who))

    # Listing --------------------------------------------------------------------------
    async def list(self, who: Any, q: DatasetListQuery) -> dict[str, Any]:
        """Datasets the caller may see. Repeated ``tags``/``task_categories`` must all match."""
        user_id = permissions.user_id_of(who)
        where = await self._visible_where(who)
        if q.format:
            where &= Dataset.format == q.format
        for kind, values in (("tag", q.tags), ("task", q.task_categories)):
            for value in values:
                where &= Dataset.id.in_(
                    DatasetLabel.select(DatasetLabel.dataset).where((DatasetLabel.kind == kind) & (DatasetLabel.value == value))
                )
        joined = False
        if q.owner:
            where &= queries.owner_is(q.owner)
            joined = True
        if q.q and q.q.strip():
            where &= self._text_filter(q.q)
        return await self._page(where, q, user_id, joined=joined)

    async def list_for_org(self, slug: str, q: OrgDatasetsQuery, who: Any) -> dict[str, Any]:
        """``GET /orgs/{slug}/datasets``: the organization's datasets (members: all; others: public)."""
        from .orgs import visible_resources_of

        org = await Organization.aget_or_none(Organization.slug == slug)
        if org is None:
            raise NotFound("organization not found")
        where = await visible_resources_of(self.db, org, Dataset, who)
        return await self._page(where, q, permissions.user_id_of(who))

    async def _page(self, where, q, user_id: str | None, *, joined: bool = False) -> dict[str, Any]:
        order = sort_order(Dataset, q.sort, q.order, SORT_FIELDS)
        count_query = self._query(Dataset.id) if joined else Dataset.select(Dataset.id)
        card_columns = [getattr(Dataset, n) for n in Dataset._meta.sorted_field_names if n != "citation"]
        return await self._page_of(self._query(*card_columns), count_query, where, order, q, user_id, "datasets")

    def _text_filter(self, text: str):
        return queries.text_filter(self.db, Dataset, text)

    # Create / update / delete ------------------------------------------------------------
    async def create(self, user: User, body: DatasetCreate) -> dict[str, Any]:
        async with self._creating(user, body) as columns:
            dataset = await Dataset.acreate(**columns, format=body.format, tags=body.tags,
                                            task_categories=body.task_categories, license=body.license,
                                            citation=body.citation)
            await self._set_labels(dataset.id, body.tags, body.task_categories, replace=False)
        return await self.detail(await self._load(dataset.id), user.id)

    async def _set_labels(self, dataset_id: str, tags: list[str] | None, tasks: list[str] | None,
                          *, replace: bool = True) -> None:
        for kind, values in (("tag", tags), ("task", tasks)):
            if values is None:
                continue
            if replace:
                await self.db.execute(
                    DatasetLabel.delete().where((DatasetLabel.dataset == dataset_id) & (DatasetLabel.kind == kind)))
            if values:
                await self.db.execute(DatasetLabel.insert_many(
                    [{"dataset": dataset_id, "kind": kind, "value": v} for v in values]))

    async def update(self, user: User, dataset_id: str, body: DatasetUpdate) -> dict[str, Any]:
        dataset = await self._writable(user, dataset_id)
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if changes:
            async with self.db.tx():
                if "format" in changes and changes["format"] != dataset.format and await self.db.exists(
                        DatasetVersion.select().where(DatasetVersion.dataset == dataset.id)):
                    raise BadRequest("the format cannot change once the dataset has versions (its files are "
                                     f"{dataset.format}); create a new dataset instead")
                changes["updated_at"] = utcnow()
                await self.db.execute(Dataset.update(**changes).where(Dataset.id == dataset.id))
                await self._set_labels(dataset.id, changes.get("tags"), changes.get("task_categories"))
        return await self.detail(await self._load(dataset.id), user.id)

    # Stars and forks ---------------------------------------------------------------------
    async def fork(self, user: User, dataset_id: str, name: str | None) -> dict[str, Any]:
        """Copy metadata and every version into the caller's namespace; files by blob reference."""
        src, name, taken = await self._fork_source(user, dataset_id, name)
        async with self._forking(user, src, taken) as (fork_id, now):
            src_now = await Dataset.aget_or_none(Dataset.id == src.id)
            if src_now is None:
                raise NotFound("dataset not found")
            versions = await self._versions(src.id)
            await self.accounts.charge(owner_key(user.id), src_now.storage_bytes)
            await Dataset.acreate(
                id=fork_id, name=name, namespace_id=user.id, owner=user.id, organization=None,
                title=src_now.title, description=src_now.description, format=src_now.format, tags=src_now.tags,
                task_categories=src_now.task_categories, license=src_now.license, citation=src_now.citation,
                is_public=src_now.is_public, forked_from=src.id,
                forked_from_version=versions[-1].id if versions else None,
                storage_bytes=src_now.storage_bytes, latest_version_number=src_now.latest_version_number,
                size_bytes=src_now.size_bytes, created_at=now, updated_at=now,
            )
            await self._set_labels(fork_id, src_now.tags or [], src_now.task_categories or [], replace=False)
            rows = [{
                "id": new_id(), "dataset": fork_id, "version_number": v.version_number,
                "commit_hash": v.commit_hash, "parent_hash": v.parent_hash, "commit_message": v.commit_message,
                "file_name": v.file_name, "sha256": v.sha256, "file_size": v.file_size,
                "total_rows": v.total_rows, "downloads_count": 0, "created_by": v.created_by_id,
                "created_at": v.created_at,
            } for v in versions]
            await self._copy_file_rows(DatasetVersion, rows, (v.sha256 for v in versions))
        return await self.detail(await self._load(fork_id), user.id)

    # Versions ------------------------------------------------------------------------
    async def add_version(self, user: User, dataset_id: str, files: AsyncIterable[IncomingFileLike],
                          message: str | None) -> dict[str, Any]:
        """Stream the single ``file`` part to the blob store, check it really is of the
        dataset's format, count its rows, then create the next version (all or nothing)."""
        dataset = await self._writable(user, dataset_id)
        key = owner_key(dataset.owner_id, dataset.organization_id)
        remaining = await self.accounts.remaining(key)
        blob: StagedBlob | None = None
        file_name = ""
        try:
            async for incoming in files:
                if blob is not None:
                    raise BadRequest("send exactly one file in the multipart field 'file'")
                file_name = _file_name(incoming.filename, dataset)
                blob = await self.blobs.stage(
                    incoming.chunks, max_bytes=self.max_file_bytes, what=f"dataset file '{file_name}'",
                    budget=remaining, over_budget=self.accounts.exceeded(),
                )
            if blob is None:
                raise BadRequest("no file in the multipart field 'file'")
            if blob.size == 0:
                raise BadRequest(f"the file is empty; a {dataset.format} file is expected")
            total_rows = await self._known_rows(blob.sha256, dataset.format)
            if total_rows is None:
                total_rows = await self._scan(blob.temp_path, dataset.format)
            return await self._commit_version(user, dataset, key, blob, file_name, total_rows, message)
        finally:
            if blob is not None:
                blob.discard()

    async def _known_rows(self, sha256: str, fmt: str) -> int | None:
        """Identical bytes already stored and checked as ``fmt``: reuse that count (no rescan)."""
        row = await self.db.first(
            DatasetVersion.select(DatasetVersion.total_rows).join(Dataset)
            .where((DatasetVersion.sha256 == sha256) & (Dataset.format == fmt) & DatasetVersion.total_rows.is_null(False))
        )
        return int(row.total_rows) if row else None

    async def _scan(self, path: Path, fmt: str) -> int:
        formats = _formats()
        async with self._scan_slots:
            try:
                return await asyncio.to_thread(_check_file, path, fmt)
            except formats.FormatError as exc:
                raise BadRequest(f"not a valid {fmt} file: {exc}") from None
            except MemoryError:
                raise BadRequest(f"not a valid {fmt} file: it needs too much memory to read") from None
            except Exception as exc:  # a parser choking on hostile bytes is a bad file, not a server error
                log.warning("dataset.check_failed", extra=fields(format=fmt, error=type(exc).__name__))
                raise BadRequest(f"not a valid {fmt} file ({type(exc).__name__})") from None

    async def _commit_version(self, user: User, dataset: Dataset, key: str, blob: StagedBlob, file_name: str,
                              total_rows: int, message: str | None) -> dict[str, Any]:
        try:
            async with self.db.tx():
                current = await Dataset.aget_or_none(Dataset.id == dataset.id)
                if current is None:
                    raise NotFound("dataset not found")
                if current.format != dataset.format:
                    raise Conflict("the dataset's format changed during the upload; upload again")
                latest = await self.db.first(
                    DatasetVersion.select().where(DatasetVersion.dataset == dataset.id)
                    .order_by(DatasetVersion.version_number.desc())
                )
                already_held = await self.db.exists(DatasetVersion.select().where(
                    (DatasetVersion.dataset == dataset.id) & (DatasetVersion.sha256 == blob.sha256)))
                charge = 0 if already_held else blob.size
                await self.accounts.charge(key, charge)
                number = (latest.version_number + 1) if latest else 1
                parent = latest.commit_hash if latest else None
                version = await DatasetVersion.acreate(
                    id=new_id(), dataset=dataset.id, version_number=number,
                    commit_hash=commit_hash(blob.sha256, parent, file_name, message), parent_hash=parent,
                    commit_message=message, file_name=file_name, sha256=blob.sha256, file_size=blob.size,
                    total_rows=total_rows, created_by=user.id, created_at=utcnow(),
                )
                await self.blobs.add_refs({blob.sha256: 1}, {blob.sha256: blob.size})
                await self.db.execute(Dataset.update({
                    Dataset.updated_at: utcnow(), Dataset.storage_bytes: Dataset.storage_bytes + charge,
                    Dataset.latest_version_number: number, Dataset.size_bytes: blob.size,
                }).where(Dataset.id == dataset.id))
                await self.blobs.commit([blob])
        except IntegrityError:
            raise Conflict("another version was created at the same time; upload again") from None
        log.info("dataset.version_created", extra=fields(dataset_id=dataset.id, version=number, size=blob.size))
        return self.version_dict(version, dataset.id)

    # Preview and stats -----------------------------------------------------------------
    async def preview(self, who: Any, dataset_id: str, rows: int, version: int | None) -> dict[str, Any]:
        formats = _formats()
        dataset = await self.get_visible(who, dataset_id)
        v = await self._version(dataset, version)
        path = self.blobs.path_for(v.sha256)
        total = v.total_rows
        if total is None and dataset.format not in METADATA_COUNT_FORMATS:
            total = await self._count_once(v, dataset.format, path)
        async with self._preview_slots:
            try:
                result = await asyncio.to_thread(formats.preview, path, dataset.format, rows, total_rows=total)
            except FileNotFoundError:
                raise NotFound("file content is missing from storage") from None
            except formats.FormatError as exc:
                raise Unprocessable(f"the stored file cannot be previewed: {exc}") from None
            except MemoryError:
                raise Unprocessable("the stored file needs too much memory to preview") from None
            except Exception as exc:
                log.warning("dataset.preview_failed", extra=fields(dataset_id=dataset.id, error=type(exc).__name__))
                raise Unprocessable(f"the stored file cannot be previewed ({type(exc).__name__})") from None
        body = result.to_dict()
        body.update(version=v.version_number, format=dataset.format)
        return body

    async def _count_once(self, v: DatasetVersion, fmt: str, path: Path) -> int | None:
        """Versions stored without a count (none today: counts are taken at upload) get one,
        computed by a single task and stored, so concurrent previews don't each rescan."""
        async with self._count_locks.setdefault(v.id, asyncio.Lock()):
            row = await DatasetVersion.aget_or_none(DatasetVersion.id == v.id)
            if row is not None and row.total_rows is not None:
                return int(row.total_rows)
            try:
                async with self._scan_slots:
                    total = await asyncio.to_thread(_formats().count_rows, path, fmt)
            except Exception:
                return None
            async with self.db.tx():
                await self.db.execute(DatasetVersion.update(total_rows=total).where(DatasetVersion.id == v.id))
            return total

    async def stats(self, who: Any, dataset_id: str, version: int | None) -> dict[str, Any]:
        """Dataset totals; with ``version``, that version's downloads, size, rows and forks made from it
        (stars belong to the dataset as a whole)."""
        dataset = await self.get_visible(who, dataset_id)
        versions_count = await self.db.count(DatasetVersion.select().where(DatasetVersion.dataset == dataset.id))
        if version is None:
            latest = await self.db.first(DatasetVersion.select().where(DatasetVersion.dataset == dataset.id)
                                         .order_by(DatasetVersion.version_number.desc()))
            return {
                "downloads_count": dataset.downloads_count, "stars_count": dataset.stars_count,
                "forks_count": dataset.forks_count, "size_bytes": latest.file_size if latest else 0,
                "version": None, "versions_count": versions_count,
                "total_rows": latest.total_rows if latest else None,
            }
        v = await self._version(dataset, version)
        forks = await self.db.count(Dataset.select(Dataset.id).where(Dataset.forked_from_version == v.id))
        return {
            "downloads_count": v.downloads_count, "stars_count": dataset.stars_count, "forks_count": forks,
            "size_bytes": v.file_size, "version": v.version_number, "versions_count": versions_count,
            "total_rows": v.total_rows,
        }

    # Downloads -----------------------------------------------------------------------
    async def open_download(self, who: Any, dataset_id: str, version: int | None) -> Download:
        dataset = await self.get_visible(who, dataset_id)
        v = await self._version(dataset, version)
        return Download(
            dataset_id=dataset.id, version_id=v.id, version_number=v.version_number,
            path=self.blobs.path_for(v.sha256), sha256=v.sha256, size=v.file_size, filename=v.file_name,
            content_type=CONTENT_TYPES[dataset.format], is_public=dataset.is_public,
        )

    async def record_download(self, dataset_id: str, version_id: str) -> None:
        """One completed download (the HTTP layer decides what "completed" means)."""
        async with self.db.tx():
            await self.db.execute(Dataset.update(downloads_count=Dataset.downloads_count + 1)
                                  .where(Dataset.id == dataset_id))
            await self.db.execute(DatasetVersion.update(downloads_count=DatasetVersion.downloads_count + 1)
                                  .where(DatasetVersion.id == version_id))

"""The content-addressed blob store shared by circuits, datasets and spaces.

Bytes live under ``<root>/objects/ab/cd/<sha256>``; the database's ``blob``
table holds one row per stored object with its size and a reference count.

Writing is two-phase so that a failed request never leaves half a file or a
referenced-but-missing blob:

1. :meth:`BlobStore.stage` streams chunks to ``<root>/tmp`` while hashing them,
   enforcing a size limit as it goes (413), then fsyncs the temp file. Nothing
   is visible yet; :meth:`StagedBlob.discard` deletes it.
2. Inside the caller's write transaction (``async with db.tx():``) the caller
   records what references the blob and calls :meth:`BlobStore.add_refs` and
   :meth:`BlobStore.commit`; ``commit`` renames the temp file into place (or
   drops it when the object already exists: dedupe) and fsyncs the folder.

Dropping references (:meth:`BlobStore.release`, also inside a transaction)
only decrements counts; :meth:`BlobStore.collect_garbage` later deletes rows at
zero together with their files. Files left behind by a crash between rename
and COMMIT have no row and are removed by :meth:`BlobStore.sweep_orphans`
(run at start-up, only for files older than a grace period).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterable, Iterable, Mapping

from peewee import EXCLUDED

from ..db.circuits import Blob
from ..db.core import Db
from ..db.fields import utcnow
from ..errors import PayloadTooLarge
from ..logs import fields
from .paths import SHA256_RE

log = logging.getLogger(__name__)

WRITE_BUFFER = 1024 * 1024


class TooLarge(PayloadTooLarge):
    """A staged stream went over its limit (413)."""


@dataclass
class StagedBlob:
    sha256: str
    size: int
    temp_path: Path | None

    def discard(self) -> None:
        if self.temp_path is not None:
            try:
                self.temp_path.unlink()
            except FileNotFoundError:
                pass
            self.temp_path = None


class BlobStore:
    def __init__(self, root: Path, db: Db, *, orphan_grace_seconds: float = 3600.0):
        self.root = Path(root)
        self.db = db
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.orphan_grace_seconds = orphan_grace_seconds
        # Serialises "rename into place" against garbage collection's unlink.
        self._fs_lock = asyncio.Lock()

    async def start(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        # One process owns the data dir: temp files left at start-up are from a dead run.
        for stale in self.tmp.iterdir():
            stale.unlink(missing_ok=True)
        await self.collect_garbage()
        await self.sweep_orphans()

    async def close(self) -> None:
        return None

    # Paths -------------------------------------------------------------------
    def path_for(self, sha256: str) -> Path:
        if not SHA256_RE.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def has_file(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    # Phase 1: stage ------------------------------------------------------------
    async def stage(
        self, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None, what: str = "file",
        budget: int | None = None, over_budget: Exception | None = None,
    ) -> StagedBlob:
        """Stream ``chunks`` to a temp file, hashing them; 413 past ``max_bytes``.

        ``budget`` (optional) aborts early with ``over_budget`` once more bytes
        than that have arrived (used for storage quotas).
        """
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        path = Path(name)
        hasher = hashlib.sha256()
        size = 0
        buf = bytearray()
        fh = os.fdopen(fd, "wb")
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"{what} exceeds the limit of {max_bytes} bytes")
                if budget is not None and size > budget and over_budget is not None:
                    raise over_budget
                buf += chunk
                if len(buf) >= WRITE_BUFFER:
                    data, buf = bytes(buf), bytearray()
                    await asyncio.to_thread(_write, fh, hasher, data)
            await asyncio.to_thread(_finish, fh, hasher, bytes(buf))
        except BaseException:
            fh.close()
            path.unlink(missing_ok=True)
            raise
        fh.close()
        return StagedBlob(hasher.hexdigest(), size, path)

    async def stage_bytes(self, data: bytes) -> StagedBlob:
        async def one():
            yield data

        return await self.stage(one())

    # Phase 2: inside the caller's transaction -----------------------------------
    async def add_refs(self, refs: Iterable[str] | Mapping[str, int], sizes: Mapping[str, int] | None = None) -> None:
        """Add references (a sha per reference, or ``{sha: count}``). New shas need ``sizes``."""
        counts = Counter(refs) if not isinstance(refs, Mapping) else Counter(dict(refs))
        sizes = sizes or {}
        now = utcnow()
        for sha, n in counts.items():
            if n <= 0:
                continue
            if sha in sizes:
                await self.db.execute(
                    Blob.insert(sha256=sha, size=sizes[sha], ref_count=n, created_at=now).on_conflict(
                        conflict_target=[Blob.sha256], update={Blob.ref_count: Blob.ref_count + EXCLUDED.ref_count}
                    )
                )
            else:
                updated = await self.db.execute(Blob.update(ref_count=Blob.ref_count + n).where(Blob.sha256 == sha))
                if not updated:
                    raise LookupError(f"blob {sha} is not stored")

    async def release(self, refs: Iterable[str] | Mapping[str, int]) -> None:
        """Drop references; objects reaching zero go at the next :meth:`collect_garbage`."""
        counts = Counter(refs) if not isinstance(refs, Mapping) else Counter(dict(refs))
        by_count: dict[int, list[str]] = {}
        for sha, n in counts.items():
            if n > 0:
                by_count.setdefault(n, []).append(sha)
        for n, shas in by_count.items():
            for i in range(0, len(shas), 500):
                await self.db.execute(
                    Blob.update(ref_count=Blob.ref_count - n).where(Blob.sha256.in_(shas[i:i + 500]))
                )

    async def commit(self, staged: Iterable[StagedBlob]) -> None:
        """Move staged files into place (call inside the transaction that references them)."""
        async with self._fs_lock:
            touched: set[Path] = set()
            for blob in staged:
                if blob.temp_path is None:
                    continue
                dest = self.path_for(blob.sha256)
                if dest.is_file():
                    blob.discard()  # dedupe: the same bytes are already stored
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(blob.temp_path, dest)
                blob.temp_path = None
                touched.add(dest.parent)
            for folder in touched:
                _fsync_dir(folder)

    # Garbage collection ---------------------------------------------------------
    async def collect_garbage(self) -> int:
        """Delete unreferenced objects (rows at zero and their files). Returns how many."""
        removed = 0
        async with self.db.tx():
            async with self._fs_lock:
                rows = await self.db.list(Blob.select(Blob.sha256).where(Blob.ref_count <= 0))
                for row in rows:
                    deleted = await self.db.execute(
                        Blob.delete().where((Blob.sha256 == row.sha256) & (Blob.ref_count <= 0))
                    )
                    if deleted:
                        self.path_for(row.sha256).unlink(missing_ok=True)
                        removed += 1
        if removed:
            log.info("storage.gc", extra=fields(removed=removed))
        return removed

    async def sweep_orphans(self) -> int:
        """Delete object files with no row (older than the grace period)."""
        cutoff = time.time() - self.orphan_grace_seconds
        candidates = [p for p in self.objects.glob("*/*/*") if p.is_file() and p.stat().st_mtime < cutoff]
        removed = 0
        for i in range(0, len(candidates), 500):
            batch = {p.name: p for p in candidates[i:i + 500]}
            known = {r.sha256 for r in await self.db.list(Blob.select(Blob.sha256).where(Blob.sha256.in_(list(batch))))}
            async with self._fs_lock:
                for sha, p in batch.items():
                    if sha not in known:
                        p.unlink(missing_ok=True)
                        removed += 1
        if removed:
            log.info("storage.orphans_removed", extra=fields(removed=removed))
        return removed

    async def stats(self) -> dict[str, int]:
        count = await self.db.count(Blob.select())
        return {"objects": count}


def _write(fh, hasher, data: bytes) -> None:
    hasher.update(data)
    fh.write(data)


def _finish(fh, hasher, data: bytes) -> None:
    if data:
        _write(fh, hasher, data)
    fh.flush()
    os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

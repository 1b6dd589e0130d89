"""Backups of a data dir: one tar archive with a manifest of hashes.

An archive holds, in this order:

``manifest.json``
    format and version, the software and schema versions, row counts per table, and
    every other member's path, size and sha256.
``qubithub.db``
    a consistent copy of the live database (:mod:`..db.snapshot`).
``blobs/objects/ab/cd/<sha256>``
    every object the copy knows, each checked against its name while it is written.
``config.toml``
    the config file the server runs with, when there is one.
``secret.key``
    only with ``include_secret``: without it a restored hub generates a new signing
    secret, so access tokens signed before end (passwords, API keys and refresh
    tokens, stored hashed in the database, go on working).

:func:`verify` re-reads an archive and checks every member against the manifest.
:func:`restore` extracts into a temporary folder beside an empty (or absent) data dir,
checking as it goes, and renames it into place only when every check passed; it never
follows a name the manifest does not list, so a crafted archive cannot write elsewhere.

Objects may be deleted by the server while a backup runs (a resource deleted after the
database was copied). :func:`create` then copies the database again and starts over, a
few times, before it gives up with a clear message.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from .. import __version__
from ..db import snapshot
from .paths import SHA256_RE

FORMAT = "qubithub-lite-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "qubithub.db"
CONFIG = "config.toml"
SECRET = "secret.key"
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
#: Progress callback: bytes just processed.
Progress = Callable[[int], None]


class BackupError(Exception):
    """A backup, verification or restore that cannot go on; the message says why."""


class _BlobVanished(Exception):
    pass


@dataclass
class Entry:
    path: str
    size: int
    sha256: str


@dataclass
class Report:
    path: Path
    files: int = 0
    bytes: int = 0
    schema_version: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _blob_member(sha: str) -> str:
    return f"blobs/objects/{sha[:2]}/{sha[2:4]}/{sha}"


def _member_is_known(name: str) -> bool:
    if name in (DATABASE, CONFIG, SECRET):
        return True
    parts = PurePosixPath(name).parts
    return (len(parts) == 5 and parts[:2] == ("blobs", "objects") and SHA256_RE.match(parts[4]) is not None
            and parts[2] == parts[4][:2] and parts[3] == parts[4][2:4])


class _HashingReader:
    """Reads a file for tarfile while hashing what went through. With ``pool``, a chunk is
    hashed on the pool's thread while tarfile writes it (hashlib and file writes both release
    the GIL), so a large object costs about the slower of the two, not their sum."""

    def __init__(self, fh: BinaryIO, progress: Progress | None, pool: ThreadPoolExecutor | None = None):
        self.fh = fh
        self.digest = hashlib.sha256()
        self.progress = progress
        self.pool = pool
        self._pending: Future | None = None

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        if self._pending is not None:
            self._pending.result()  # the previous chunk's hash first: updates stay in order
            self._pending = None
        if self.pool is not None and data:
            self._pending = self.pool.submit(self.digest.update, data)
        else:
            self.digest.update(data)
        if self.progress is not None and data:
            self.progress(len(data))
        return data

    def hexdigest(self) -> str:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return self.digest.hexdigest()


def plan_size(data_dir: Path, database_url: str) -> int:
    """Roughly how many bytes a backup will write (for a progress bar)."""
    db_path = snapshot.sqlite_path(database_url)
    total = db_path.stat().st_size if db_path is not None and db_path.exists() else 0
    objects = data_dir / "blobs" / "objects"
    for first in _subdirs(objects):
        for second in _subdirs(first):
            with contextlib.suppress(FileNotFoundError), os.scandir(second) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def _subdirs(path: Path | str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def create(archive: Path, data_dir: Path, database_url: str, *, config_file: Path | None = None,
           secret_file: Path | None = None, progress: Progress | None = None, attempts: int = 3) -> Report:
    """Write a backup of ``data_dir`` to ``archive`` (``.tar``, or gzip for ``.tar.gz``/``.tgz``)."""
    db_path = snapshot.sqlite_path(database_url)
    if db_path is None:
        raise BackupError("backup copies SQLite data dirs; back up a PostgreSQL database with pg_dump, and the data dir's blobs/ with it")
    if not data_dir.is_dir():
        raise BackupError(f"no data dir at {data_dir}")
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    archive = archive.resolve()
    if archive.is_relative_to(data_dir.resolve()):
        raise BackupError("write the archive outside the data dir")
    archive.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        with tempfile.TemporaryDirectory(prefix="qubithub-backup-") as tmp:
            db_copy = Path(tmp) / DATABASE
            snapshot.snapshot(db_path, db_copy)
            partial = archive.with_name(f".{archive.name}.partial")
            try:
                report = _write(partial, data_dir, db_copy, config_file, secret_file, progress)
            except _BlobVanished as exc:
                partial.unlink(missing_ok=True)
                if attempt == attempts:
                    raise BackupError(f"object {exc} was deleted while the backup ran, {attempts} times; try again") from None
                time.sleep(0.2 * attempt)
                continue
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, archive)
            _fsync_dir(archive.parent)
            report.path = archive
            return report
    raise AssertionError("unreachable")


def _write(partial: Path, data_dir: Path, db_copy: Path, config_file: Path | None, secret_file: Path | None,
           progress: Progress | None) -> Report:
    objects = data_dir / "blobs" / "objects"
    entries: list[tuple[Entry, Path]] = []
    gone_garbage: list[str] = []
    for sha, size, refs in snapshot.blob_rows(db_copy):
        source = objects / sha[:2] / sha[2:4] / sha
        if not source.is_file():
            if refs <= 0:
                gone_garbage.append(sha)  # unreferenced and already collected: nothing to keep
                continue
            raise _BlobVanished(sha)
        entries.append((Entry(_blob_member(sha), size, sha), source))
    snapshot.drop_blob_rows(db_copy, gone_garbage)
    head = [(Entry(DATABASE, db_copy.stat().st_size, _file_sha256(db_copy)), db_copy)]
    if config_file is not None and config_file.is_file():
        head.append((Entry(CONFIG, config_file.stat().st_size, _file_sha256(config_file)), config_file))
    if secret_file is not None:
        if not secret_file.is_file():
            raise BackupError(f"no signing secret at {secret_file}")
        head.append((Entry(SECRET, secret_file.stat().st_size, _file_sha256(secret_file)), secret_file))
    entries = head + entries
    report = Report(partial, schema_version=snapshot.schema_version(db_copy), counts=snapshot.table_counts(db_copy))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "qubithub_lite_version": __version__,
        "schema_version": report.schema_version,
        "database": "sqlite",
        "includes_secret": secret_file is not None,
        "counts": report.counts,
        "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e, _ in entries],
    }
    mode = "w:gz" if partial.name.endswith((".gz.partial", ".tgz.partial")) else "w"
    with open(partial, "wb") as raw, ThreadPoolExecutor(1, thread_name_prefix="backup-hash") as pool:
        with tarfile.open(fileobj=raw, mode=mode, format=tarfile.PAX_FORMAT) as tar:
            tar.copybufsize = CHUNK
            body = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(body))
            for entry, source in entries:
                try:
                    fh = open(source, "rb")
                except FileNotFoundError:
                    raise _BlobVanished(entry.sha256) from None
                with fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size != entry.size:
                        raise BackupError(f"{entry.path}: {size} bytes on disk, {entry.size} recorded (a damaged store; run doctor)")
                    info = tarfile.TarInfo(entry.path)
                    info.size, info.mtime, info.mode = size, int(time.time()), 0o600
                    reader = _HashingReader(fh, progress, pool if size > CHUNK else None)
                    tar.addfile(info, reader)
                    if reader.hexdigest() != entry.sha256:
                        raise BackupError(f"{entry.path}: its content does not match its hash (a damaged store)")
                report.files += 1
                report.bytes += size
        raw.flush()
        os.fsync(raw.fileno())
    return report


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open(archive: Path) -> tarfile.TarFile:
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    try:
        return tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a backup archive: {exc}") from None


def _read_manifest(tar: tarfile.TarFile) -> tuple[dict, tarfile.TarInfo]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isreg():
        raise BackupError("not a QubitHub Lite backup: the archive does not start with manifest.json")
    if first.size > MAX_MANIFEST_BYTES:
        raise BackupError("manifest.json is too large")
    fh = tar.extractfile(first)
    try:
        manifest = json.loads(fh.read())
    except ValueError as exc:
        raise BackupError(f"manifest.json is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a QubitHub Lite backup (manifest format)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {manifest.get('format_version')!r} is not supported (this is {FORMAT_VERSION})")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise BackupError("manifest.json lists no files")
    return manifest, first


def _scan(archive: Path, sink: Callable[[tarfile.TarInfo, Entry, BinaryIO], str] | None,
          progress: Progress | None) -> tuple[Report, dict]:
    """Check every member against the manifest; ``sink`` (when given) consumes each member's
    bytes and answers their sha256."""
    report = Report(archive)
    with _open(archive) as tar:
        manifest, first = _read_manifest(tar)
        expected: dict[str, Entry] = {}
        for item in manifest["files"]:
            try:
                entry = Entry(str(item["path"]), int(item["size"]), str(item["sha256"]))
            except (KeyError, TypeError, ValueError):
                raise BackupError(f"manifest.json: a bad file entry {item!r:.200}") from None
            if not _member_is_known(entry.path) or entry.path in expected:
                raise BackupError(f"manifest.json: unexpected file {entry.path!r:.200}")
            expected[entry.path] = entry
        report.schema_version = int(manifest.get("schema_version") or 0)
        report.counts = dict(manifest.get("counts") or {})
        seen: set[str] = set()
        for member in tar:
            if member is first:
                continue
            entry = expected.get(member.name)
            if entry is None or not member.isreg() or member.name in seen:
                report.problems.append(f"unexpected member {member.name!r:.200}")
                continue
            seen.add(member.name)
            if member.size != entry.size:
                report.problems.append(f"{member.name}: {member.size} bytes, the manifest says {entry.size}")
                continue
            fh = tar.extractfile(member)
            if sink is not None:
                digest = sink(member, entry, fh)
            else:
                h = hashlib.sha256()
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
                digest = h.hexdigest()
            if digest != entry.sha256:
                report.problems.append(f"{member.name}: sha256 {digest}, the manifest says {entry.sha256}")
            if entry.path.startswith("blobs/") and entry.sha256 != PurePosixPath(entry.path).name:
                report.problems.append(f"{member.name}: the manifest's hash is not the object's name")
            report.files += 1
            report.bytes += member.size
        for missing in sorted(set(expected) - seen):
            report.problems.append(f"missing from the archive: {missing}")
        if DATABASE not in expected:
            report.problems.append("the archive holds no database")
    return report, manifest


def verify(archive: Path, progress: Progress | None = None) -> Report:
    report, _ = _scan(archive, None, progress)
    return report


def restore(archive: Path, data_dir: Path, progress: Progress | None = None) -> Report:
    """Restore ``archive`` into ``data_dir``, which must be empty or absent."""
    data_dir = data_dir.resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty: restore only into an empty or new data dir")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        def sink(member: tarfile.TarInfo, entry: Entry, fh: BinaryIO) -> str:
            target = staging.joinpath(*PurePosixPath(entry.path).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            with open(target, "xb") as out:
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(target, 0o600)
            return h.hexdigest()

        report, manifest = _scan(archive, sink, None)
        from ..db.migrate import head_version

        if report.schema_version > head_version():
            report.problems.append(
                f"the backup's schema version {report.schema_version} is newer than this QubitHub Lite's ({head_version()}): upgrade the software first")
        if not report.ok:
            raise BackupError("the archive failed verification, nothing was restored:\n  " + "\n  ".join(report.problems[:20]))
        (staging / "blobs" / "objects").mkdir(parents=True, exist_ok=True)
        (staging / "blobs" / "tmp").mkdir(parents=True, exist_ok=True)
        if data_dir.exists():
            data_dir.rmdir()
        os.replace(staging, data_dir)
        _fsync_dir(data_dir.parent)
        report.path = data_dir
        return report
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

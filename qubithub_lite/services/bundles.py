"""Course bundles: circuits (every version), datasets (every version) and spaces, moved
between appliances — a teacher's prepared course onto the classroom box.

A bundle is a tar archive: ``bundle.json`` first (what it holds, validated by
:class:`~..schemas.bundles.BundleManifest` on import), then ``objects/<sha256>`` for every
file any of its resources uses, once each.

Import goes through the same service calls as the API (create, upload, add_version,
add_file), so every check — names, manifests, formats, sizes, quotas — applies to a bundle
as to a person. It is idempotent: a resource whose content is already there is left alone;
one that is a prefix of the bundle's (fewer versions, the same ones) gets the missing
versions; one whose content differs is a *clash*, reported and never overwritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable

from pydantic import ValidationError

from ..db.circuits import Circuit, CircuitFile, CircuitVersion
from ..db.core import Db
from ..db.datasets import Dataset, DatasetVersion
from ..db.models import Membership, Organization, User
from ..db.spaces import Space, SpaceFile
from ..errors import ApiError
from ..schemas.bundles import (
    BundleCircuit, BundleDataset, BundleFile, BundleManifest, BundleSpace, BundleVersion, DatasetBundleVersion,
)
from ..schemas.circuits import CircuitCreate
from ..schemas.datasets import DatasetCreate
from ..schemas.spaces import SpaceCreate
from ..storage import BlobStore
from ..storage.blobs import SHA256_RE
from .manifest import METADATA_NAME

MANIFEST = "bundle.json"
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
Progress = Callable[[int], None]


class BundleError(Exception):
    """A bundle that cannot be written or read; the message says why."""


@dataclass
class Selection:
    orgs: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    circuits: list[str] = field(default_factory=list)  # "owner/name"
    datasets: list[str] = field(default_factory=list)
    spaces: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.orgs or self.users or self.circuits or self.datasets or self.spaces)


@dataclass
class Outcome:
    kind: str  # circuit | dataset | space
    name: str  # target owner/name
    result: str  # created | updated | unchanged | clash | error
    detail: str = ""


@dataclass
class ImportReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def ok(self) -> bool:
        return not any(o.result in ("clash", "error") for o in self.outcomes)


@dataclass
class _Incoming:
    """One file handed to a service as an upload would be."""

    filename: str
    chunks: AsyncIterator[bytes]


def _compare_history(have: list, wanted: list, noun: str) -> tuple[str, str] | None:
    """An existing resource's versions against the bundle's: ``unchanged`` when the same,
    ``clash`` when they differ anywhere but at the end, None when the bundle only adds versions."""
    if have == wanted:
        return "unchanged", f"{len(have)} version(s)"
    if len(have) > len(wanted) or wanted[:len(have)] != have:
        return "clash", f"a {noun} of that name with other content exists; not overwritten"
    return None


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk


async def _each(items: Iterable[_Incoming]) -> AsyncIterator[_Incoming]:
    for item in items:
        yield item


def _create_request(model: Any, entry: Any, org: Any) -> Any:
    """The create request (``CircuitCreate``, …) of a bundle entry: every field of the entry the
    request has too (name, title, description, visibility and the kind's own), in ``org``."""
    shared = set(model.model_fields) & set(type(entry).model_fields)
    return model(**{name: getattr(entry, name) for name in shared}, organization_name=org.slug if org else None)


class Bundles:
    def __init__(self, db: Db, blobs: BlobStore, circuits, datasets, spaces):
        self.db = db
        self.blobs = blobs
        self.circuits = circuits
        self.datasets = datasets
        self.spaces = spaces

    # ---- export -------------------------------------------------------------------------

    async def _namespace(self, name: str) -> tuple[str, str]:
        """``(namespace id, kind)`` of a username or organization slug."""
        user = await self.db.first(User.select(User.id).where(User.username == name))
        if user is not None:
            return user.id, "user"
        org = await self.db.first(Organization.select(Organization.id).where(Organization.slug == name))
        if org is not None:
            return org.id, "org"
        raise BundleError(f"no user or organization named {name!r}")

    async def _by_repo(self, model, repo: str):
        owner, sep, name = repo.partition("/")
        if not sep or not owner or not name:
            raise BundleError(f"{repo!r}: give owner/name")
        namespace, _ = await self._namespace(owner)
        row = await self.db.first(model.select().where((model.namespace_id == namespace) & (model.name == name)))
        if row is None:
            raise BundleError(f"no {model.__name__.lower()} {repo}")
        return row

    async def _selected(self, model, sel: Selection, repos: list[str]) -> list[Any]:
        rows: dict[str, Any] = {}
        for slug in sel.orgs:
            org = await self.db.first(Organization.select().where(Organization.slug == slug))
            if org is None:
                raise BundleError(f"no organization {slug!r}")
            for row in await self.db.list(model.select().where(model.organization == org.id)):
                rows[row.id] = row
        for username in sel.users:
            user = await self.db.first(User.select().where(User.username == username))
            if user is None:
                raise BundleError(f"no user {username!r}")
            for row in await self.db.list(model.select().where((model.owner == user.id) & model.organization.is_null())):
                rows[row.id] = row
        for repo in repos:
            row = await self._by_repo(model, repo)
            rows[row.id] = row
        return sorted(rows.values(), key=lambda r: (r.created_at, r.id))

    async def _owner_refs(self, row) -> tuple[str, str | None]:
        owner = await self.db.first(User.select(User.username).where(User.id == row.owner_id))
        org = None
        if row.organization_id:
            org = await self.db.first(Organization.select(Organization.slug).where(Organization.id == row.organization_id))
        return owner.username, org.slug if org else None

    async def _circuit_entry(self, c: Circuit) -> BundleCircuit:
        owner, org = await self._owner_refs(c)
        versions: list[BundleVersion] = []
        previous: dict[str, tuple[str, int]] = {}
        for v in await self.db.list(CircuitVersion.select().where(CircuitVersion.circuit == c.id)
                                    .order_by(CircuitVersion.version_number)):
            files = await self.db.list(CircuitFile.select().where(CircuitFile.version == v.id).order_by(CircuitFile.path))
            tree = {f.path: (f.sha256, f.size) for f in files if f.path != METADATA_NAME}
            changed = [BundleFile(path=p, sha256=s, size=n) for p, (s, n) in sorted(tree.items()) if previous.get(p) != (s, n)]
            versions.append(BundleVersion(number=v.version_number, message=v.commit_message, changed=changed,
                                          removed=sorted(set(previous) - set(tree))))
            previous = tree
        return BundleCircuit(owner=owner, organization=org, name=c.name, title=c.title, description=c.description,
                             framework=c.framework, qubits=c.qubits, tags=list(c.tags or []), is_public=c.is_public,
                             versions=versions)

    async def _dataset_entry(self, d: Dataset) -> BundleDataset:
        owner, org = await self._owner_refs(d)
        versions = [DatasetBundleVersion(number=v.version_number, message=v.commit_message, file_name=v.file_name,
                                         sha256=v.sha256, size=v.file_size)
                    for v in await self.db.list(DatasetVersion.select().where(DatasetVersion.dataset == d.id)
                                                .order_by(DatasetVersion.version_number))]
        return BundleDataset(owner=owner, organization=org, name=d.name, title=d.title, description=d.description,
                             format=d.format, tags=list(d.tags or []), task_categories=list(d.task_categories or []),
                             license=d.license, citation=d.citation, is_public=d.is_public, versions=versions)

    async def _space_entry(self, s: Space) -> BundleSpace:
        owner, org = await self._owner_refs(s)
        files = [BundleFile(path=f.path, sha256=f.sha256, size=f.size)
                 for f in await self.db.list(SpaceFile.select().where(SpaceFile.space == s.id).order_by(SpaceFile.path))]
        return BundleSpace(owner=owner, organization=org, name=s.name, title=s.title, description=s.description,
                           sdk=s.sdk, space_type=s.space_type, is_public=s.is_public, files=files)

    async def collect(self, sel: Selection) -> BundleManifest:
        if sel.empty:
            raise BundleError("nothing selected: give --org, --user, --circuit, --dataset or --space")
        circuits = [await self._circuit_entry(c) for c in await self._selected(Circuit, sel, sel.circuits)]
        datasets = [await self._dataset_entry(d) for d in await self._selected(Dataset, sel, sel.datasets)]
        spaces = [await self._space_entry(s) for s in await self._selected(Space, sel, sel.spaces)]
        return BundleManifest(created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              circuits=circuits, datasets=datasets, spaces=spaces)

    @staticmethod
    def objects(manifest: BundleManifest) -> dict[str, int]:
        found: dict[str, int] = {}
        for c in manifest.circuits:
            for v in c.versions:
                found.update({f.sha256: f.size for f in v.changed})
        for d in manifest.datasets:
            found.update({v.sha256: v.size for v in d.versions})
        for s in manifest.spaces:
            found.update({f.sha256: f.size for f in s.files})
        return found

    def write(self, manifest: BundleManifest, out: io.RawIOBase | Any, progress: Progress | None = None) -> int:
        """Write the bundle to a binary file object (synchronous: run it in a thread)."""
        body = manifest.model_dump_json(indent=1).encode()
        written = 0
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(body))
            for sha, size in sorted(self.objects(manifest).items()):
                path = self.blobs.path_for(sha)
                with open(path, "rb") as fh:
                    info = tarfile.TarInfo(f"objects/{sha}")
                    info.size, info.mtime, info.mode = os.fstat(fh.fileno()).st_size, int(time.time()), 0o644
                    tar.addfile(info, fh)
                    written += info.size
                if progress is not None:
                    progress(info.size)
        return written

    # ---- import -------------------------------------------------------------------------

    @staticmethod
    def unpack(archive: Path | Any, into: Path) -> BundleManifest:
        """Read a bundle into ``into`` (``objects/<sha>``), checking every object's hash and
        refusing any member a bundle cannot hold; answers the validated manifest."""
        try:
            tar = tarfile.open(archive, mode="r|*") if isinstance(archive, Path) else tarfile.open(fileobj=archive, mode="r|*")
        except (tarfile.TarError, OSError) as exc:
            raise BundleError(f"not a bundle: {exc}") from None
        manifest: BundleManifest | None = None
        (into / "objects").mkdir(parents=True, exist_ok=True)
        with tar:
            try:
                for member in tar:
                    if manifest is None:
                        if member.name != MANIFEST or not member.isreg() or member.size > MAX_MANIFEST_BYTES:
                            raise BundleError(f"not a bundle: it must start with {MANIFEST}")
                        try:
                            manifest = BundleManifest.model_validate_json(tar.extractfile(member).read())
                        except ValidationError as exc:
                            raise BundleError(f"{MANIFEST}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
                        continue
                    prefix, _, sha = member.name.partition("/")
                    if prefix != "objects" or not SHA256_RE.match(sha) or not member.isreg():
                        raise BundleError(f"not a bundle member: {member.name[:200]!r}")
                    target = into / "objects" / sha
                    if target.exists():
                        raise BundleError(f"object {sha} appears twice")
                    digest = hashlib.sha256()
                    src = tar.extractfile(member)
                    with open(target, "wb") as out:
                        while chunk := src.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                    if digest.hexdigest() != sha:
                        raise BundleError(f"object {sha} is damaged (its content has another hash)")
            except tarfile.TarError as exc:
                raise BundleError(f"a damaged bundle: {exc}") from None
        if manifest is None:
            raise BundleError("an empty bundle")
        missing = [sha for sha in Bundles.objects(manifest) if not (into / "objects" / sha).is_file()]
        if missing:
            raise BundleError(f"the bundle lacks {len(missing)} object(s) its manifest uses, e.g. {missing[0]}")
        return manifest

    async def _target(self, entry, as_org: str | None, as_user: str | None) -> tuple[User, Organization | None]:
        """The user who acts and the organization (None: that user's own namespace)."""
        if as_user:
            user = await self.db.first(User.select().where(User.username == as_user))
            if user is None:
                raise BundleError(f"no user {as_user!r} here")
            return user, None
        slug = as_org or entry.organization
        if slug:
            org = await self.db.first(Organization.select().where(Organization.slug == slug))
            if org is None:
                raise BundleError(f"no organization {slug!r} here (create it, or import with --as-org/--as-user)")
            owner = await self.db.first(
                User.select().join(Membership, on=(Membership.user == User.id))
                .where((Membership.organization == org.id) & (Membership.role == "owner")).order_by(Membership.id)
            )
            if owner is None:
                raise BundleError(f"organization {slug!r} has no owner")
            return owner, org
        user = await self.db.first(User.select().where(User.username == entry.owner))
        if user is None:
            raise BundleError(f"no user {entry.owner!r} here (create it, or import with --as-org/--as-user)")
        return user, None

    @staticmethod
    def _namespace_of(user: User, org: Organization | None) -> tuple[str, str]:
        return (org.id, org.slug) if org else (user.id, user.username)

    async def import_bundle(self, manifest: BundleManifest, objects: Path, *, as_org: str | None = None,
                            as_user: str | None = None) -> ImportReport:
        report = ImportReport()
        steps = ([("circuit", e, self._import_circuit) for e in manifest.circuits]
                 + [("dataset", e, self._import_dataset) for e in manifest.datasets]
                 + [("space", e, self._import_space) for e in manifest.spaces])
        for kind, entry, fn in steps:
            label = f"{entry.organization or entry.owner}/{entry.name}"
            try:
                user, org = await self._target(entry, as_org, as_user)
                namespace, owner_name = self._namespace_of(user, org)
                label = f"{owner_name}/{entry.name}"
                result, detail = await fn(entry, user, org, namespace, objects)
            except BundleError as exc:
                result, detail = "error", str(exc)
            except ApiError as exc:
                result, detail = "error", exc.detail
            report.outcomes.append(Outcome(kind, label, result, detail))
        return report

    def _incoming(self, objects: Path, files: Iterable[BundleFile]) -> list[_Incoming]:
        return [_Incoming(f.path, _file_chunks(objects / "objects" / f.sha256)) for f in files]

    @staticmethod
    async def _into(service: Any, model: Any, entry: Any, user: User, org: Any, existing: Any) -> str:
        """The id of the resource an entry's versions go into: ``existing``, else one created from the entry."""
        if existing is not None:
            return existing.id
        return (await service.create(user, _create_request(model, entry, org)))["id"]

    async def _import_circuit(self, entry: BundleCircuit, user: User, org, namespace: str, objects: Path):
        existing = await self.db.first(Circuit.select().where((Circuit.namespace_id == namespace) & (Circuit.name == entry.name)))
        wanted: list[dict[str, str]] = []
        tree: dict[str, str] = {}
        for v in entry.versions:
            tree = {p: s for p, s in tree.items() if p not in set(v.removed)}
            tree.update({f.path: f.sha256 for f in v.changed})
            wanted.append(dict(tree))
        have: list[dict[str, str]] = []
        if existing is not None:
            for v in await self.db.list(CircuitVersion.select().where(CircuitVersion.circuit == existing.id)
                                        .order_by(CircuitVersion.version_number)):
                files = await self.db.list(CircuitFile.select().where(CircuitFile.version == v.id))
                have.append({f.path: f.sha256 for f in files if f.path != METADATA_NAME})
            verdict = _compare_history(have, wanted, "circuit")
            if verdict is not None:
                return verdict
        circuit_id = await self._into(self.circuits, CircuitCreate, entry, user, org, existing)
        for v in entry.versions[len(have):]:
            if v.removed:
                return "error", f"version {v.number} removes files, which an upload cannot do; stopped there"
            files = v.changed or [next(f for f in self._last_files(entry, v))]
            await self.circuits.upload(user, circuit_id, _each(self._incoming(objects, files)), v.message, batch=False)
        added = len(entry.versions) - len(have)
        return ("updated", f"+{added} version(s)") if existing is not None else ("created", f"{added} version(s)")

    @staticmethod
    def _last_files(entry: BundleCircuit, version: BundleVersion) -> Iterable[BundleFile]:
        """For a version that changed nothing: the files of the versions before it (to upload one again)."""
        for v in reversed(entry.versions[:entry.versions.index(version)]):
            yield from v.changed

    async def _import_dataset(self, entry: BundleDataset, user: User, org, namespace: str, objects: Path):
        existing = await self.db.first(Dataset.select().where((Dataset.namespace_id == namespace) & (Dataset.name == entry.name)))
        wanted = [v.sha256 for v in entry.versions]
        have: list[str] = []
        if existing is not None:
            have = [v.sha256 for v in await self.db.list(
                DatasetVersion.select(DatasetVersion.sha256).where(DatasetVersion.dataset == existing.id)
                .order_by(DatasetVersion.version_number))]
            verdict = _compare_history(have, wanted, "dataset")
            if verdict is not None:
                return verdict
        dataset_id = await self._into(self.datasets, DatasetCreate, entry, user, org, existing)
        for v in entry.versions[len(have):]:
            incoming = _Incoming(v.file_name, _file_chunks(objects / "objects" / v.sha256))
            await self.datasets.add_version(user, dataset_id, _each([incoming]), v.message)
        added = len(entry.versions) - len(have)
        return ("updated", f"+{added} version(s)") if existing is not None else ("created", f"{added} version(s)")

    async def _import_space(self, entry: BundleSpace, user: User, org, namespace: str, objects: Path):
        existing = await self.db.first(Space.select().where((Space.namespace_id == namespace) & (Space.name == entry.name)))
        wanted = {f.path: f.sha256 for f in entry.files}
        if existing is not None:
            have = {f.path: f.sha256 for f in await self.db.list(SpaceFile.select().where(SpaceFile.space == existing.id))}
            if have == wanted:
                return "unchanged", f"{len(have)} file(s)"
            if not set(have).issubset(wanted) or any(wanted[p] != s for p, s in have.items()):
                return "clash", "a space of that name with other files exists; not overwritten"
            space_id, todo = existing.id, [f for f in entry.files if f.path not in have]
        else:
            created = await self.spaces.create(user, _create_request(SpaceCreate, entry, org))
            space_id, todo = created["id"], list(entry.files)
        for incoming in self._incoming(objects, todo):
            await self.spaces.add_file(user, space_id, incoming)
        return ("updated", f"+{len(todo)} file(s)") if existing is not None else ("created", f"{len(todo)} file(s)")


def read_bundle(path: Path) -> tuple[BundleManifest, tempfile.TemporaryDirectory]:
    """Unpack a bundle file into a temporary folder (the caller cleans it up)."""
    tmp = tempfile.TemporaryDirectory(prefix="qubithub-bundle-")
    try:
        return Bundles.unpack(path, Path(tmp.name)), tmp
    except BaseException:
        tmp.cleanup()
        raise


def describe(report: ImportReport) -> str:
    lines = [f"{o.result:9} {o.kind:8} {o.name}" + (f"  ({o.detail})" if o.detail else "") for o in report.outcomes]
    lines.append(", ".join(f"{report.count(r)} {r}" for r in ("created", "updated", "unchanged", "clash", "error")))
    return "\n".join(lines)




# ---- over HTTP (GET /admin/export, POST /admin/import) -------------------------------------

STREAM_CHUNK = 256 * 1024
_DONE = object()


class _Pipe(io.RawIOBase):
    """The synchronous writer's end: :meth:`Bundles.write` (in a thread) writes here, and
    every ``STREAM_CHUNK`` bytes go to the event loop through a bounded queue (the writer waits
    while the reader is slow: nothing is buffered beyond a few chunks)."""

    def __init__(self, put: Callable[[Any], None]) -> None:
        super().__init__()
        self._put = put
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._buf += b
        if len(self._buf) >= STREAM_CHUNK:
            self.drain()
        return len(b)

    def drain(self) -> None:
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            self._put(data)


async def stream_bundle(bundles: Bundles, manifest: BundleManifest, *, depth: int = 4) -> AsyncIterator[bytes]:
    """The bundle as chunks, written by :meth:`Bundles.write` in a worker thread. Closing the
    iterator early (the client went away) stops the writer within a fraction of a second."""
    import concurrent.futures
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> None:
        if stop.is_set():
            raise BrokenPipeError("the reader went away")
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while True:
            try:
                future.result(timeout=0.25)
                return
            except concurrent.futures.TimeoutError:
                if stop.is_set():
                    future.cancel()
                    raise BrokenPipeError("the reader went away") from None

    def produce() -> None:
        pipe = _Pipe(put)
        try:
            bundles.write(manifest, pipe)
            pipe.drain()
            put(_DONE)
        except BrokenPipeError:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, which raises it
            if not stop.is_set():
                try:
                    put(exc)
                except BrokenPipeError:
                    pass

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise BundleError(f"the bundle could not be written: {item}")
            yield item
        await worker
    finally:
        stop.set()
        while not queue.empty():
            queue.get_nowait()


async def import_file(bundles: Bundles, archive: Path, scratch: Path, *, as_org: str | None = None,
                      as_user: str | None = None) -> ImportReport:
    """Unpack ``archive`` (off the event loop: hashing and copying) into ``scratch`` and import
    it. A bundle that is not sound (a member outside ``objects/``, a damaged object, a bad
    manifest) raises :class:`BundleError` before anything is stored."""
    manifest = await asyncio.to_thread(Bundles.unpack, archive, scratch)
    return await bundles.import_bundle(manifest, scratch, as_org=as_org, as_user=as_user)


MAX_BUNDLE_BYTES = 2 * 1024**3  # an uploaded bundle (unpacked next to itself: twice this on disk)
_IMPORTING: dict[int, asyncio.Lock] = {}


async def import_upload(bundles: Bundles, chunks: AsyncIterator[bytes], data_dir: Path, *, as_org: str | None = None,
                        as_user: str | None = None) -> ImportReport:
    """An uploaded bundle: its chunks saved (at most :data:`MAX_BUNDLE_BYTES`) in a scratch
    folder of the data dir, checked whole, imported, the scratch removed. One import at a time
    (409 for another). A bundle that is not sound is a 400 and stores nothing."""
    import shutil

    from ..errors import BadRequest, Conflict, PayloadTooLarge

    lock = _IMPORTING.setdefault(id(bundles), asyncio.Lock())
    if lock.locked():
        raise Conflict("another bundle import is running; try again when it is done")
    async with lock:
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".bundle-import-", dir=data_dir))
        try:
            archive = scratch / "bundle.tar"
            fh = await asyncio.to_thread(open, archive, "wb")
            try:
                size = 0
                async for chunk in chunks:
                    size += len(chunk)
                    if size > MAX_BUNDLE_BYTES:
                        raise PayloadTooLarge(f"a bundle is at most {MAX_BUNDLE_BYTES} bytes")
                    await asyncio.to_thread(fh.write, chunk)
            finally:
                await asyncio.to_thread(fh.close)
            try:
                return await import_file(bundles, archive, scratch / "unpacked", as_org=as_org, as_user=as_user)
            except BundleError as exc:
                raise BadRequest(f"bundle: {exc}") from None
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)


def report_dict(report: ImportReport) -> dict[str, Any]:
    counts = {r: report.count(r) for r in ("created", "updated", "unchanged", "clash", "error")}
    return {"outcomes": [{"kind": o.kind, "name": o.name, "result": o.result, "detail": o.detail} for o in report.outcomes],
            **counts, "ok": report.ok}

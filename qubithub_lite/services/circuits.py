"""Circuits: metadata, visibility, versioned file trees, manifests, stars, forks.

A version is an immutable tree ``path → (blob sha256, size, kind)``; every
upload (single or batch) creates the next ``version_number`` whose tree is the
previous tree plus the uploaded files. ``commit_hash`` = sha256 of
``tree <tree_hash>\\nparent <parent commit or ''>\\nmessage <message>``, with
``tree_hash`` = sha256 of the sorted ``path\\0sha256\\0size\\n`` lines. Each
``CircuitFile`` row holds one reference on its blob, so forks (which copy the
rows, never the bytes) and unchanged files share storage.

File paths served by ``GET /files/{path}`` are ``circuits/<circuit id>/v<N>/<path>``
(``circuits/<owner>/<name>/v<N>/<path>`` is accepted as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, AsyncIterable, AsyncIterator

from ..config import StorageConfig
from ..db.circuits import Circuit, CircuitFile, CircuitTag, CircuitVersion
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import Organization, User
from ..errors import ApiError, BadRequest, NotFound
from ..jobs.bus import Announcer
from ..logs import fields
from ..schemas.circuits import CircuitCreate, CircuitUpdate
from ..storage import BlobStore, StagedBlob, StorageAccounts, owner_key, safe_relative_path
from ..db import resources as queries
from . import access, permissions, social
from .circuit_list import TARGET, CircuitListing
from .resources import IncomingFileLike, ResourceService
from .git_objects import GitObjects
from .manifest import (
    MANIFEST_NAME, METADATA_NAME, Manifest, check_entry_points, generate_metadata, parse_manifest,
)

log = logging.getLogger(__name__)

UUID_RE = access.UUID_RE
VERSION_SEGMENT = re.compile(r"^v([1-9][0-9]{0,8})$")
ACCEPTED_KINDS = ("Python sources (.py), qubithub.toml, README.md, OpenQASM (.qasm), QPY (.qpy), JSON (.json)"
                  " and .gitignore")
GITIGNORE = ".gitignore"


def circuit_file_path(name: str) -> str:
    """``safe_relative_path`` (400 on a bad name), where a ``.gitignore`` file is allowed too."""
    folder, _, base = name.rpartition("/")
    if base == GITIGNORE:
        return (safe_relative_path(folder) + "/" if folder else "") + GITIGNORE
    return safe_relative_path(name)


def file_kind(path: str) -> str | None:
    """The kind of an accepted file, or None (rejected)."""
    base = path.rsplit("/", 1)[-1]
    lower = base.lower()
    if path == MANIFEST_NAME:
        return "manifest"
    if path == METADATA_NAME:
        return "metadata"
    if lower == "readme.md":
        return "readme"
    if base == GITIGNORE:
        return "gitignore"
    if lower.endswith(".py"):
        return "python"
    if lower.endswith(".qasm"):
        return "qasm"
    if lower.endswith(".qpy"):
        return "qpy"
    if lower.endswith(".json"):
        return "json"
    return None


@dataclass
class TreeEntry:
    sha256: str
    size: int
    kind: str


@dataclass
class UploadOutcome:
    version: dict[str, Any]
    files: list[dict[str, Any]]
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass
class StoredFile:
    sha256: str
    size: int
    name: str
    is_public: bool


def tree_hash(tree: dict[str, TreeEntry]) -> str:
    h = hashlib.sha256()
    for path in sorted(tree):
        e = tree[path]
        h.update(f"{path}\0{e.sha256}\0{e.size}\n".encode())
    return h.hexdigest()


def commit_hash(tree_sha: str, parent: str | None, message: str | None) -> str:
    return hashlib.sha256(f"tree {tree_sha}\nparent {parent or ''}\nmessage {message or ''}".encode()).hexdigest()


def storage_path(circuit_id: str, version_number: int, path: str) -> str:
    return f"circuits/{circuit_id}/v{version_number}/{path}"


class Circuits(CircuitListing, ResourceService):
    model = Circuit
    noun = "circuit"
    star_target = TARGET

    def __init__(self, db: Db, blobs: BlobStore, accounts: StorageAccounts, config: StorageConfig,
                 announcer: Announcer | None = None):
        ResourceService.__init__(self, db, blobs, accounts)
        CircuitListing.__init__(self)
        self.config = config
        #: Each version's git commit (built once; see ``git_objects``).
        self.git = GitObjects(db, blobs)
        #: Several processes on one database (``jobs.bus``): a change here drops the cached
        #: list totals and pages in each of them (topic ``circuits``); None: one process.
        self._announcer = announcer
        if announcer is not None:
            announcer.on("circuits", self._changed_elsewhere)

    @contextlib.asynccontextmanager
    async def _changing(self) -> AsyncIterator[None]:
        """A write transaction that may change which circuits a list matches (or how many);
        cached list totals are dropped once it has committed (or rolled back), in every process."""
        try:
            async with self.db.tx():
                yield
        finally:
            self._generation += 1
            if self._announcer is not None:
                self._announcer.broadcast_soon("circuits", "changed")

    def _changed_elsewhere(self, _body: str) -> None:
        self._generation += 1

    # Serialising ----------------------------------------------------------------------
    def card(self, c: Circuit, starred: bool | None) -> dict[str, Any]:
        return {
            **self.base_card(c, starred), "framework": c.framework, "tags": c.tags or [], "qubits": c.qubits,
            "category": c.category, "difficulty": c.difficulty, "views_count": c.views_count, "runs_count": c.runs_count,
        }

    @staticmethod
    def version_dict(v: CircuitVersion, circuit_id: str) -> dict[str, Any]:
        return {
            "id": v.id, "circuit_id": circuit_id, "version_number": v.version_number, "commit_hash": v.commit_hash,
            "parent_hash": v.parent_hash, "file_path": v.file_path, "file_size": v.file_size,
            "commit_message": v.commit_message, "created_at": v.created_at, "git_commit": v.git_commit,
        }

    async def detail(self, c: Circuit, user_id: str | None) -> dict[str, Any]:
        starred = await social.is_starred(self.db, TARGET, c.id, user_id)
        versions = await self.db.list(
            CircuitVersion.select().where(CircuitVersion.circuit == c.id).order_by(CircuitVersion.version_number)
        )
        if any(v.git_commit is None for v in versions):
            commits = {i.version_number: i.sha for i in await self.git.ensure(c.id)}
            for v in versions:
                v.git_commit = commits.get(v.version_number, v.git_commit)
        out = self.card(c, starred)
        out.update(
            gates=c.gates, depth=c.depth, extra_metadata=c.extra_metadata, manifest=c.manifest,
            versions=[self.version_dict(v, c.id) for v in versions],
            latest_version=self.version_dict(versions[-1], c.id) if versions else None,
        )
        return out

    async def view(self, who: Any, circuit_id: str) -> dict[str, Any]:
        """``GET /circuits/{id}``: the detail, counting one view."""
        return await self._viewed(permissions.user_id_of(who), await self.get_visible(who, circuit_id))

    async def _viewed(self, user_id: str | None, c: Circuit) -> dict[str, Any]:
        async with self.db.tx():
            await social.bump_counter(self.db, Circuit, c.id, "views_count", 1)
        c.views_count += 1
        return await self.detail(c, user_id)

    async def resolve(self, who: Any, repo_name: str) -> dict[str, Any]:
        """``owner/name`` where owner is a username or an organization slug."""
        parts = repo_name.strip().split("/")
        if len(parts) != 2 or not all(parts):
            raise BadRequest("repo_name must look like 'owner/name'")
        circuit = await self.resolve_quiet(who, f"{parts[0]}/{parts[1]}")
        return await self._viewed(permissions.user_id_of(who), circuit)

    # Listing: see :class:`.circuit_list.CircuitListing`.

    # Create / update / delete ------------------------------------------------------------
    async def create(self, user: User, body: CircuitCreate) -> dict[str, Any]:
        async with self._creating(user, body) as columns:
            circuit = await Circuit.acreate(**columns, framework=body.framework, tags=body.tags, qubits=body.qubits,
                                            gates=body.gates, depth=body.depth, extra_metadata=body.extra_metadata)
            await self._set_tags(circuit.id, body.tags, replace=False)
        return await self.detail(await self._load(circuit.id), user.id)

    async def _set_tags(self, circuit_id: str, tags: list[str], *, replace: bool = True) -> None:
        if replace:
            await self.db.execute(CircuitTag.delete().where(CircuitTag.circuit == circuit_id))
        if tags:
            await self.db.execute(CircuitTag.insert_many([{"circuit": circuit_id, "tag": t} for t in tags]))

    async def update(self, user: User, circuit_id: str, body: CircuitUpdate) -> dict[str, Any]:
        circuit = await self._writable(user, circuit_id)
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if changes:
            changes["updated_at"] = utcnow()
            async with self._changing():
                await self.db.execute(Circuit.update(**changes).where(Circuit.id == circuit.id))
                if "tags" in changes:
                    await self._set_tags(circuit.id, changes["tags"])
        return await self.detail(await self._load(circuit.id), user.id)

    async def _blob_refs(self, circuit: Circuit) -> dict[str, int]:
        return await queries.blob_ref_counts(self.db, CircuitFile, CircuitVersion.circuit == circuit.id,
                                             via=CircuitVersion)

    # Stars and forks ---------------------------------------------------------------------
    async def fork(self, user: User, circuit_id: str, name: str | None) -> dict[str, Any]:
        src, name, taken = await self._fork_source(user, circuit_id, name)
        async with self._forking(user, src, taken) as (new_id_, now):
            versions = await self.db.list(
                CircuitVersion.select().where(CircuitVersion.circuit == src.id).order_by(CircuitVersion.version_number)
            )
            files = await self.db.list(
                CircuitFile.select().join(CircuitVersion).where(CircuitVersion.circuit == src.id)
            )
            await self.accounts.charge(owner_key(user.id), src.storage_bytes)
            await Circuit.acreate(
                id=new_id_, name=name, namespace_id=user.id, owner=user.id, organization=None,
                title=src.title, description=src.description, framework=src.framework, tags=src.tags,
                qubits=src.qubits, gates=src.gates, depth=src.depth, category=src.category,
                difficulty=src.difficulty, is_public=src.is_public, extra_metadata=src.extra_metadata,
                manifest=src.manifest, forked_from=src.id, storage_bytes=src.storage_bytes,
                created_at=now, updated_at=now,
            )
            await self._set_tags(new_id_, src.tags or [], replace=False)
            id_map: dict[str, str] = {}
            for v in versions:
                id_map[v.id] = new_id()
                await CircuitVersion.acreate(
                    id=id_map[v.id], circuit=new_id_, version_number=v.version_number, commit_hash=v.commit_hash,
                    parent_hash=v.parent_hash, tree_hash=v.tree_hash, commit_message=v.commit_message,
                    file_path=storage_path(new_id_, v.version_number, v.file_path.split("/", 3)[3]),
                    file_size=v.file_size, created_by=v.created_by_id, created_at=v.created_at,
                    git_commit=v.git_commit, git_objects=v.git_objects,
                )
            rows = [{"version": id_map[f.version_id], "path": f.path, "sha256": f.sha256, "size": f.size,
                     "kind": f.kind} for f in files]
            await self._copy_file_rows(CircuitFile, rows, (f.sha256 for f in files))
        return await self.detail(await self._load(new_id_), user.id)

    # Versions and files ------------------------------------------------------------------
    async def _tree(self, version_id: str | None) -> dict[str, TreeEntry]:
        if version_id is None:
            return {}
        rows = await self.db.list(CircuitFile.select().where(CircuitFile.version == version_id))
        return {r.path: TreeEntry(r.sha256, r.size, r.kind) for r in rows}

    async def _latest(self, circuit_id: str) -> CircuitVersion | None:
        return await self.db.first(
            CircuitVersion.select().where(CircuitVersion.circuit == circuit_id)
            .order_by(CircuitVersion.version_number.desc())
        )

    async def upload(self, user: User, circuit_id: str, files: AsyncIterable[IncomingFileLike],
                     message: str | None, *, batch: bool) -> UploadOutcome:
        """Stage every file, then create one version in one transaction.

        Single uploads fail as a whole (400/413/403); a batch reports per-file
        problems (bad name, kind, size) in ``errors`` and keeps the good files.
        An invalid manifest or the quota fails the whole request.
        """
        circuit = await self._writable(user, circuit_id)
        latest = await self._latest(circuit.id)
        snapshot = await self._tree(latest.id if latest else None)
        key = owner_key(circuit.owner_id, circuit.organization_id)
        remaining = await self.accounts.remaining(key)
        staged: dict[str, tuple[StagedBlob, str]] = {}
        errors: list[dict[str, str]] = []
        charged = 0
        try:
            async for incoming in files:
                try:
                    path = circuit_file_path(incoming.filename)
                    kind = file_kind(path)
                    if kind is None:
                        raise BadRequest(f"'{path}': file type not accepted; accepted: {ACCEPTED_KINDS}")
                    if path in staged:
                        raise BadRequest(f"'{path}' was uploaded twice in one request")
                    previous = snapshot.get(path)
                    budget = remaining - charged + (previous.size if previous else 0)
                    blob = await self.blobs.stage(
                        incoming.chunks, max_bytes=self.config.max_file_bytes, what=f"file '{path}'",
                        budget=max(budget, 0), over_budget=self.accounts.exceeded(),
                    )
                except ApiError as exc:
                    if not batch or exc.status == 403:
                        raise
                    errors.append({"filename": incoming.filename, "error": exc.detail})
                    async for _ in incoming.chunks:  # skip the rest of this part
                        pass
                    continue
                staged[path] = (blob, kind)
                if previous is None or previous.sha256 != blob.sha256:
                    charged += blob.size
            if not staged:
                if errors:
                    raise BadRequest("no file was accepted: " + "; ".join(e["error"] for e in errors))
                raise BadRequest(f"no file in the multipart field '{'files' if batch else 'file'}'")
            manifest = None
            if MANIFEST_NAME in staged:  # parsed off the event loop, before the transaction
                source = staged[MANIFEST_NAME][0].temp_path
                manifest = await asyncio.to_thread(lambda: parse_manifest(source.read_bytes()))
            outcome = await self._commit_version(user, circuit, key, staged, errors, message, batch=batch,
                                                 manifest=manifest)
        finally:
            for blob, _ in staged.values():
                blob.discard()
        commits = await self.git.ensure(circuit.id)
        outcome.version["git_commit"] = next(
            (i.sha for i in commits if i.version_number == outcome.version["version_number"]), None)
        return outcome

    async def _commit_version(self, user: User, circuit: Circuit, key: str, staged: dict[str, tuple[StagedBlob, str]],
                              errors: list[dict[str, str]], message: str | None, *, batch: bool,
                              manifest: Manifest | None = None) -> UploadOutcome:
        extra: list[StagedBlob] = []
        try:
            async with self._changing():
                if not await self.db.exists(Circuit.select().where(Circuit.id == circuit.id)):
                    raise NotFound("circuit not found")
                latest = await self._latest(circuit.id)
                prev_tree = await self._tree(latest.id if latest else None)
                tree = dict(prev_tree)
                uploaded = dict(staged)
                has_manifest = MANIFEST_NAME in uploaded or MANIFEST_NAME in prev_tree
                if has_manifest and METADATA_NAME in uploaded:
                    problem = f"{METADATA_NAME} is generated from {MANIFEST_NAME}; do not upload it"
                    if not batch or len(uploaded) == 1:
                        raise BadRequest(problem)
                    blob, _ = uploaded.pop(METADATA_NAME)
                    blob.discard()
                    errors.append({"filename": METADATA_NAME, "error": problem})
                for path, (blob, kind) in uploaded.items():
                    tree[path] = TreeEntry(blob.sha256, blob.size, kind)
                if manifest is not None:
                    check_entry_points(manifest, set(tree))
                    meta = await self.blobs.stage_bytes(generate_metadata(manifest))
                    extra.append(meta)
                    tree[METADATA_NAME] = TreeEntry(meta.sha256, meta.size, "metadata")
                changed = [p for p, e in tree.items() if p not in prev_tree or prev_tree[p].sha256 != e.sha256]
                charge = sum(tree[p].size for p in changed)
                await self.accounts.charge(key, charge)

                number = (latest.version_number + 1) if latest else 1
                t_hash = tree_hash(tree)
                parent = latest.commit_hash if latest else None
                primary = manifest.project.entry_point if manifest and manifest.project.entry_point in uploaded else next(iter(uploaded))
                version = await CircuitVersion.acreate(
                    id=new_id(), circuit=circuit.id, version_number=number,
                    commit_hash=commit_hash(t_hash, parent, message), parent_hash=parent, tree_hash=t_hash,
                    commit_message=message, file_path=storage_path(circuit.id, number, primary),
                    file_size=tree[primary].size, created_by=user.id, created_at=utcnow(),
                )
                rows = [{"version": version.id, "path": p, "sha256": e.sha256, "size": e.size, "kind": e.kind}
                        for p, e in sorted(tree.items())]
                for i in range(0, len(rows), 200):
                    await self.db.execute(CircuitFile.insert_many(rows[i:i + 200]))
                sizes = {b.sha256: b.size for b, _ in uploaded.values()}
                sizes.update({b.sha256: b.size for b in extra})
                await self.blobs.add_refs(Counter(e.sha256 for e in tree.values()), sizes)
                updates: dict[Any, Any] = {Circuit.updated_at: utcnow(), Circuit.storage_bytes: Circuit.storage_bytes + charge}
                if manifest is not None:
                    for name, value in manifest.circuit_fields().items():
                        updates[getattr(Circuit, name)] = value
                    updates[Circuit.manifest] = manifest.model_dump(mode="json", exclude_none=True)
                    if "tags" in manifest.project.model_fields_set:
                        await self._set_tags(circuit.id, manifest.project.tags)
                await self.db.execute(Circuit.update(updates).where(Circuit.id == circuit.id))
                await self.blobs.commit([b for b, _ in uploaded.values()] + extra)
        finally:
            for blob in extra:
                blob.discard()
        log.info("circuit.version_created", extra=fields(circuit_id=circuit.id, version=number, files=len(uploaded)))
        listed = [p for p in tree if p in uploaded or p == METADATA_NAME and manifest is not None]
        return UploadOutcome(
            version=self.version_dict(version, circuit.id),
            files=[self._file_entry(circuit.id, number, p, tree[p]) for p in listed],
            errors=errors,
        )

    @staticmethod
    def _file_entry(circuit_id: str, number: int, path: str, e: TreeEntry) -> dict[str, Any]:
        return {"name": path, "path": storage_path(circuit_id, number, path), "type": e.kind, "size": e.size,
                "sha256": e.sha256}

    async def list_files(self, who: Any, circuit_id: str, version: str | None,
                         ref: str | None = None) -> dict[str, Any]:
        circuit = await self.get_visible(who, circuit_id)
        if ref is not None:
            v = await self.version_by_ref(circuit.id, ref)
        elif version is None:
            v = await self._latest(circuit.id)
            if v is None:
                return {"files": [], "version": None, "version_number": None}
        else:
            number = int(version.lstrip("v"))
            v = await self.db.first(CircuitVersion.select().where(
                (CircuitVersion.circuit == circuit.id) & (CircuitVersion.version_number == number)))
            if v is None:
                raise NotFound(f"version {number} not found")
        tree = await self._tree(v.id)
        return {
            "files": [self._file_entry(circuit.id, v.version_number, p, tree[p]) for p in sorted(tree)],
            "version": f"v{v.version_number}", "version_number": v.version_number,
        }

    async def version_by_ref(self, circuit_id: str, ref: str) -> CircuitVersion:
        """A version by git commit sha (full, or a unique prefix of at least 7 hex digits), by
        number (``3``, ``v3``) or ``main``/``HEAD`` (the latest); 404 otherwise."""
        ref = ref.strip().lower()
        query = CircuitVersion.select().where(CircuitVersion.circuit == circuit_id)
        if ref in ("main", "head", "refs/heads/main"):
            v = await self._latest(circuit_id)
        elif re.fullmatch(r"v?[1-9][0-9]{0,8}", ref) and not re.fullmatch(r"[0-9a-f]{7,40}", ref):
            v = await self.db.first(query.where(CircuitVersion.version_number == int(ref.lstrip("v"))))
        elif re.fullmatch(r"[0-9a-f]{7,40}", ref):
            if await self.db.exists(query.where(CircuitVersion.git_commit.is_null())):
                await self.git.ensure(circuit_id)
            if len(ref) == 40:
                v = await self.db.first(query.where(CircuitVersion.git_commit == ref))
            else:
                hits = await self.db.list(query.where(
                    (CircuitVersion.git_commit >= ref) & (CircuitVersion.git_commit < ref + "g")).limit(2))
                v = hits[0] if len(hits) == 1 else None
            if v is None and re.fullmatch(r"[1-9][0-9]{0,8}", ref):
                v = await self.db.first(query.where(CircuitVersion.version_number == int(ref)))
        else:
            v = None
        if v is None:
            raise NotFound(f"revision '{ref[:64]}' not found")
        return v

    async def open_file(self, who: Any, file_path: str) -> StoredFile:
        """Find ``circuits/<id or owner/name>/v<N>/<path>``; 404 unless the caller may see it."""
        missing = NotFound("file not found")
        parts = file_path.split("/")
        if len(parts) < 4 or parts[0] != "circuits":
            raise missing
        circuit = None
        if UUID_RE.match(parts[1]) and VERSION_SEGMENT.match(parts[2]):
            circuit = await self._load(parts[1])
            number, rest = int(parts[2][1:]), parts[3:]
        elif len(parts) >= 5 and VERSION_SEGMENT.match(parts[3]):
            try:
                circuit = await self.resolve_quiet(who, f"{parts[1]}/{parts[2]}")
            except NotFound:
                circuit = None
            number, rest = int(parts[3][1:]), parts[4:]
        else:
            raise missing
        if circuit is None or not await permissions.can_read(self.db, who, circuit):
            raise missing
        path = "/".join(rest)
        row = await self.db.first(
            CircuitFile.select(CircuitFile.sha256, CircuitFile.size).join(CircuitVersion)
            .where((CircuitVersion.circuit == circuit.id) & (CircuitVersion.version_number == number)
                   & (CircuitFile.path == path))
        )
        if row is None:
            raise missing
        return StoredFile(row.sha256, row.size, path.rsplit("/", 1)[-1], circuit.is_public)

    async def resolve_quiet(self, who: Any, repo_name: str) -> Circuit:
        """Like :meth:`resolve` without counting a view; returns the model."""
        owner, _, name = repo_name.partition("/")
        name = name.lower()
        user = await User.aget_or_none(User.username == owner.lower())
        namespace = user.id if user else None
        if namespace is None:
            org = await Organization.aget_or_none((Organization.slug == owner.lower()) & (Organization.is_personal == False))  # noqa: E712
            namespace = org.id if org else None
        if namespace is None:
            raise NotFound("circuit not found")
        circuit = await self.db.first(self._query().where((Circuit.namespace_id == namespace) & (Circuit.name == name)))
        await permissions.ensure_readable(self.db, who, circuit, "circuit")
        return circuit

"""Git objects for circuit versions: each version is one git commit.

A version made by an upload gets a commit the server builds from the version itself:
its tree is the version's files (``metadata.json`` excluded when it is generated from a
``qubithub.toml``), mode 100644; author and committer are the uploader
(``name <username@users.noreply.qubithub-lite>``), the time is the version's time (UTC),
the message the commit message (``Version N`` when there is none), the parent the previous
version's commit. Built once and stored (``CircuitVersion.git_commit`` / ``git_objects``),
so the commit is the same after restarts, renames or a deleted cache.

A version made by ``git push`` stores the pushed commit and tree objects exactly as pushed.

``git_objects`` holds the version's raw commit and tree objects in git's loose-object
encoding (``<type> <size>\\0<data>`` each), zlib-compressed. Blob ids (sha1 of
``blob <size>\\0<content>``) of stored content are computed once (``git_blob`` table).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..db.circuits import CircuitFile, CircuitVersion, GitBlob
from ..db.models import User
from .manifest import MANIFEST_NAME, METADATA_NAME

EMAIL_DOMAIN = "users.noreply.qubithub-lite"
FILE_MODE = b"100644"
TREE_MODE = b"40000"
READ_CHUNK = 1024 * 1024


def object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)) + data).hexdigest()


def encode_objects(objects: list[tuple[str, bytes]]) -> bytes:
    return zlib.compress(b"".join(b"%s %d\0" % (k.encode(), len(d)) + d for k, d in objects))


def decode_objects(packed: bytes) -> list[tuple[str, bytes]]:
    raw = zlib.decompress(packed)
    out, pos = [], 0
    while pos < len(raw):
        nul = raw.index(b"\0", pos)
        kind, size = raw[pos:nul].split(b" ")
        start = nul + 1
        out.append((kind.decode(), raw[start:start + int(size)]))
        pos = start + int(size)
    return out


def _sort_key(entry: tuple[bytes, bytes, str]) -> bytes:
    mode, name, _ = entry
    return name + b"/" if mode == TREE_MODE else name


def build_trees(files: dict[str, str]) -> tuple[str, list[tuple[str, bytes]]]:
    """``path -> blob sha1`` to (root tree id, every tree object), git's canonical layout."""
    children: dict[str, dict[str, tuple[bytes, str | None]]] = defaultdict(dict)
    children[""]  # the root exists even when empty
    for path, sha in files.items():
        parts = path.split("/")
        for depth in range(len(parts) - 1):
            parent, name = "/".join(parts[:depth]), parts[depth]
            children[parent].setdefault(name, (TREE_MODE, None))
            children["/".join(parts[:depth + 1])]
        children["/".join(parts[:-1])][parts[-1]] = (FILE_MODE, sha)
    objects: list[tuple[str, bytes]] = []
    ids: dict[str, str] = {}
    for folder in sorted(children, key=lambda f: -f.count("/") if f else 1):
        entries = []
        for name, (mode, sha) in children[folder].items():
            if mode == TREE_MODE:
                sha = ids[f"{folder}/{name}" if folder else name]
            entries.append((mode, name.encode(), sha))
        data = b"".join(b"%s %s\0" % (m, n) + bytes.fromhex(s) for m, n, s in sorted(entries, key=_sort_key))
        ids[folder] = object_id("tree", data)
        objects.append(("tree", data))
    return ids[""], objects


def commit_object(tree: str, parent: str | None, name: str, email: str, when: int, message: str) -> bytes:
    person = f"{_clean(name)} <{_clean(email)}> {when} +0000"
    lines = [f"tree {tree}"] + ([f"parent {parent}"] if parent else []) + [f"author {person}", f"committer {person}"]
    if not message.endswith("\n"):
        message += "\n"
    return ("\n".join(lines) + "\n\n" + message).encode()


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch not in "<>\n\0").strip() or "unknown"


def git_paths(tree: dict[str, str]) -> dict[str, str]:
    """The files of a version that belong in its git tree (``path -> kind`` in, same out):
    ``metadata.json`` is generated when there is a manifest, so it stays out."""
    if MANIFEST_NAME in tree:
        return {p: k for p, k in tree.items() if p != METADATA_NAME}
    return dict(tree)


def _hash_file(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class CommitInfo:
    version_number: int
    sha: str


class GitObjects:
    """Computes and stores the commits of versions that have none yet (uploads)."""

    def __init__(self, db, blobs):
        self.db = db
        self.blobs = blobs
        self._locks: dict[str, asyncio.Lock] = {}

    async def blob_ids(self, sha256s: set[str]) -> dict[str, str]:
        """sha256 -> git blob id, hashing (off the event loop) content seen for the first time."""
        known: dict[str, str] = {}
        wanted = sorted(sha256s)
        for i in range(0, len(wanted), 500):
            rows = await self.db.list(GitBlob.select().where(GitBlob.sha256.in_(wanted[i:i + 500])))
            known.update({r.sha256: r.sha1 for r in rows})
        missing = [s for s in wanted if s not in known]
        for sha256 in missing:
            known[sha256] = await asyncio.to_thread(_hash_file, self.blobs.path_for(sha256))
        if missing:
            rows = [{"sha256": s, "sha1": known[s]} for s in missing]
            async with self.db.tx():
                for i in range(0, len(rows), 200):
                    await self.db.execute(GitBlob.insert_many(rows[i:i + 200]).on_conflict_ignore())
        return known

    async def ensure(self, circuit_id: str) -> list[CommitInfo]:
        """Every version's commit (building the missing ones, oldest first)."""
        lock = self._locks.setdefault(circuit_id, asyncio.Lock())
        async with lock:
            try:
                return await self._ensure(circuit_id)
            finally:
                if not lock._waiters:  # noqa: SLF001 - drop idle locks
                    self._locks.pop(circuit_id, None)

    async def _ensure(self, circuit_id: str) -> list[CommitInfo]:
        versions = await self.db.list(
            CircuitVersion.select(CircuitVersion.id, CircuitVersion.version_number, CircuitVersion.git_commit,
                                  CircuitVersion.commit_message, CircuitVersion.created_at, CircuitVersion.created_by)
            .where(CircuitVersion.circuit == circuit_id).order_by(CircuitVersion.version_number)
        )
        out: list[CommitInfo] = []
        parent: str | None = None
        for v in versions:
            if v.git_commit is None:
                v.git_commit = await self._build(v, parent)
            out.append(CommitInfo(v.version_number, v.git_commit))
            parent = v.git_commit
        return out

    async def _build(self, v: CircuitVersion, parent: str | None) -> str:
        rows = await self.db.list(CircuitFile.select(CircuitFile.path, CircuitFile.sha256, CircuitFile.kind)
                                  .where(CircuitFile.version == v.id))
        kinds = git_paths({r.path: r.kind for r in rows})
        sha256_of = {r.path: r.sha256 for r in rows if r.path in kinds}
        ids = await self.blob_ids(set(sha256_of.values()))
        root, trees = build_trees({p: ids[s] for p, s in sha256_of.items()})
        user = await User.aget_or_none(User.id == v.created_by_id) if v.created_by_id else None
        name = (user.name or user.username) if user else "unknown"
        email = f"{user.username}@{EMAIL_DOMAIN}" if user else f"unknown@{EMAIL_DOMAIN}"
        created = v.created_at
        when = int((created if created.tzinfo else created.replace(tzinfo=dt.timezone.utc)).timestamp())
        data = commit_object(root, parent, name, email, when, v.commit_message or f"Version {v.version_number}")
        sha = object_id("commit", data)
        async with self.db.tx():
            await self.db.execute(CircuitVersion.update(git_commit=sha, git_objects=encode_objects([("commit", data)] + trees))
                                  .where((CircuitVersion.id == v.id) & CircuitVersion.git_commit.is_null()))
        return sha

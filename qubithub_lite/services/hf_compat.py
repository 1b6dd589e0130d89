"""A Hugging Face Hub–compatible, read-only view of circuits (as models), datasets and spaces
(served under ``/hf`` by ``api/hf.py``; ``HF_ENDPOINT=http://HOST:8000/hf``).

Revisions: ``main`` (the latest), a version number (``3`` or ``v3``), or a commit id (40 hex
digits, or a unique prefix of at least 7). A circuit's commit ids are its versions' git commits;
a dataset version's is ``sha1("qubithub-dataset:<id>:<version>:<sha256>")``; a space (not
versioned) has one revision, ``sha1`` of its file list. File ids (``oid``) are git blob ids.
Visibility is the platform's: an invisible repository is "not found" (anonymous callers get
the same 401 for private and nonexistent ones).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ..db import repos
from ..errors import NotFound, Unauthorized
from . import access

KINDS = ("models", "datasets", "spaces")
SCOPES = {"models": "circuit:read", "datasets": "dataset:read", "spaces": "space:read"}
MAX_PAGE = 1000
HEX = re.compile(r"^[0-9a-f]{7,40}$")
NUMBER = re.compile(r"^v?([1-9][0-9]{0,8})$")


class HfNotFound(NotFound):
    def __init__(self, code: str, detail: str):
        super().__init__(detail, headers={"X-Error-Code": code})


@dataclass
class HfFile:
    path: str
    sha256: str
    size: int


@dataclass
class Revision:
    sha: str
    files: dict[str, HfFile]
    created_at: dt.datetime
    message: str
    number: int | None = None
    version_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def dataset_commit(dataset_id: str, number: int, sha256: str) -> str:
    return _sha1(f"qubithub-dataset:{dataset_id}:{number}:{sha256}")


class HfCompat:
    def __init__(self, db, circuits, datasets, spaces):
        self.db = db
        self.circuits = circuits
        self.datasets = datasets
        self.spaces = spaces

    def _service(self, kind: str):
        return {"models": self.circuits, "datasets": self.datasets, "spaces": self.spaces}[kind]

    # Repositories and revisions -----------------------------------------------------------
    async def repo(self, kind: str, who, owner: str, name: str):
        service = self._service(kind)
        namespace = await repos.namespace_id(self.db, owner)
        resource = None
        if namespace is not None:
            model = service.model
            resource = await self.db.first(service._query().where(
                (model.namespace_id == namespace) & (model.name == name.lower())))
        if resource is None or not await access.can_read(self.db, who, resource):
            what = f"repository '{owner}/{name}' not found"
            if who is None:
                raise Unauthorized(what + " (private repositories need a token)", headers={"X-Error-Code": "RepoNotFound"})
            raise HfNotFound("RepoNotFound", what)
        return resource

    async def revisions(self, kind: str, resource) -> list[Revision]:
        """Every revision of a repository, oldest first (files loaded lazily for circuits)."""
        if kind == "models":
            await self.circuits.git.ensure(resource.id)
            return [Revision(v.git_commit, {}, v.created_at, v.commit_message or f"Version {v.version_number}",
                             v.version_number, v.id, {"author": v.created_by_id})
                    for v in await repos.circuit_versions(self.db, resource.id)]
        if kind == "datasets":
            return [Revision(dataset_commit(resource.id, v.version_number, v.sha256),
                             {v.file_name: HfFile(v.file_name, v.sha256, v.file_size)}, v.created_at,
                             v.commit_message or f"Version {v.version_number}", v.version_number, v.id,
                             {"author": v.created_by_id})
                    for v in await repos.dataset_versions(self.db, resource.id)]
        files = await repos.space_files(self.db, resource.id)
        listing = "".join(f"{f.path}\0{f.sha256}\n" for f in files)
        latest = max((f.updated_at for f in files), default=resource.updated_at)
        return [Revision(_sha1(f"qubithub-space:{resource.id}:{listing}"),
                         {f.path: HfFile(f.path, f.sha256, f.size) for f in files}, latest, "Current files")]

    async def revision(self, kind: str, resource, rev: str) -> Revision:
        revisions = await self.revisions(kind, resource)
        wanted = (rev or "main").strip()
        found: Revision | None = None
        if wanted.lower() in ("main", "head", "refs/heads/main"):
            found = revisions[-1] if revisions else Revision(_sha1(f"qubithub-empty:{resource.id}"), {},
                                                            resource.created_at, "Empty repository")
        else:
            low = wanted.lower()
            if HEX.match(low):
                hits = [r for r in revisions if r.sha.startswith(low)]
                found = hits[0] if len(hits) == 1 else None
            if found is None and NUMBER.match(low):
                number = int(NUMBER.match(low).group(1))
                found = next((r for r in revisions if r.number == number), None)
        if found is None:
            raise HfNotFound("RevisionNotFound", f"revision '{wanted[:64]}' not found")
        if kind == "models" and not found.files and found.version_id:
            found.files = {p: HfFile(p, s, n) for p, s, n in await repos.circuit_files(self.db, found.version_id)}
        return found

    # Answers -------------------------------------------------------------------------------
    async def info(self, kind: str, who, owner: str, name: str, rev: str | None) -> dict[str, Any]:
        resource = await self.repo(kind, who, owner, name)
        revision = await self.revision(kind, resource, rev or "main")
        repo_name = self._service(kind).repo_name(resource)
        out: dict[str, Any] = {
            "_id": resource.id, "id": repo_name, "author": repo_name.split("/")[0], "sha": revision.sha,
            "lastModified": _iso(revision.created_at), "createdAt": _iso(resource.created_at),
            "private": not resource.is_public, "gated": False, "disabled": False,
            "likes": resource.stars_count, "tags": list(getattr(resource, "tags", None) or []),
            "description": resource.description, "cardData": None,
            "siblings": [{"rfilename": p, "size": f.size} for p, f in sorted(revision.files.items())],
        }
        if kind == "models":
            out.update(modelId=repo_name, library_name=resource.framework, pipeline_tag=None,
                       downloads=resource.runs_count)
        elif kind == "datasets":
            out.update(downloads=resource.downloads_count)
        else:
            out.update(sdk=resource.sdk, runtime=None)
        return out

    async def _oids(self, files: list[HfFile]) -> dict[str, str]:
        return await self.circuits.git.blob_ids({f.sha256 for f in files})

    async def tree(self, kind: str, who, owner: str, name: str, rev: str, path: str,
                   *, recursive: bool, offset: int, limit: int, expand: bool) -> tuple[list[dict], bool]:
        """One page of the listing of ``path`` and whether more follow."""
        resource = await self.repo(kind, who, owner, name)
        revision = await self.revision(kind, resource, rev)
        prefix = path.strip("/")
        if prefix and prefix in revision.files:
            raise HfNotFound("EntryNotFound", f"'{prefix}' is a file, not a folder")
        under = {p: f for p, f in revision.files.items() if not prefix or p.startswith(prefix + "/")}
        if prefix and not under:
            raise HfNotFound("EntryNotFound", f"folder '{prefix}' not found at revision {revision.sha}")
        entries: dict[str, HfFile | None] = {}
        base = len(prefix) + 1 if prefix else 0
        for p, f in under.items():
            parts = p[base:].split("/")
            for depth in range(1, len(parts)):
                folder = p[:base] + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, None)
            if recursive or len(parts) == 1:
                entries[p] = f
        ordered = sorted(entries)
        page = ordered[offset:offset + limit]
        files = [entries[p] for p in page if entries[p] is not None]
        oids = await self._oids(files)  # type: ignore[arg-type]
        out = [self._entry(p, entries[p], oids, revision, revision.files, expand) for p in page]
        return out, offset + limit < len(ordered)

    def _entry(self, path: str, f: HfFile | None, oids: dict[str, str], revision: Revision,
               all_files: dict[str, HfFile], expand: bool) -> dict[str, Any]:
        if f is not None:
            entry: dict[str, Any] = {"type": "file", "oid": oids[f.sha256], "size": f.size, "path": path}
        else:
            listing = "".join(f"{p}\0{x.sha256}\n" for p, x in sorted(all_files.items()) if p.startswith(path + "/"))
            entry = {"type": "directory", "oid": _sha1(f"tree:{listing}"), "size": 0, "path": path}
        if expand:
            entry["lastCommit"] = {"id": revision.sha, "title": revision.message.split("\n", 1)[0],
                                   "date": _iso(revision.created_at)}
        return entry

    async def paths_info(self, kind: str, who, owner: str, name: str, rev: str, paths: list[str],
                         *, expand: bool) -> list[dict]:
        resource = await self.repo(kind, who, owner, name)
        revision = await self.revision(kind, resource, rev)
        found: list[tuple[str, HfFile | None]] = []
        for raw in paths[:MAX_PAGE]:
            p = raw.strip("/")
            if p in revision.files:
                found.append((p, revision.files[p]))
            elif p and any(x.startswith(p + "/") for x in revision.files):
                found.append((p, None))
        oids = await self._oids([f for _, f in found if f is not None])
        return [self._entry(p, f, oids, revision, revision.files, expand) for p, f in found]

    async def commits(self, kind: str, who, owner: str, name: str, rev: str) -> list[dict]:
        resource = await self.repo(kind, who, owner, name)
        target = await self.revision(kind, resource, rev)
        revisions = await self.revisions(kind, resource)
        upto = [r for r in revisions if r.number is None or target.number is None or r.number <= target.number]
        return [{"id": r.sha, "title": r.message.split("\n", 1)[0], "message": r.message,
                 "date": _iso(r.created_at), "authors": []} for r in reversed(upto)]

    async def resolve(self, kind: str, who, owner: str, name: str, rev: str, path: str):
        """(resource, revision, file) for ``resolve/{rev}/{path}``."""
        resource = await self.repo(kind, who, owner, name)
        revision = await self.revision(kind, resource, rev)
        f = revision.files.get(path.strip("/"))
        if f is None:
            raise HfNotFound("EntryNotFound", f"'{path[:200]}' not found at revision {revision.sha}")
        return resource, revision, f

"""Circuits as git repositories, served by the system ``git`` (``upload-pack`` /
``receive-pack --stateless-rpc``, run as subprocesses, streamed, off the event loop).

Repositories are derived data: ``<data dir>/git-cache/<circuit id>.git`` is a bare repository
materialized lazily from the database and the blob store (each version's stored commit and
tree objects, its files' bytes) whenever it is behind the latest version; deleting the cache
loses nothing.

A push is received into a throw-away repository (``git-cache/tmp/push-*``) that borrows the
cache's objects (``objects/info/alternates``), with ``receive.fsckObjects``,
``receive.maxInputSize`` and a ``pre-receive`` hook (``git_hook.py``) that validates every
commit. The hook hands its plan back; :meth:`GitRepos.store_push` creates one version per
commit in one transaction (or refuses with the reason, which git shows as ``remote: …``).
Only then does git accept the push; the cache catches up from what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from ..config import GitConfig, StorageConfig
from ..db.circuits import Circuit, CircuitFile, CircuitVersion, GitBlob
from ..db.fields import new_id, utcnow
from ..db.models import User
from ..errors import ApiError, BadRequest, Conflict, NotFound
from ..logs import fields
from ..storage import owner_key
from .circuits import Circuits, TreeEntry, commit_hash, file_kind, storage_path, tree_hash
from .git_objects import decode_objects, git_paths, object_id
from .manifest import MANIFEST_NAME, METADATA_NAME, generate_metadata, parse_manifest

log = logging.getLogger(__name__)

ZERO = "0" * 40
HOOK = """#!/bin/sh
exec "{python}" -m qubithub_lite.services.git_hook
"""


class GitUnavailable(ApiError):
    status = 503
    default_detail = "git is not installed on this server"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", HOME="/nonexistent", GIT_TERMINAL_PROMPT="0")
    # mmap windows well under the address-space cap of run_service
    env.update(GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_0="core.packedGitLimit", GIT_CONFIG_VALUE_0="256m",
               GIT_CONFIG_KEY_1="core.packedGitWindowSize", GIT_CONFIG_VALUE_1="32m")
    return env


def _write_loose(objects_dir: Path, kind: str, data: bytes) -> str:
    sha = object_id(kind, data)
    path = objects_dir / sha[:2] / sha[2:]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_obj_")
        with os.fdopen(fd, "wb") as fh:
            fh.write(zlib.compress(b"%s %d\0" % (kind.encode(), len(data)) + data))
        os.replace(tmp, path)
    return sha


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class GitRepos:
    def __init__(self, circuits: Circuits, config: GitConfig, storage: StorageConfig, cache_dir: Path):
        self.circuits = circuits
        self.db = circuits.db
        self.blobs = circuits.blobs
        self.config = config
        self.storage = storage
        self.cache = Path(cache_dir)
        self.git = shutil.which("git")
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._locks: dict[str, asyncio.Lock] = {}

    def discard_cut_off_pushes(self) -> None:
        """At a server's start: the temporary trees of pushes a restart cut off."""
        shutil.rmtree(self.cache / "tmp", ignore_errors=True)

    def available(self) -> None:
        if self.git is None:
            raise GitUnavailable()

    # Materializing --------------------------------------------------------------------
    async def _run(self, *args: str, cwd: Path | None = None, data: bytes | None = None) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            self.git, *args, cwd=cwd, env=_git_env(), stdin=asyncio.subprocess.PIPE if data is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(data)
        if proc.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed: {err.decode(errors='replace')[:300]}")
        return out

    async def _init(self, repo: Path) -> None:
        tmp = Path(tempfile.mkdtemp(dir=repo.parent, prefix=".init-"))
        await self._run("init", "--bare", "--quiet", "--initial-branch=main", str(tmp))
        shutil.rmtree(tmp / "hooks", ignore_errors=True)  # no sample hooks in derived repositories
        try:
            os.rename(tmp, repo)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)

    async def materialize(self, circuit_id: str) -> Path:
        """The circuit's bare repository in the cache, with ``main`` at the latest version."""
        self.available()
        lock = self._locks.setdefault(circuit_id, asyncio.Lock())
        async with lock:
            return await self._materialize(circuit_id)

    async def _materialize(self, circuit_id: str) -> Path:
        commits = await self.circuits.git.ensure(circuit_id)
        self.cache.mkdir(parents=True, exist_ok=True)
        repo = self.cache / f"{circuit_id}.git"
        if not (repo / "HEAD").exists():
            await self._init(repo)
        ref = repo / "refs" / "heads" / "main"
        latest = commits[-1].sha if commits else None
        current = ref.read_text().strip() if ref.exists() else None
        if current == latest:
            return repo
        objects = repo / "objects"
        missing = [c for c in commits if not (objects / c.sha[:2] / c.sha[2:]).exists()]
        if missing:
            await self._write_versions(circuit_id, objects, {c.version_number for c in missing})
        if latest is None:
            ref.unlink(missing_ok=True)
        else:
            ref.parent.mkdir(parents=True, exist_ok=True)
            _write_text(ref, latest + "\n")
        return repo

    async def _write_versions(self, circuit_id: str, objects: Path, numbers: set[int]) -> None:
        versions = await self.db.list(
            CircuitVersion.select(CircuitVersion.id, CircuitVersion.version_number, CircuitVersion.git_objects)
            .where((CircuitVersion.circuit == circuit_id) & CircuitVersion.version_number.in_(sorted(numbers))))
        files = await self.db.list(
            CircuitFile.select(CircuitFile.path, CircuitFile.sha256, CircuitFile.kind, CircuitFile.version)
            .where(CircuitFile.version.in_([v.id for v in versions])))
        by_version: dict[str, dict[str, tuple[str, str]]] = {}
        for f in files:
            by_version.setdefault(f.version_id, {})[f.path] = (f.sha256, f.kind)
        needed: set[str] = set()
        for tree in by_version.values():
            kinds = git_paths({p: k for p, (_, k) in tree.items()})
            needed.update(tree[p][0] for p in kinds)
        ids = await self.circuits.git.blob_ids(needed)
        todo = [(s, ids[s]) for s in sorted(needed) if not (objects / ids[s][:2] / ids[s][2:]).exists()]
        if todo:
            paths = "".join(f"{self.blobs.path_for(s)}\n" for s, _ in todo).encode()
            out = await self._run("--git-dir", str(objects.parent), "hash-object", "-w", "--no-filters",
                                  "--stdin-paths", data=paths)
            written = out.decode().split()
            if written != [sha1 for _, sha1 in todo]:
                raise RuntimeError(f"stored content of circuit {circuit_id} does not match its git blob ids")

        def write_trees_and_commits() -> None:
            for v in versions:
                for kind, data in decode_objects(v.git_objects):
                    _write_loose(objects, kind, data)

        await asyncio.to_thread(write_trees_and_commits)

    # Running git ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            yield

    async def run_service(self, args: list[str], *, env: dict[str, str], body: AsyncIterator[bytes],
                          write: Callable[[bytes], Awaitable[None]], limit: int,
                          side_task: Callable[[], Awaitable[None]] | None = None) -> int:
        """Run ``git <args>``: ``body`` streamed to stdin (cut at ``limit`` bytes), stdout
        streamed to ``write``. Killed past the time limit or when the client goes away; its
        address space is capped (``[git] max_process_memory_bytes``), so a hostile pack that
        inflates without bound fails inside git instead of exhausting the machine."""
        memory = self.config.max_process_memory_bytes

        def cap() -> None:  # in the child, before exec
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        proc = await asyncio.create_subprocess_exec(
            self.git, *args, env={**_git_env(), **env}, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=cap)

        async def feed() -> None:
            sent = 0
            try:
                async for chunk in body:
                    sent += len(chunk)
                    if sent > limit:
                        break
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError, ApiError):
                pass  # git reports the cut-off input on its own channel
            finally:
                with contextlib.suppress(Exception):
                    proc.stdin.close()

        async def pump() -> None:
            while chunk := await proc.stdout.read(65536):
                await write(chunk)

        async def errors() -> bytes:
            return (await proc.stderr.read(65536))

        tasks = [asyncio.ensure_future(feed()), asyncio.ensure_future(pump())]
        err_task = asyncio.ensure_future(errors())
        side = asyncio.ensure_future(side_task()) if side_task else None
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), self.config.timeout_seconds)
            code = await asyncio.wait_for(proc.wait(), self.config.timeout_seconds)
        except asyncio.TimeoutError:
            log.warning("git.timeout", extra=fields(service=args[-2] if len(args) > 1 else args[0],
                                                    seconds=self.config.timeout_seconds))
            code = -1
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for t in tasks + [err_task] + ([side] if side else []):
                t.cancel()
        err = b""
        if err_task.done() and not err_task.cancelled():
            err = err_task.result()
        if code != 0:
            log.info("git.service_failed", extra=fields(service=args[-2] if len(args) > 1 else args[0], code=code,
                                                        stderr=err.decode(errors="replace")[:300]))
        return code

    # Pushing ------------------------------------------------------------------------
    async def prepare_push(self, circuit: Circuit) -> tuple[Path, Path, dict[str, str]]:
        """(work dir, the push repository, extra git env) for one ``git-receive-pack`` request."""
        cache_repo = await self.materialize(circuit.id)
        root = self.cache / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=root, prefix="push-"))
        repo = work / "repo.git"
        await self._run("init", "--bare", "--quiet", "--initial-branch=main", str(repo))
        shutil.rmtree(repo / "hooks", ignore_errors=True)
        (repo / "objects" / "info" / "alternates").write_text(str((cache_repo / "objects").resolve()) + "\n")
        head_ref = cache_repo / "refs" / "heads" / "main"
        head = head_ref.read_text().strip() if head_ref.exists() else None
        if head:
            (repo / "refs" / "heads" / "main").write_text(head + "\n")
        hooks = work / "hooks"
        hooks.mkdir()
        (hooks / "pre-receive").write_text(HOOK.format(python=sys.executable))
        (hooks / "pre-receive").chmod(0o700)
        latest = await self.circuits._latest(circuit.id)
        head_files: dict[str, str] = {}
        if latest is not None:
            tree = await self.circuits._tree(latest.id)
            kinds = git_paths({p: e.kind for p, e in tree.items()})
            ids = await self.circuits.git.blob_ids({tree[p].sha256 for p in kinds})
            head_files = {p: ids[tree[p].sha256] for p in kinds}
        key = owner_key(circuit.owner_id, circuit.organization_id)
        limits = {
            "head": head, "head_files": head_files, "max_commits": self.config.max_push_commits,
            "max_entries": self.config.max_tree_entries, "max_file_bytes": self.storage.max_file_bytes,
            "quota_remaining": await self.circuits.accounts.remaining(key),
            "verdict_timeout": self.config.timeout_seconds,
        }
        (work / "limits.json").write_text(json.dumps(limits))
        env = {"QH_PUSH_WORK": str(work)}
        args = ["-c", f"core.hooksPath={hooks}", "-c", "receive.fsckObjects=true",
                "-c", f"receive.maxInputSize={self.config.max_push_bytes}", "-c", "receive.denyDeletes=true",
                "-c", "receive.denyNonFastForwards=true", "-c", "receive.advertisePushOptions=false",
                "-c", "core.logAllRefUpdates=false", "-c", "gc.auto=0", "-c", "receive.unpackLimit=1",
                "-c", "core.deltaBaseCacheLimit=32m", "-c", "core.bigFileThreshold=16m",
                "receive-pack", "--stateless-rpc", str(repo)]
        return work, repo, {"args": args, **env}

    async def await_plan(self, user: User, circuit: Circuit, work: Path) -> None:
        """Wait for the hook's plan; store it (or refuse) and tell the hook the verdict."""
        plan_path = work / "plan.json"
        while not plan_path.exists():
            await asyncio.sleep(0.02)
        try:
            plan = await asyncio.to_thread(lambda: json.loads(plan_path.read_text()))
            await self.store_push(user, circuit, plan, work)
            verdict = "ok"
        except ApiError as exc:
            verdict = exc.detail
        except Exception:
            log.exception("git.push_store_failed", extra=fields(circuit_id=circuit.id))
            verdict = "the server could not store the push"
        _write_text(work / "verdict", verdict)

    async def store_push(self, user: User, circuit: Circuit, plan: dict[str, Any], work: Path) -> None:
        """One version per pushed commit, in one transaction, through the upload rules."""
        circuits = self.circuits
        staged = {}
        extra = []
        try:
            for blob_file in sorted((work / "blobs").iterdir()) if (work / "blobs").exists() else []:
                async def chunks(path=blob_file):
                    with open(path, "rb") as fh:
                        while data := await asyncio.to_thread(fh.read, 1024 * 1024):
                            yield data
                staged[blob_file.name] = await self.blobs.stage(
                    chunks(), max_bytes=self.storage.max_file_bytes, what=f"blob {blob_file.name[:12]}")
            known_rows = await self.db.list(GitBlob.select().where(GitBlob.sha1.in_(
                sorted({f["sha1"] for c in plan["commits"] for f in c["files"]} - set(staged)))))
            sha256_of = {r.sha1: r.sha256 for r in known_rows}
            sizes: dict[str, int] = {}
            for sha1, blob in staged.items():
                sha256_of[sha1] = blob.sha256
                sizes[blob.sha256] = blob.size
            temp_paths = {b.sha256: b.temp_path for b in staged.values()}
            key = owner_key(circuit.owner_id, circuit.organization_id)
            async with circuits._changing():
                if not await self.db.exists(Circuit.select().where(Circuit.id == circuit.id)):
                    raise NotFound("circuit not found")
                latest = await circuits._latest(circuit.id)
                if (latest.git_commit if latest else None) != plan["old"]:
                    raise Conflict("main has moved on the server; fetch and rebase first")
                prev_tree = await circuits._tree(latest.id if latest else None)
                number = latest.version_number if latest else 0
                parent = latest.commit_hash if latest else None
                manifest = None
                total_charge = 0
                refs: Counter[str] = Counter()
                for commit in plan["commits"]:
                    number += 1
                    this_manifest = None
                    tree: dict[str, TreeEntry] = {}
                    for f in commit["files"]:
                        if f["sha1"] not in sha256_of:
                            raise NotFound(f"content of '{f['path']}' is missing")
                        kind = file_kind(f["path"])
                        if kind is None:  # the hook refuses these; never store an unchecked file
                            raise BadRequest(f"'{f['path']}': file type not accepted")
                        tree[f["path"]] = TreeEntry(sha256_of[f["sha1"]], f["size"], kind)
                    if MANIFEST_NAME in tree:
                        sha = tree[MANIFEST_NAME].sha256
                        m_path = temp_paths.get(sha) or self.blobs.path_for(sha)
                        this_manifest = manifest = parse_manifest(
                            await asyncio.to_thread(Path(m_path).read_bytes), tree_paths=set(tree))
                        meta = await self.blobs.stage_bytes(generate_metadata(this_manifest))
                        extra.append(meta)
                        sizes[meta.sha256] = meta.size
                        tree[METADATA_NAME] = TreeEntry(meta.sha256, meta.size, "metadata")
                    changed = [p for p, e in tree.items() if p not in prev_tree or prev_tree[p].sha256 != e.sha256]
                    charge = sum(tree[p].size for p in changed)
                    await circuits.accounts.charge(key, charge)
                    total_charge += charge
                    t_hash = tree_hash(tree)
                    message = commit["message"] or None
                    c_hash = commit_hash(t_hash, parent, message)
                    entry = this_manifest.project.entry_point if this_manifest else sorted(
                        p for p in tree if p != METADATA_NAME)[0]
                    version_id = new_id()
                    objects = await asyncio.to_thread((work / "objects" / commit["sha"]).read_bytes)
                    await CircuitVersion.acreate(
                        id=version_id, circuit=circuit.id, version_number=number, commit_hash=c_hash,
                        parent_hash=parent, tree_hash=t_hash, commit_message=message,
                        file_path=storage_path(circuit.id, number, entry), file_size=tree[entry].size,
                        created_by=user.id, created_at=utcnow(), git_commit=commit["sha"], git_objects=objects,
                    )
                    rows = [{"version": version_id, "path": p, "sha256": e.sha256, "size": e.size, "kind": e.kind}
                            for p, e in sorted(tree.items())]
                    for i in range(0, len(rows), 200):
                        await self.db.execute(CircuitFile.insert_many(rows[i:i + 200]))
                    refs.update(e.sha256 for e in tree.values())
                    prev_tree, parent = tree, c_hash
                await self.blobs.add_refs(refs, sizes)
                mapping = [{"sha256": b.sha256, "sha1": s} for s, b in staged.items()]
                for i in range(0, len(mapping), 200):
                    await self.db.execute(GitBlob.insert_many(mapping[i:i + 200]).on_conflict_ignore())
                updates: dict[Any, Any] = {Circuit.updated_at: utcnow(),
                                           Circuit.storage_bytes: Circuit.storage_bytes + total_charge}
                if manifest is not None:
                    for name, value in manifest.circuit_fields().items():
                        updates[getattr(Circuit, name)] = value
                    updates[Circuit.manifest] = manifest.model_dump(mode="json", exclude_none=True)
                    if "tags" in manifest.project.model_fields_set:  # an absent key keeps the stored tags
                        await circuits._set_tags(circuit.id, manifest.project.tags)
                await self.db.execute(Circuit.update(updates).where(Circuit.id == circuit.id))
                await self.blobs.commit(list(staged.values()) + extra)
        finally:
            for blob in list(staged.values()) + extra:
                blob.discard()
        log.info("circuit.pushed", extra=fields(circuit_id=circuit.id, versions=len(plan["commits"]), user_id=user.id))

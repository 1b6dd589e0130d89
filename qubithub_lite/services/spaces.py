"""Spaces: interactive code environments with files, stars, forks, and sandboxed
execution and circuit visualization.

Visibility, naming and organization rules are those of circuits (``access``):
a name is unique per namespace (the organization, else the owner); private
spaces do not exist for strangers (404). Changing a space, its files, and
running code in it (execute/visualize) need write access: the owner or a
member of the space's organization; deleting needs the owner or an
organization owner/admin.

Files: each ``SpaceFile`` row references one blob of the shared content-addressed
store (``hub.blobs``) — forks copy the rows and add references, never bytes.
Names go through ``storage.safe_relative_path``; sizes are capped by
``[storage] max_file_bytes``; bytes are charged to the owner's storage quota
(the organization's for organization spaces).

Execution: the space's files are written to a fresh sandbox work dir and the
code runs on a warm interpreter that already imported the space's SDK.
:class:`ExecutionSlots` caps calls running at once per user and overall; a call
over a cap waits up to ``[spaces] queue_wait_seconds`` and then gets a 429 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections import Counter
from typing import Any, AsyncIterator, Callable

from peewee import IntegrityError

from ..config import SpacesConfig, StorageConfig
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import User
from ..db.spaces import Space, SpaceFile
from ..errors import ApiError, BadRequest, Conflict, NotFound, PayloadTooLarge, ServiceUnavailable, TooManyRequests
from ..logs import fields
from ..sandbox import Sandbox, SandboxResult, SandboxUnavailable
from ..schemas.spaces import (
    SORT_FIELDS, ExecuteRequest, SpaceCreate, SpaceListQuery, SpaceUpdate, VisualizeRequest,
)
from ..storage import BlobStore, StagedBlob, StorageAccounts, owner_key, safe_relative_path
from ..db import execution_slots
from ..db import resources as queries
from . import access, permissions, social
from .resources import IncomingFileLike, ResourceService, sort_order
from .svg_safety import UnsafeSvg, check_svg
from .visualize import (
    CODE_FILE, DRIVER_SOURCE, EXECUTE_PRELOAD, STATUS_FILE, SVG_FILE, VISUALIZE_PRELOAD, detect_framework,
)

log = logging.getLogger(__name__)

TARGET = "space"
UUID_RE = access.UUID_RE
LIMIT_TEXT = {
    "memory": "memory limit exceeded",
    "processes": "process/thread limit exceeded",
    "file_size": "file-size limit exceeded",
    "output": "too much output (the job was stopped)",
    "cpu": "CPU-time limit exceeded",
    "disk": "work-dir disk quota exceeded",
}


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


# Concurrency ------------------------------------------------------------------------------
class ExecutionSlots:
    """At most ``overall`` calls at once, at most ``per_user`` of them by one user.

    A call over a cap waits (fairly enough: whoever is woken first and fits goes)
    for up to ``wait_seconds``, then gets :class:`TooManyRequests`.
    """

    def __init__(self, overall: int, per_user: int, wait_seconds: float):
        self.overall = overall
        self.per_user = per_user
        self.wait_seconds = wait_seconds
        self.running = 0
        self.by_user: Counter[str] = Counter()
        self._cond: asyncio.Condition | None = None

    def _fits(self, user_id: str) -> bool:
        return self.running < self.overall and self.by_user[user_id] < self.per_user

    @contextlib.asynccontextmanager
    async def slot(self, user_id: str) -> AsyncIterator[None]:
        if self._cond is None:
            self._cond = asyncio.Condition()
        cond = self._cond
        async with cond:
            if not self._fits(user_id):
                try:
                    async with asyncio.timeout(self.wait_seconds):
                        await cond.wait_for(lambda: self._fits(user_id))
                except TimeoutError:
                    mine = self.by_user[user_id] >= self.per_user
                    raise TooManyRequests(
                        f"too many code executions running {'for you' if mine else 'on this server'} "
                        f"(limit {self.per_user if mine else self.overall}); try again shortly",
                        retry_after=max(1, round(self.wait_seconds) or 5),
                    ) from None
            self.running += 1
            self.by_user[user_id] += 1
        try:
            yield
        finally:
            async with cond:
                self.running -= 1
                self.by_user[user_id] -= 1
                if self.by_user[user_id] <= 0:
                    del self.by_user[user_id]
                cond.notify_all()


class SharedExecutionSlots(ExecutionSlots):
    """:class:`ExecutionSlots` for several API processes on one PostgreSQL database: the
    per-user cap is decided in the database (a row per running call, ``db.execution_slots``),
    so a user's calls through every process together stay within it; the overall cap stays per
    process (it guards this host's sandbox and CPU).

    A held slot's row is renewed every ``ttl / 3`` seconds; a process killed mid-call leaves a
    row that stops counting within ``ttl``. A call over the cap polls for a free slot (every
    ``POLL`` seconds) for up to ``wait_seconds``, then gets the same 429 as in one process."""

    TTL = 30.0
    POLL = 0.2

    def __init__(self, db: Db, overall: int, per_user: int, wait_seconds: float):
        super().__init__(overall, per_user, wait_seconds)
        self.db = db

    def _fits(self, user_id: str) -> bool:  # the per-user part is the database's
        return self.running < self.overall

    async def _take_shared(self, user_id: str, slot_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while not await execution_slots.take(self.db, slot_id, user_id, self.per_user, self.TTL):
            if loop.time() + self.POLL > deadline:
                raise TooManyRequests(
                    f"too many code executions running for you (limit {self.per_user}); try again shortly",
                    retry_after=max(1, round(self.wait_seconds) or 5),
                )
            async with self.db.idle():  # waiting: no pooled connection held
                await asyncio.sleep(self.POLL)

    async def _renew(self, slot_id: str) -> None:
        while True:
            await asyncio.sleep(self.TTL / 3)
            try:
                async with self.db.scope():
                    await execution_slots.renew(self.db, slot_id, self.TTL)
            except Exception:  # the next beat retries; the row outlives a missed one
                log.warning("space.slot_renew_failed", exc_info=True)

    @contextlib.asynccontextmanager
    async def slot(self, user_id: str) -> AsyncIterator[None]:
        slot_id = new_id()
        await self._take_shared(user_id, slot_id)
        renewing: asyncio.Task | None = None
        try:
            async with super().slot(user_id):
                renewing = asyncio.create_task(self._renew(slot_id), name="space-slot-renew")
                async with self.db.idle():  # the call runs for up to minutes: give the connection back
                    yield
        finally:
            if renewing is not None:
                renewing.cancel()
            try:
                async with self.db.scope():
                    await asyncio.shield(execution_slots.release(self.db, slot_id))
            except Exception:  # it expires within TTL anyway
                log.warning("space.slot_release_failed", exc_info=True)


# The service ------------------------------------------------------------------------------
class Spaces(ResourceService):
    """Spaces: a tree of files (each a blob reference), edited file by file, executed and
    visualized in the sandbox."""

    model = Space
    noun = "space"
    star_target = TARGET
    file_model = SpaceFile

    def __init__(self, db: Db, blobs: BlobStore, accounts: StorageAccounts, storage: StorageConfig,
                 config: SpacesConfig, sandbox_provider: Callable[[], Sandbox]):
        super().__init__(db, blobs, accounts)
        self.storage = storage
        self.config = config
        self.sandbox_provider = sandbox_provider
        if db.is_sqlite:  # one process: the slots are this process's
            self.slots = ExecutionSlots(config.max_concurrent_executions, config.max_concurrent_per_user,
                                        config.queue_wait_seconds)
        else:  # several processes may share the database: the per-user cap is decided there
            self.slots = SharedExecutionSlots(db, config.max_concurrent_executions, config.max_concurrent_per_user,
                                              config.queue_wait_seconds)

    # Loading ----------------------------------------------------------------------------
    async def _file_for_write(self, who: Any, file_id: str) -> tuple[SpaceFile, Space]:
        row = await SpaceFile.aget_or_none(SpaceFile.id == file_id) if UUID_RE.match(file_id or "") else None
        if row is None:
            raise NotFound("file not found")
        space = await self._load(row.space_id)
        if space is None:
            raise NotFound("file not found")
        try:
            await permissions.ensure(self.db, who, "write", space, "space")
        except NotFound:
            raise NotFound("file not found") from None
        return row, space

    # Serialising --------------------------------------------------------------------------
    def card(self, s: Space, starred: bool | None) -> dict[str, Any]:
        return {**self.base_card(s, starred), "sdk": s.sdk, "space_type": s.space_type, "views_count": s.views_count}

    @staticmethod
    def file_dict(f: SpaceFile, content: str | None = None) -> dict[str, Any]:
        return {"id": f.id, "space_id": f.space_id, "path": f.path, "filename": f.path, "size": f.size,
                "sha256": f.sha256, "content": content, "created_at": f.created_at, "updated_at": f.updated_at}

    async def _files(self, space_id: str) -> list[SpaceFile]:
        return await self.db.list(SpaceFile.select().where(SpaceFile.space == space_id).order_by(SpaceFile.path))

    async def _inline(self, f: SpaceFile) -> str | None:
        if f.size > self.config.inline_content_bytes:
            return None
        try:
            data = await asyncio.to_thread(self.blobs.path_for(f.sha256).read_bytes)
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    async def detail(self, s: Space, user_id: str | None, *, with_content: bool = True) -> dict[str, Any]:
        starred = await social.is_starred(self.db, TARGET, s.id, user_id)
        files = await self._files(s.id)
        out = self.card(s, starred)
        out["storage_bytes"] = s.storage_bytes
        out["files"] = [self.file_dict(f, await self._inline(f) if with_content else None) for f in files]
        return out

    async def view(self, who: Any, space_id: str) -> dict[str, Any]:
        """``GET /spaces/{id}``: the space with its files (counts a view)."""
        user_id = permissions.user_id_of(who)
        space = await self.get_visible(who, space_id)
        async with self.db.tx():
            await social.bump_counter(self.db, Space, space.id, "views_count", 1)
        space.views_count += 1
        return await self.detail(space, user_id)

    # Listing -------------------------------------------------------------------------------
    async def list(self, who: Any, q: SpaceListQuery, *, organization: Any = None) -> dict[str, Any]:
        user_id = permissions.user_id_of(who)
        if organization is not None:  # an organization's spaces (members: all; others: public)
            from .orgs import visible_resources_of

            where = await visible_resources_of(self.db, organization, Space, who)
        else:
            where = await self._visible_where(who)
        if q.sdk:
            where &= Space.sdk == q.sdk
        if q.space_type:
            where &= Space.space_type == q.space_type
        if q.owner:
            where &= queries.owner_is(q.owner)
        if q.q and q.q.strip():
            for token in queries.search_words(q.q):
                where &= (Space.name.contains(token) | Space.title.contains(token)
                          | Space.description.contains(token))
        order = sort_order(Space, q.sort, q.order, SORT_FIELDS)
        base = self._query()
        return await self._page_of(base, base, where, order, q, user_id, "spaces")

    # Create / update / delete ----------------------------------------------------------------
    async def create(self, user: User, body: SpaceCreate) -> dict[str, Any]:
        async with self._creating(user, body) as columns:
            space = await Space.acreate(**columns, sdk=body.sdk, space_type=body.space_type)
        return await self.detail(await self._load(space.id), user.id)

    async def update(self, user: User, space_id: str, body: SpaceUpdate) -> dict[str, Any]:
        space = await self._writable(user, space_id)
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if changes:
            changes["updated_at"] = utcnow()
            async with self.db.tx():
                await self.db.execute(Space.update(**changes).where(Space.id == space.id))
        return await self.detail(await self._load(space.id), user.id)

    # Stars and forks ---------------------------------------------------------------------------
    async def fork(self, user: User, space_id: str, name: str | None) -> dict[str, Any]:
        """Copy the space (and its files, by blob reference) into the caller's personal namespace."""
        src, name, taken = await self._fork_source(user, space_id, name)
        async with self._forking(user, src, taken) as (fork_id, now):
            files = await self._files(src.id)
            size = sum(f.size for f in files)
            await self.accounts.charge(owner_key(user.id), size)
            await Space.acreate(
                id=fork_id, name=name, namespace_id=user.id, owner=user.id, organization=None, title=src.title,
                description=src.description, sdk=src.sdk, space_type=src.space_type, is_public=src.is_public,
                forked_from=src.id, storage_bytes=size, created_at=now, updated_at=now,
            )
            rows = [{"id": new_id(), "space": fork_id, "path": f.path, "sha256": f.sha256, "size": f.size,
                     "created_at": now, "updated_at": now} for f in files]
            await self._copy_file_rows(SpaceFile, rows, (f.sha256 for f in files))
        return await self.detail(await self._load(fork_id), user.id)

    # Files ------------------------------------------------------------------------------------
    async def _stage(self, space: Space, incoming: IncomingFileLike, *, replaces: int = 0) -> StagedBlob:
        key = owner_key(space.owner_id, space.organization_id)
        budget = await self.accounts.remaining(key) + replaces
        return await self.blobs.stage(
            incoming.chunks, max_bytes=self.storage.max_file_bytes, what=f"file '{incoming.filename[:100]}'",
            budget=max(budget, 0), over_budget=self.accounts.exceeded(),
        )

    async def add_file(self, user: User, space_id: str, incoming: IncomingFileLike) -> dict[str, Any]:
        """Create one file (409 when the path exists: update it with PUT instead)."""
        space = await self._writable(user, space_id)
        path = safe_relative_path(incoming.filename)
        if await self.db.exists(SpaceFile.select().where((SpaceFile.space == space.id) & (SpaceFile.path == path))):
            raise Conflict(f"the space already has a file '{path}'; update it with PUT /spaces/files/{{file_id}}")
        count = await self.db.count(SpaceFile.select().where(SpaceFile.space == space.id))
        if count >= self.config.max_files_per_space:
            raise BadRequest(f"a space holds at most {self.config.max_files_per_space} files")
        blob = await self._stage(space, incoming)
        try:
            now = utcnow()
            try:
                async with self.db.tx():
                    await self.accounts.charge(owner_key(space.owner_id, space.organization_id), blob.size)
                    row = await SpaceFile.acreate(id=new_id(), space=space.id, path=path, sha256=blob.sha256,
                                                  size=blob.size, created_at=now, updated_at=now)
                    await self.blobs.add_refs([blob.sha256], {blob.sha256: blob.size})
                    await self.db.execute(Space.update(storage_bytes=Space.storage_bytes + blob.size, updated_at=now)
                                          .where(Space.id == space.id))
                    await self.blobs.commit([blob])
            except IntegrityError:
                raise Conflict(f"the space already has a file '{path}'") from None
        finally:
            blob.discard()
        return self.file_dict(row)

    async def update_file(self, user: User, file_id: str, new_path: str | None,
                          incoming: IncomingFileLike | None) -> dict[str, Any]:
        """New content and/or a new path for one file."""
        row, space = await self._file_for_write(user, file_id)
        path = safe_relative_path(new_path) if new_path is not None else row.path
        blob = await self._stage(space, incoming, replaces=row.size) if incoming is not None else None
        try:
            now = utcnow()
            try:
                async with self.db.tx():
                    current = await SpaceFile.aget_or_none(SpaceFile.id == row.id)
                    if current is None:
                        raise NotFound("file not found")
                    changes: dict[str, Any] = {"path": path, "updated_at": now}
                    key = owner_key(space.owner_id, space.organization_id)
                    if blob is not None:
                        delta = blob.size - current.size
                        if delta > 0:
                            await self.accounts.charge(key, delta)
                        else:
                            await self.accounts.credit(key, -delta)
                        await self.blobs.add_refs([blob.sha256], {blob.sha256: blob.size})
                        await self.blobs.release([current.sha256])
                        changes.update(sha256=blob.sha256, size=blob.size)
                        await self.db.execute(
                            Space.update(storage_bytes=Space.storage_bytes + delta, updated_at=now)
                            .where(Space.id == space.id))
                    await self.db.execute(SpaceFile.update(**changes).where(SpaceFile.id == row.id))
                    if blob is not None:
                        await self.blobs.commit([blob])
            except IntegrityError:
                raise Conflict(f"the space already has a file '{path}'") from None
        finally:
            if blob is not None:
                blob.discard()
        if blob is not None:
            await self.blobs.collect_garbage()
        return self.file_dict(await SpaceFile.aget(SpaceFile.id == row.id))

    async def delete_file(self, user: User, file_id: str) -> None:
        row, space = await self._file_for_write(user, file_id)
        async with self.db.tx():
            deleted = await self.db.execute(SpaceFile.delete().where(SpaceFile.id == row.id))
            if not deleted:
                raise NotFound("file not found")
            await self.blobs.release([row.sha256])
            await self.accounts.credit(owner_key(space.owner_id, space.organization_id), row.size)
            await self.db.execute(Space.update(storage_bytes=Space.storage_bytes - row.size, updated_at=utcnow())
                                  .where(Space.id == space.id))
        await self.blobs.collect_garbage()

    async def open_file(self, who: Any, file_id: str) -> tuple[SpaceFile, Any]:
        """A readable file and its blob path (for ``GET /spaces/files/{file_id}``)."""
        row = await SpaceFile.aget_or_none(SpaceFile.id == file_id) if UUID_RE.match(file_id or "") else None
        space = await self._load(row.space_id) if row is not None else None
        if row is None or space is None or not await permissions.can_read(self.db, who, space):
            raise NotFound("file not found")
        return row, self.blobs.path_for(row.sha256)

    # Running code --------------------------------------------------------------------------------
    async def _job_files(self, space: Space) -> dict[str, bytes]:
        files = await self._files(space.id)
        total = sum(f.size for f in files)
        if total > self.config.max_run_bytes:
            raise PayloadTooLarge(
                f"the space's files ({total} bytes) exceed the {self.config.max_run_bytes} bytes a run may copy"
            )

        def read_all() -> dict[str, bytes]:
            return {f.path: self.blobs.path_for(f.sha256).read_bytes() for f in files}

        try:
            return await asyncio.to_thread(read_all)
        except OSError:
            log.exception("space.file_missing", extra=fields(space_id=space.id))
            raise ServiceUnavailable("a file of this space is missing from storage") from None

    def _sandbox(self) -> Sandbox:
        return self.sandbox_provider()

    async def _run(self, user: User, sandbox: Sandbox, **kwargs: Any) -> SandboxResult:
        # the job may run for minutes: don't hold a pooled connection
        async with self.db.idle(), self.slots.slot(user.id):
            try:
                return await sandbox.run_python(**kwargs)
            except SandboxUnavailable as exc:
                raise ServiceUnavailable(f"code execution is unavailable: {exc}") from None

    async def execute(self, user: User, space_id: str, body: ExecuteRequest) -> dict[str, Any]:
        space = await self._writable(user, space_id)
        files = await self._job_files(space)
        script = None
        if body.file_to_run is not None:
            script = self._space_path(body.file_to_run, files, "file_to_run")
        sandbox = self._sandbox()
        try:
            limits = sandbox.limits(body.timeout)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        result = await self._run(user, sandbox, files=files, code=body.code, script=script, limits=limits,
                                 preload=EXECUTE_PRELOAD[space.sdk])
        log.info("space.executed", extra=fields(space_id=space.id, user_id=user.id, exit=result.exit_code,
                                                limit=result.limit_hit, wall=round(result.wall_time, 3)))
        return execution_response(result, body.timeout)

    @staticmethod
    def _space_path(name: str, files: dict[str, bytes], what: str) -> str:
        try:
            path = safe_relative_path(name)
        except ApiError as exc:
            raise BadRequest(f"{what}: {exc.detail}") from None
        if path not in files:
            raise BadRequest(f"{what}: the space has no file '{path}'")
        return path

    async def visualize(self, user: User, space_id: str, body: VisualizeRequest) -> dict[str, Any]:
        space = await self._writable(user, space_id)
        files = await self._job_files(space)
        if body.code is not None:
            source, path, display = body.code, CODE_FILE, "<code>"
            files[CODE_FILE] = body.code.encode("utf-8", "surrogatepass")
        else:
            path = display = self._space_path(body.file_to_visualize, files, "file_to_visualize")
            source = files[path].decode("utf-8", "replace")
        framework = body.framework or detect_framework(source, space.sdk)
        sandbox = self._sandbox()
        timeout = min(self.config.visualize_timeout_seconds, sandbox.config.max_timeout_seconds)
        config = {"path": path, "display": display, "framework": framework, "auto": body.framework is None,
                  "svg": SVG_FILE, "status": STATUS_FILE}
        files.setdefault(STATUS_FILE, b"")  # creates the .qubithub folder
        result = await self._run(user, sandbox, files=files, code=DRIVER_SOURCE, args=[json.dumps(config)],
                                 limits=sandbox.limits(timeout), preload=VISUALIZE_PRELOAD[framework],
                                 outputs=[SVG_FILE, STATUS_FILE])
        # the SVG check parses up to 8 MiB: a worker thread, never the event loop
        return await asyncio.to_thread(visualize_response, result, framework, timeout,
                                       sandbox.config.output_file_bytes)


# Turning sandbox results into API answers ---------------------------------------------------
def _text(data: bytes, truncated: bool) -> str:
    text = data.decode("utf-8", "replace")
    if truncated:
        text += "\n[output truncated]"
    return text


#: The warm runner's own two frames at the top of a traceback (it runs as ``python -c``).
_RUNNER_FRAMES = re.compile(
    r'^(Traceback \(most recent call last\):\n)  File "<string>", line \d+, in main\n'
    r'  File "<string>", line \d+, in _run\n', re.M)


def execution_response(result: SandboxResult, timeout: float) -> dict[str, Any]:
    """``{status, output, error, execution_time}``; stderr goes to ``error`` (null when empty)."""
    output = _text(result.stdout, result.stdout_truncated)
    stderr = _RUNNER_FRAMES.sub(r"\1", _text(result.stderr, result.stderr_truncated))
    if result.limit_hit == "wall":
        status = "timeout"
        error = (stderr.rstrip() + "\n" if stderr.strip() else "") + f"execution timed out after {timeout:g} s"
    elif result.limit_hit == "cpu":
        status = "timeout"
        error = (stderr.rstrip() + "\n" if stderr.strip() else "") + "CPU-time limit exceeded"
    elif result.ok:
        status = "success"
        error = stderr or None
    else:
        status = "error"
        parts = [stderr.rstrip()] if stderr.strip() else []
        if result.limit_hit:
            parts.append(f"stopped: {LIMIT_TEXT.get(result.limit_hit, result.limit_hit + ' limit')}")
        elif result.signal:
            parts.append(f"killed by signal {result.signal}")
        elif not parts:
            parts.append(f"exited with status {result.exit_code}")
        error = "\n".join(parts)
    return {"status": status, "output": output, "error": error, "execution_time": round(result.wall_time, 3)}


def visualize_response(result: SandboxResult, framework: str, timeout: float, max_svg_bytes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"status": "error", "diagram": None, "framework": framework, "format": "svg", "error": None}
    status: dict[str, Any] = {}
    try:
        status = json.loads(result.files.get(STATUS_FILE) or b"{}")
        if not isinstance(status, dict):
            status = {}
    except ValueError:
        status = {}
    if isinstance(status.get("framework"), str) and status["framework"] in EXECUTE_PRELOAD:
        out["framework"] = status["framework"]
    if result.limit_hit in ("wall", "cpu"):
        out.update(status="timeout", error=f"drawing the circuit took longer than {timeout:g} s")
        return out
    if not status.get("ok"):
        why = status.get("error") if isinstance(status.get("error"), str) else None
        if why is None:
            stderr = _text(result.stderr, result.stderr_truncated).strip()
            why = stderr or (f"stopped: {LIMIT_TEXT.get(result.limit_hit, result.limit_hit)}" if result.limit_hit
                             else "the visualizer produced no result")
        out["error"] = why
        return out
    svg = result.files.get(SVG_FILE)
    if svg is None:
        out["error"] = f"no diagram was produced ({result.file_errors.get(SVG_FILE, 'missing')})"
        return out
    try:
        check_svg(svg, max_bytes=max_svg_bytes)
    except UnsafeSvg as exc:
        out["error"] = f"the diagram was refused: {exc}"
        return out
    out.update(status="success", diagram=base64.b64encode(svg).decode("ascii"))
    return out

"""Runs: submission rules, the lifecycle state machine and maintained statistics.

Every transition is one transaction that guards on the current status (terminal
states never change), adjusts the per-user and per-circuit ``RunStats`` rows
and writes its audit-log row. After the commit the new state is published to
WebSocket subscribers.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any, Callable

from peewee import JOIN, fn

from ..db.circuits import Circuit, CircuitVersion
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import AuditLog, Organization, User
from ..db.runs import ACTIVE, TERMINAL, Run, RunStats
from ..errors import BadRequest, Forbidden, NotFound
from ..jobs.events import RunEvents
from ..schemas.common import page_info
from ..schemas.runs import RunCreate, RunListQuery, RunResponse
from .access import can_read, ensure_readable

log = logging.getLogger(__name__)

ALLOWED = {
    "queued": ("pending", "running"),  # running -> queued: a retry after a restart
    "running": ("queued",),
    "completed": ("running",),
    "failed": ("pending", "queued", "running"),
    "cancelled": ("pending", "queued", "running"),
}


_STAT_FIELDS = ("total_runs", "pending_runs", "queued_runs", "running_runs", "completed_runs", "failed_runs",
                "cancelled_runs", "total_shots", "total_execution_time")


class Runs:
    def __init__(self, db: Db, events: RunEvents, settings, backends: Callable[[], dict]):
        self.db = db
        self.events = events
        self.settings = settings
        self._backends = backends
        self.queue = None  # set by the hub: jobs.queue.RunQueue
        # owner/name of a circuit never changes (no renames), so it is cached for good.
        self._repo_names: dict[str, str] = {}
        self._statements: dict[str, str] = {}

    # Submission ------------------------------------------------------------------
    async def submit(self, user: User, req: RunCreate) -> Run:
        circuit = await Circuit.aget_or_none(Circuit.id == req.circuit_id)
        await ensure_readable(self.db, user.id, circuit, "circuit")
        from ..backends.base import BackendError
        from ..backends.registry import DEFAULT_BACKENDS, get_backend

        name = req.backend_name or DEFAULT_BACKENDS.get(circuit.framework, "qiskit_aer")
        try:
            driver = get_backend(name)
        except BackendError as exc:
            raise BadRequest(exc.message) from None
        valid = sorted(d.name for d in self._backends().values() if d.accepts(circuit.framework) and d.type == req.backend_type)
        if driver.type != req.backend_type or not driver.accepts(circuit.framework):
            raise BadRequest(
                f"backend {name!r} ({driver.type}) cannot run a {circuit.framework} circuit as {req.backend_type}; "
                f"valid choices: {', '.join(valid) or 'none'}"
            )
        availability = driver.availability()
        if not availability.ok:
            raise BadRequest(f"backend {name!r} is unavailable: {availability.reason}; valid choices: {', '.join(valid)}")
        if driver.max_qubits and circuit.qubits > driver.max_qubits:
            raise BadRequest(f"circuit has {circuit.qubits} qubits; backend {name!r} supports at most {driver.max_qubits}")
        try:
            options = driver.validate_options(req.options)
        except BackendError as exc:
            raise BadRequest(exc.message) from None
        version = await self.db.first(
            CircuitVersion.select().where(CircuitVersion.circuit == circuit.id).order_by(CircuitVersion.version_number.desc())
        )
        if version is None:
            raise BadRequest("the circuit has no uploaded files yet; upload circuit files before running it")
        active = await self.db.count(Run.select().where((Run.user == user.id) & Run.status.in_(ACTIVE)))
        if active >= self.settings.runs.max_queued_per_user:
            raise Forbidden(f"usage limit exceeded: {active} unfinished runs (limit {self.settings.runs.max_queued_per_user})")
        now = utcnow()
        async with self.db.tx():
            run = await Run.acreate(
                id=new_id(), circuit=circuit.id, circuit_version=version.id, user=user.id,
                backend_type=req.backend_type, backend_name=name, status="pending", shots=req.shots,
                parameters=req.parameters, options={k: v for k, v in options.items() if v is not None} or None,
                seed=req.seed if req.seed is not None else secrets.randbelow(2**31), created_at=now,
            )
            await self._bump_stats(run, {"total_runs": 1, "pending_runs": 1, "total_shots": run.shots}, create=True)
            await self.db.execute(Circuit.update(runs_count=Circuit.runs_count + 1).where(Circuit.id == circuit.id))
            await self._audit(run, "run.created", user.id, {"backend": name, "shots": run.shots})
        if self.queue is not None:
            await self.queue.enqueue(run)
        return run

    # Transitions -----------------------------------------------------------------
    async def transition(self, run_id: str | Run, new: str, *, actor: str | None = None, **fields: Any) -> Run | None:
        """Move a run to ``new`` if its current state allows it; None when it doesn't.

        Given a Run object (the caller's last known state), the guarded UPDATE is tried
        directly and the row is re-read only if the state moved on meanwhile."""
        async with self.db.tx():
            run = run_id if isinstance(run_id, Run) else await Run.aget_or_none(Run.id == run_id)
            if run is None:
                return None
            for attempt in (0, 1):
                if run.status not in ALLOWED[new]:
                    return None
                old = run.status
                changes = {"status": new, **fields}
                now = utcnow()
                if new == "queued":
                    changes.setdefault("queued_at", now)
                elif new == "running":
                    changes.setdefault("started_at", now)
                    changes["attempts"] = run.attempts + 1
                elif new in TERMINAL:
                    changes.setdefault("completed_at", now)
                if await self._update_run(run.id, old, changes):
                    break
                run = await Run.aget_or_none(Run.id == run.id)  # stale view: re-read once
                if run is None or attempt:
                    return None
            for key, value in changes.items():
                setattr(run, key, value)
            delta = {f"{old}_runs": -1, f"{new}_runs": 1}
            if new == "completed":
                delta["total_execution_time"] = _execution_seconds(run)
            await self._bump_stats(run, delta)
            audit = {"from": old}
            if new == "failed":
                audit.update(error_class=run.error_class, error_message=(run.error_message or "")[:500])
            await self._audit(run, "run.retried" if (old, new) == ("running", "queued") else f"run.{new}", actor, audit)
        await self.publish(run)
        return run

    async def _bump_stats(self, run: Run, delta: dict[str, float], *, create: bool = False) -> None:
        """Apply the same delta to the user's and the circuit's aggregate rows (one UPDATE)."""
        if create:
            await self.db.execute(RunStats.insert_many(
                [{"scope": "user", "key": run.user_id}, {"scope": "circuit", "key": run.circuit_id}]).on_conflict_ignore())
        unknown = set(delta) - set(_STAT_FIELDS)
        if unknown:
            raise ValueError(f"not a run statistic: {unknown}")
        params = [delta.get(f, 0) for f in _STAT_FIELDS] + [run.user_id, run.circuit_id]
        await self.db.execute_sql(self._sql("stats"), params)

    async def _audit(self, run: Run, action: str, actor: str | None, data: dict[str, Any]) -> None:
        params = [new_id(), actor, action, "run", run.id, json.dumps(data, separators=(",", ":"), sort_keys=True), utcnow()]
        await self.db.execute_sql(self._sql("audit"), params)

    async def _update_run(self, run_id: str, old: str, changes: dict[str, Any]) -> bool:
        """UPDATE run SET … WHERE id = ? AND status = old (compiled once per column set)."""
        cols = tuple(sorted(changes))
        key = "update:" + ",".join(cols)
        sql = self._statements.get(key)
        if sql is None:
            p = self.db.engine.param
            sets = ", ".join(f'"{Run._meta.fields[c].column_name}" = {p}' for c in cols)
            sql = self._statements[key] = f'UPDATE "{Run._meta.table_name}" SET {sets} WHERE "id" = {p} AND "status" = {p}'
        params = [Run._meta.fields[c].db_value(changes[c]) for c in cols] + [run_id, old]
        cursor = await self.db.execute_sql(sql, params)
        return cursor.rowcount > 0

    def _sql(self, name: str) -> str:
        """The run path's two hottest statements, written once in the engine's parameter style
        (building them with peewee on every transition cost more than executing them)."""
        sql = self._statements.get(name)
        if sql is None:
            p = self.db.engine.param
            if name == "stats":
                sets = ", ".join(f'"{f}" = "{f}" + {p}' for f in _STAT_FIELDS)
                sql = (f'UPDATE "{RunStats._meta.table_name}" SET {sets} '
                       f'WHERE ("scope" = \'user\' AND "key" = {p}) OR ("scope" = \'circuit\' AND "key" = {p})')
            else:
                cols = ("id", "actor_id", "action", "target_type", "target_id", "data", "created_at")
                sql = (f'INSERT INTO "{AuditLog._meta.table_name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) '
                       f'VALUES ({", ".join([p] * len(cols))})')
            self._statements[name] = sql
        return sql

    async def publish(self, run: Run) -> None:
        if self.events.has_subscribers(run.id):
            message = (await self.response(run)).model_dump_json()
            self.events.publish(run.id, message)

    # Backends --------------------------------------------------------------------
    def backends(self) -> dict:
        return self._backends()

    async def backend_infos(self) -> list[dict[str, Any]]:
        from ..backends.registry import available_backends

        rows = await self.db.list(
            Run.select(Run.backend_name, fn.COUNT(Run.id).alias("n")).where(Run.status.in_(ACTIVE)).group_by(Run.backend_name))
        waiting = {r.backend_name: r.n for r in rows}
        return [{**d.info(), "id": d.name, "queue_length": waiting.get(d.name, 0)} for d in available_backends()]

    # Reads -----------------------------------------------------------------------
    async def get_visible(self, user_id: str | None, run_id: str) -> Run:
        run = await Run.aget_or_none(Run.id == run_id)
        if run is None:
            raise NotFound("run not found")
        if run.user_id != user_id:
            circuit = await Circuit.aget_or_none(Circuit.id == run.circuit_id)
            if circuit is None or not await can_read(self.db, user_id, circuit):
                raise NotFound("run not found")
        return run

    async def get_own(self, user_id: str, run_id: str) -> Run:
        run = await self.get_visible(user_id, run_id)
        if run.user_id != user_id:
            raise Forbidden("only the user who submitted a run can cancel or delete it")
        return run

    async def repo_names(self, circuit_ids: set[str]) -> dict[str, str]:
        missing = [c for c in circuit_ids if c not in self._repo_names]
        if missing:
            if len(self._repo_names) > 50_000:
                self._repo_names.clear()
            self._repo_names.update(await self._load_repo_names(missing))
        return {c: self._repo_names[c] for c in circuit_ids if c in self._repo_names}

    async def _load_repo_names(self, circuit_ids: list[str]) -> dict[str, str]:
        rows = await self.db.list(
            Circuit.select(Circuit.id, Circuit.name, User.username, Organization.slug)
            .join(User, on=(Circuit.owner == User.id))
            .switch(Circuit).join(Organization, join_type=JOIN.LEFT_OUTER, on=(Circuit.organization == Organization.id))
            .where(Circuit.id.in_(circuit_ids)).dicts()
        )
        return {r["id"]: f"{r['slug'] or r['username']}/{r['name']}" for r in rows}

    async def response(self, run: Run) -> RunResponse:
        names = await self.repo_names({run.circuit_id})
        position = await self.queue_position(run) if run.status in ("pending", "queued") else None
        return RunResponse(
            id=run.id, circuit_id=run.circuit_id, circuit_version_id=run.circuit_version_id, user_id=run.user_id,
            backend_type=run.backend_type, backend_name=run.backend_name, status=run.status, shots=run.shots,
            parameters=run.parameters, seed=run.seed, results=run.results, metrics=run.metrics,
            error_class=run.error_class, error_message=run.error_message, queue_position=position,
            circuit_name=names.get(run.circuit_id), created_at=run.created_at, started_at=run.started_at,
            completed_at=run.completed_at,
        )

    async def queue_position(self, run: Run) -> int | None:
        """1-based place under the fair order (round robin across users, oldest first per user)."""
        if run.status == "pending":
            run = await Run.aget_or_none(Run.id == run.id) or run
        if run.status not in ("pending", "queued"):
            return None
        per_user = {r.user_id: r.n for r in await self.db.list(
            Run.select(Run.user, fn.COUNT(Run.id).alias("n")).where(Run.status.in_(("pending", "queued"))).group_by(Run.user))}
        mine_before = await self.db.count(Run.select().where(
            (Run.user == run.user_id) & Run.status.in_(("pending", "queued"))
            & ((Run.created_at < run.created_at) | ((Run.created_at == run.created_at) & (Run.id < run.id)))))
        order = self.queue.service_order() if self.queue is not None else {}
        mine_rank = order.get(run.user_id, 0.0)
        ahead = mine_before
        for user_id, n in per_user.items():
            if user_id == run.user_id:
                continue
            ahead += min(n, mine_before)
            if n > mine_before and order.get(user_id, 0.0) <= mine_rank:
                ahead += 1
        return ahead + 1

    async def list_for(self, query: RunListQuery, *, user_id: str | None = None, circuit_id: str | None = None):
        cond = Run.id.is_null(False)
        if user_id is not None:
            cond &= Run.user == user_id
        if circuit_id is not None:
            cond &= Run.circuit == circuit_id
        if query.status:
            cond &= Run.status == query.status
        if query.circuit_id:
            cond &= Run.circuit == query.circuit_id
        total = await self.db.count(Run.select().where(cond))
        rows = await self.db.list(
            Run.select().where(cond).order_by(Run.created_at.desc(), Run.id.desc()).offset(query.offset).limit(query.limit)
        )
        names = await self.repo_names({r.circuit_id for r in rows})
        cards = []
        for r in rows:
            card = {f: getattr(r, f) for f in ("id", "backend_type", "backend_name", "status", "shots", "error_class",
                                                "error_message", "created_at", "started_at", "completed_at")}
            cards.append({**card, "circuit_id": r.circuit_id, "circuit_name": names.get(r.circuit_id)})
        return {"runs": cards, **page_info(total, query)}

    async def list_for_circuit(self, viewer_id: str | None, circuit_id: str, query: RunListQuery):
        circuit = await Circuit.aget_or_none(Circuit.id == circuit_id)
        await ensure_readable(self.db, viewer_id, circuit, "circuit")
        return await self.list_for(query, circuit_id=circuit_id)

    async def stats(self, scope: str, key: str) -> dict[str, Any]:
        row = await RunStats.aget_or_none((RunStats.scope == scope) & (RunStats.key == key))
        fields = ("total_runs", "pending_runs", "queued_runs", "running_runs", "completed_runs", "failed_runs",
                  "cancelled_runs", "total_shots", "total_execution_time")
        data = {f: (getattr(row, f) if row else 0) for f in fields}
        total = data["total_runs"]
        data["total_execution_time"] = round(float(data["total_execution_time"]), 6)
        data["avg_execution_time"] = round(data["total_execution_time"] / total, 6) if total else 0.0
        data["success_rate"] = round(100.0 * data["completed_runs"] / total, 1) if total else 0.0
        return data

    async def circuit_stats(self, viewer_id: str | None, circuit_id: str) -> dict[str, Any]:
        circuit = await Circuit.aget_or_none(Circuit.id == circuit_id)
        await ensure_readable(self.db, viewer_id, circuit, "circuit")
        return await self.stats("circuit", circuit_id)

    # Cancel / delete ---------------------------------------------------------------
    async def cancel_or_delete(self, user_id: str, run_id: str) -> None:
        """Active → cancelled; terminal → deleted. Idempotent: a missing run is fine."""
        run = await Run.aget_or_none(Run.id == run_id)
        if run is None:
            return
        run = await self.get_own(user_id, run_id)
        if run.status in ACTIVE:
            cancelled = await self.transition(run.id, "cancelled", actor=user_id, error_message="cancelled by user")
            if cancelled is not None:
                if self.queue is not None:
                    await self.queue.stop_run(run.id)
                return
            run = await Run.aget(Run.id == run_id)  # it finished meanwhile: delete it below
        async with self.db.tx():
            fresh = await Run.aget_or_none(Run.id == run_id)
            if fresh is None or fresh.status not in TERMINAL:
                return
            delta: dict[str, float] = {"total_runs": -1, f"{fresh.status}_runs": -1, "total_shots": -fresh.shots}
            if fresh.status == "completed":
                delta["total_execution_time"] = -_execution_seconds(fresh)
            await self._bump_stats(fresh, delta)
            await self.db.execute(Circuit.update(runs_count=Circuit.runs_count - 1).where(Circuit.id == fresh.circuit_id))
            await self.db.execute(Run.delete().where(Run.id == fresh.id))
            await self._audit(fresh, "run.deleted", user_id, {"status": fresh.status})


def _execution_seconds(run: Run) -> float:
    metrics = run.metrics or {}
    if isinstance(metrics, str):
        metrics = json.loads(metrics)
    ms = metrics.get("execution_time_ms")
    if ms is None and run.started_at and run.completed_at:
        return max(0.0, (run.completed_at - run.started_at).total_seconds())
    return float(ms or 0.0) / 1000.0

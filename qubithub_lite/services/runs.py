"""Runs: submission rules, the lifecycle state machine and maintained statistics.

Every transition is one transaction that guards on the current status (terminal
states never change), adjusts the per-user and per-circuit ``RunStats`` rows
and writes its audit-log row. After the commit the new state is published to
WebSocket subscribers.

The service gets its collaborators at construction: a :class:`~qubithub_lite.jobs.scheduler.Scheduler`
(wake the slots, stop a cancelled run, the fairness order for queue positions; None in a
CLI hub, whose runs are never queued) and an optional :class:`RunExtension` (benchmarks).
The queue talks back only through the :class:`~qubithub_lite.jobs.scheduler.RunStore`
methods below (``transition``, ``claim_next``, ``finish_and_claim``, ``interrupted``, ``circuit_and_version``,
``analysis``, ``idle``).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any, AsyncContextManager, Awaitable, Callable, Protocol

from ..db.circuits import Circuit
from ..db.core import Db, to_models
from ..db.fields import new_id, utcnow
from ..db.models import AuditLog, User
from ..db.run_statements import STAT_FIELDS, RunStatements
from ..db.circuits import CircuitVersion
from ..db import runs as run_reads
from ..db.runs import Run, run_ids_with_prefix
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..jobs.events import RunEvents
from ..jobs.scheduler import Fairness, Scheduler
from ..run_status import ACTIVE, TERMINAL, WAITING, RunStatus
from ..schemas.common import page_info
from ..schemas.runs import RunCreate, RunListQuery, RunResponse
from . import permissions
from .permissions import ensure_readable

log = logging.getLogger(__name__)

#: A short run id: at least 8 characters of a run id's start (hex and hyphens, as shown by
#: ``qubithub runs list``); a full id is 36 characters.
SHORT_ID_RE = re.compile(r"^[0-9a-f][0-9a-f-]{7,34}$")
SHORT_ID_CANDIDATES = 20

class RunExtension(Protocol):
    """What another service adds to every run (benchmarks)."""

    def analysis_for(self, run: Run) -> Awaitable[Any]:
        """The analysis spec a run's simulation task carries (None: an ordinary run)."""

    def on_transition(self, run: Run, new: RunStatus, changes: dict[str, Any]) -> list:
        """Statements written in the same transaction as moving ``run`` to ``new``."""

    def block(self, run: Run) -> Awaitable[Any]:
        """The ``benchmark`` block of a completed run's response (None: none)."""


class Runs:
    def __init__(self, db: Db, events: RunEvents, settings, backends: Callable[[], dict], *,
                 scheduler: Scheduler | None = None, extension: RunExtension | None = None):
        self.db = db
        self.events = events
        self.settings = settings
        self._backends = backends
        self.scheduler = scheduler
        self.extension = extension
        # owner/name of a circuit never changes (no renames), so it is cached for good.
        self._repo_names: dict[str, str] = {}
        self.sql = RunStatements(db.engine.param)

    # Submission ------------------------------------------------------------------
    async def submit(self, user: User, req: RunCreate, *, extra: Callable[[Run], list] | None = None) -> Run:
        """Validate and store a new run, then queue it. ``extra(run)``: more statements for
        the same transaction (written only when the run is)."""
        circuit = await self._circuit_with_latest_version(req.circuit_id)
        await ensure_readable(self.db, user, circuit, "circuit")
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
        if circuit.latest_version_id is None:
            raise BadRequest("the circuit has no uploaded files yet; upload circuit files before running it")
        run = Run(
            id=new_id(), circuit=circuit.id, circuit_version=circuit.latest_version_id, user=user.id,
            backend_type=req.backend_type, backend_name=name, status=RunStatus.PENDING.value, shots=req.shots,
            parameters=req.parameters, options={k: v for k, v in options.items() if v is not None} or None,
            seed=req.seed if req.seed is not None else secrets.randbelow(2**31), created_at=utcnow(),
        )
        limit = self.settings.runs.max_queued_per_user
        statements = [
            self.sql.insert_run(run, limit),  # guard: refused at `limit` unfinished runs
            self.sql.ensure_stats(run.user_id, run.circuit_id),
            self.sql.bump_stats(run.user_id, run.circuit_id, {"total_runs": 1, "pending_runs": 1, "total_shots": run.shots}),
            self.sql.bump_runs_count(run.circuit_id, 1),
            self.sql.audit(run.id, "run.created", user.id, {"backend": name, "shots": run.shots}),
            *(extra(run) if extra is not None else ()),
        ]
        # With a scheduler the run is queued in the same transaction (its own transition,
        # stats delta and audit row, one trip fewer); a CLI hub only marks it pending.
        queued, queue = self._transition_plan(run, RunStatus.QUEUED, None, {}) if self.scheduler is not None else ({}, [])
        written = await self.db.write([*statements, *queue], guard=True,
                                      serialize_on=f"runs-cap:{run.user_id}")  # the cap holds under concurrency
        if written is None:
            active = await run_reads.active_count(self.db, self.sql, user.id)
            raise Forbidden(f"usage limit exceeded: {active} unfinished runs (limit {limit})")
        if self.scheduler is not None:
            for key, value in queued.items():
                setattr(run, key, value)
            await self.publish(run)
            self.scheduler.wake()
        return run

    async def _circuit_with_latest_version(self, circuit_id: str) -> Circuit | None:
        """The circuit (with ``latest_version_id``) in one statement."""
        rows = await self.db.models(Circuit, self.sql.circuit_with_latest_version, [circuit_id])
        return rows[0] if rows else None

    async def load(self, run_id: str) -> Run | None:
        rows = await self.db.models(Run, self.sql.select_run, [run_id])
        return rows[0] if rows else None

    # Transitions -----------------------------------------------------------------
    async def transition(self, run_id: str | Run, new: RunStatus, *, actor: str | None = None, owner: str | None = None,
                         **fields: Any) -> Run | None:
        """Move a run to ``new`` if its current state allows it; None when it doesn't.

        One transaction: the guarded UPDATE of the run (``WHERE status = old``), the stats
        delta and the audit row. Given a Run object (the caller's last known state), the
        UPDATE is tried directly and the row is re-read only if the state moved on meanwhile.
        ``owner``: only while that process holds the run's lease (see ``jobs.leases``)."""
        run = run_id if isinstance(run_id, Run) else await self.load(run_id)
        for attempt in (0, 1):
            if run is None or not RunStatus(new).may_follow(run.status):
                return None
            changes, statements = self._transition_plan(run, new, actor, fields, owner)
            if await self.db.write(statements, guard=True) is not None:
                break
            if attempt:
                return None
            run = await self.load(run.id)  # stale view: re-read once
        for key, value in changes.items():
            setattr(run, key, value)
        await self.publish(run)
        return run

    def transition_plan(self, run: Run, new: RunStatus, fields: dict[str, Any]) -> tuple[dict[str, Any], list]:
        """The same plan for a transition written inside another component's transaction (the
        shared claim and lease recovery, ``jobs.leases.LeaseRuns``): no actor, no lease guard."""
        return self._transition_plan(run, new, None, fields)

    def _transition_plan(self, run: Run, new: str, actor: str | None, fields: dict[str, Any], owner: str | None = None):
        """(column changes, statements) of moving ``run`` from its status to ``new``: the
        guarded UPDATE first (``WHERE status = old``), then the stats delta and the audit row."""
        old = run.status
        new = RunStatus(new)
        changes = {"status": new.value, **fields}
        now = utcnow()
        if new == RunStatus.QUEUED:
            changes.setdefault("queued_at", now)
        elif new == RunStatus.RUNNING:
            changes.setdefault("started_at", now)
            changes["attempts"] = run.attempts + 1
        elif new.is_terminal:
            changes.setdefault("completed_at", now)
        delta = {f"{old}_runs": -1, f"{new}_runs": 1}
        if new == RunStatus.COMPLETED:
            delta["total_execution_time"] = _execution_seconds(
                changes.get("metrics", run.metrics), changes.get("started_at", run.started_at), changes["completed_at"])
        audit = {"from": old}
        if new == RunStatus.FAILED:
            audit.update(error_class=changes.get("error_class", run.error_class),
                         error_message=(changes.get("error_message", run.error_message) or "")[:500])
        action = "run.retried" if (old, new) == (RunStatus.RUNNING, RunStatus.QUEUED) else f"run.{new}"
        extra = self.extension.on_transition(run, new, changes) if self.extension is not None else []
        return changes, [
            self.sql.update_run(run.id, old, changes, owner),
            self.sql.bump_stats(run.user_id, run.circuit_id, delta),
            self.sql.audit(run.id, action, actor, audit),
            *extra,
        ]

    async def claim_next(self, fairness: Fairness, fields: dict[str, Any] | None = None) -> Run | None:
        """Move the next queued run to ``running``, in one transaction, and return it.

        The candidates are each user's oldest queued run; ``fairness`` (a snapshot of the
        queue's fairness state) filters and sorts them next to the database. ``fields``: more
        columns to set on the claimed run (its lease)."""
        run = await self.db.transaction(self._claim, fairness, fields or {})
        if run is not None:
            await self.publish(run)
        return run

    async def finish_and_claim(self, run: Run, new: RunStatus, end: dict[str, Any], fairness: Fairness,
                               fields: dict[str, Any] | None = None, owner: str | None = None) -> Run | None:
        """Move ``run`` to its end ``new`` (columns ``end``; what :meth:`transition` does) and
        claim the next queued run (what :meth:`claim_next` does) in one transaction, so a slot
        makes one trip between two runs; returns the claimed run. ``fairness`` must already
        count ``run`` as finished. If ``run``'s state moved on meanwhile (cancelled), its end is
        left to :meth:`transition` (which re-reads it) and only the claim is written."""
        changes, statements = self._transition_plan(run, new, None, end, owner)
        ended, claimed = await self.db.transaction(self._finish_and_claim, statements, fairness, fields or {})
        if ended:
            for key, value in changes.items():
                setattr(run, key, value)
            await self.publish(run)
        else:
            await self.transition(run, new, owner=owner, **end)
        if claimed is not None:
            await self.publish(claimed)
        return claimed

    def _finish_and_claim(self, execute, statements: list, fairness: Fairness, fields: dict[str, Any]):
        ended = execute(*statements[0]).rowcount > 0  # the guarded UPDATE: no row, nothing of this end
        if ended:
            for sql, params in statements[1:]:
                execute(sql, params)
        return ended, self._claim(execute, fairness, fields)

    def _claim(self, execute, fairness: Fairness, fields: dict[str, Any]) -> Run | None:
        heads = [(user_id, oldest) for user_id, oldest in execute(self.sql.queued_heads).fetchall()
                 if fairness.eligible(user_id)]
        heads.sort(key=lambda head: fairness.key(*head))
        for user_id, _ in heads:
            cursor = execute(self.sql.next_queued, [user_id])
            found = to_models(Run, cursor.description, cursor.fetchall())
            if not found:
                continue
            run = found[0]
            changes, statements = self._transition_plan(run, RunStatus.RUNNING, None, dict(fields))
            if execute(*statements[0]).rowcount == 0:
                continue
            for sql, params in statements[1:]:
                execute(sql, params)
            for key, value in changes.items():
                setattr(run, key, value)
            return run
        return None

    async def interrupted(self) -> list[Run]:
        """Runs a stopped server left ``pending`` or ``running`` (id, status, attempts)."""
        return await self.db.list(Run.select(Run.id, Run.status, Run.attempts)
                                  .where(Run.status.in_((RunStatus.PENDING.value, RunStatus.RUNNING.value))))

    async def circuit_and_version(self, run: Run) -> tuple[Circuit, CircuitVersion] | None:
        circuit = await Circuit.aget_or_none(Circuit.id == run.circuit_id)
        version = await CircuitVersion.aget_or_none(CircuitVersion.id == run.circuit_version_id)
        return None if circuit is None or version is None else (circuit, version)

    async def analysis(self, run: Run) -> Any:
        return await self.extension.analysis_for(run) if self.extension is not None else None

    def idle(self) -> AsyncContextManager[None]:
        return self.db.idle()

    async def publish(self, run: Run) -> None:
        if self.events.has_subscribers(run.id):
            message = (await self.response(run)).model_dump_json()  # once, for every subscriber
            await self.events.publish(run.id, run.status, message)

    async def active_counts(self) -> dict[str, int]:
        """How many runs are pending, queued and running (one grouped read, for /health)."""
        return dict.fromkeys(ACTIVE, 0) | await run_reads.active_by_status(self.db, self.sql)

    # Backends --------------------------------------------------------------------
    def backends(self) -> dict:
        return self._backends()

    async def backend_infos(self) -> list[dict[str, Any]]:
        from ..backends.registry import available_backends

        waiting = await run_reads.active_by_backend(self.db)
        return [{**d.info(), "id": d.name, "queue_length": waiting.get(d.name, 0)} for d in available_backends()]

    # Reads -----------------------------------------------------------------------
    async def get_visible(self, who, run_id: str) -> Run:
        """The run if ``who`` may see it (see :func:`permissions.can_see_run`); NotFound otherwise.
        ``run_id`` may be a unique prefix (see :meth:`full_id`)."""
        run = await self.load(await self.full_id(who, run_id))
        if run is None or not await self._may_see(who, run.user_id, run.circuit_id):
            raise NotFound("run not found")
        return run

    async def _may_see(self, who, owner_id: str, circuit_id: str) -> bool:
        a = permissions.actor(who)
        if owner_id == a.user_id and not a.confined:
            return True
        circuit = await Circuit.aget_or_none(Circuit.id == circuit_id)
        return await permissions.can_see_run(self.db, a, owner_id, circuit)

    async def full_id(self, who, run_id: str) -> str:
        """``run_id`` itself when it is a full id (or not an id at all), else the one run the
        caller may see whose id starts with it: 404 when none, 409 listing them when several.
        Runs the caller may not see are never counted or named."""
        run_id = (run_id or "").lower()
        if len(run_id) >= 36 or not SHORT_ID_RE.match(run_id):
            return run_id
        candidates = [
            rid for rid, owner, circuit in await run_ids_with_prefix(self.db, run_id, SHORT_ID_CANDIDATES + 1)
            if await self._may_see(who, owner, circuit)
        ]
        if not candidates:
            raise NotFound("run not found")
        if len(candidates) > 1:
            shown = ", ".join(candidates[:SHORT_ID_CANDIDATES])
            raise Conflict(f"run id prefix '{run_id}' is ambiguous; it matches: {shown}"
                           + (" (and more)" if len(candidates) > SHORT_ID_CANDIDATES else ""))
        return candidates[0]

    async def get_own(self, who, run_id: str) -> Run:
        """A run ``who`` may cancel or delete: its submitter's, or any run for a site admin."""
        run = await self.get_visible(who, run_id)
        circuit_org_id = None
        if permissions.actor(who).confined:
            circuit = await Circuit.aget_or_none(Circuit.id == run.circuit_id)
            circuit_org_id = circuit.organization_id if circuit is not None else None
        permissions.ensure_run_control(who, run.user_id, circuit_org_id)
        return run

    async def repo_names(self, circuit_ids: set[str]) -> dict[str, str]:
        missing = [c for c in circuit_ids if c not in self._repo_names]
        if missing:
            if len(self._repo_names) > 50_000:
                self._repo_names.clear()
            self._repo_names.update(await self._load_repo_names(missing))
        return {c: self._repo_names[c] for c in circuit_ids if c in self._repo_names}

    async def _load_repo_names(self, circuit_ids: list[str]) -> dict[str, str]:
        return await run_reads.repo_names(self.db, circuit_ids)

    async def response(self, run: Run) -> RunResponse:
        names = await self.repo_names({run.circuit_id})
        position = await self.queue_position(run) if RunStatus(run.status).is_waiting else None
        return RunResponse(
            id=run.id, circuit_id=run.circuit_id, circuit_version_id=run.circuit_version_id, user_id=run.user_id,
            backend_type=run.backend_type, backend_name=run.backend_name, status=run.status, shots=run.shots,
            parameters=run.parameters, seed=run.seed, results=run.results, metrics=run.metrics,
            error_class=run.error_class, error_message=run.error_message, queue_position=position,
            circuit_name=names.get(run.circuit_id), created_at=run.created_at, started_at=run.started_at,
            completed_at=run.completed_at,
            benchmark=(await self.extension.block(run)
                       if self.extension is not None and run.status == RunStatus.COMPLETED else None),
        )

    async def queue_position(self, run: Run) -> int | None:
        """1-based place under the fair order (round robin across users, oldest first per user)."""
        if run.status == RunStatus.PENDING:
            run = await self.load(run.id) or run
        if run.status not in WAITING:
            return None
        waiting = await run_reads.waiting_by_user(self.db, self.sql, run)
        mine_before = waiting.get(run.user_id, (0, 0))[1]
        order = self.scheduler.service_order() if self.scheduler is not None else {}
        mine_rank = order.get(run.user_id, 0.0)
        ahead = mine_before
        for user_id, (n, _) in waiting.items():
            if user_id == run.user_id:
                continue
            ahead += min(n, mine_before)
            if n > mine_before and order.get(user_id, 0.0) <= mine_rank:
                ahead += 1
        return ahead + 1

    async def list_for(self, query: RunListQuery, *, user_id=None, circuit_id: str | None = None):
        """Runs of ``user_id`` (a user id or an actor: an organization key lists only its user's
        runs on circuits it may see), or of ``circuit_id``."""
        cond = Run.id.is_null(False)
        if user_id is not None:
            a = permissions.actor(user_id)
            cond &= Run.user == a.user_id
            if a.confined:
                vis = await permissions.visibility(self.db, a)
                cond &= Run.circuit.in_(Circuit.select(Circuit.id).where(vis.where(Circuit)))
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

    async def list_for_circuit(self, viewer_id, circuit_id: str, query: RunListQuery):
        circuit = await Circuit.aget_or_none(Circuit.id == circuit_id)
        await ensure_readable(self.db, viewer_id, circuit, "circuit")
        return await self.list_for(query, circuit_id=circuit_id)

    async def stats(self, scope: str, key: str) -> dict[str, Any]:
        row = await run_reads.stats_row(self.db, scope, key)
        data = {f: (getattr(row, f) if row else 0) for f in STAT_FIELDS}
        total = data["total_runs"]
        data["total_execution_time"] = round(float(data["total_execution_time"]), 6)
        data["avg_execution_time"] = round(data["total_execution_time"] / total, 6) if total else 0.0
        data["success_rate"] = round(100.0 * data["completed_runs"] / total, 1) if total else 0.0
        return data

    async def circuit_stats(self, viewer_id, circuit_id: str) -> dict[str, Any]:
        circuit = await Circuit.aget_or_none(Circuit.id == circuit_id)
        await ensure_readable(self.db, viewer_id, circuit, "circuit")
        return await self.stats("circuit", circuit_id)

    # Cancel / delete ---------------------------------------------------------------
    async def cancel_or_delete(self, who, run_id: str) -> None:
        """Active → cancelled; terminal → deleted. A run that never existed is a 404; deleting
        again answers like the first time only to whoever submitted or deleted it (the audit
        log remembers it existed). A short id must match one run the caller may see
        (:meth:`full_id`)."""
        user_id = permissions.user_id_of(who)
        run_id = await self.full_id(who, run_id)
        run = await self.load(run_id)
        if run is None:
            if user_id is not None and await self._remembered(user_id, run_id):
                return
            raise NotFound("run not found")
        run = await self.get_own(who, run_id)
        if run.status in ACTIVE:
            cancelled = await self.transition(run.id, RunStatus.CANCELLED, actor=user_id, error_message="cancelled by user")
            if cancelled is not None:
                if self.scheduler is not None:
                    await self.scheduler.cancel(run.id)
                return
            run = await self.load(run_id)  # it finished meanwhile: delete it below
        if run is None or run.status not in TERMINAL:
            return
        delta: dict[str, float] = {"total_runs": -1, f"{run.status}_runs": -1, "total_shots": -run.shots}
        if run.status == RunStatus.COMPLETED:
            delta["total_execution_time"] = -_execution_seconds(run.metrics, run.started_at, run.completed_at)
        await self.db.write([
            (self.sql.delete_run, [run.id, run.status]),  # guard: deleted once
            self.sql.bump_stats(run.user_id, run.circuit_id, delta),
            self.sql.bump_runs_count(run.circuit_id, -1),
            self.sql.audit(run.id, "run.deleted", user_id, {"status": run.status}),
        ], guard=True)


    async def _remembered(self, user_id: str, run_id: str) -> bool:
        """Whether ``user_id`` submitted or deleted the run ``run_id`` (from the audit log)."""
        return await self.db.exists(AuditLog.select(AuditLog.id).where(
            (AuditLog.target_type == "run") & (AuditLog.target_id == run_id)
            & (AuditLog.action.in_(("run.created", "run.deleted"))) & (AuditLog.actor_id == user_id)))


def _execution_seconds(metrics: Any, started_at: Any, completed_at: Any) -> float:
    metrics = metrics or {}
    if isinstance(metrics, str):
        metrics = json.loads(metrics)
    ms = metrics.get("execution_time_ms")
    if ms is None and started_at and completed_at:
        return max(0.0, (completed_at - started_at).total_seconds())
    return float(ms or 0.0) / 1000.0

"""Run leases: a run executes exactly once, whichever of several API processes claimed it.

Each process has an owner id (:func:`process_owner`). Claiming a run writes ``lease_owner``
and ``lease_expires_at`` (now + ``[runs] lease_seconds``) in the claim's transaction; a
heartbeat every third of the lease renews all of this process's leases with one statement and
finds the local runs it no longer owns (cancelled elsewhere, or taken over after a stall), which
the queue then stops. The terminal transitions of an execution are guarded on the lease
(``WHERE lease_owner = me``), so a process that lost its lease can never record a result.

Recovery (at startup and on every heartbeat, PostgreSQL) takes over only runs whose lease
expired: retried once (``[runs] retry_interrupted``) or failed with a clear message. A live
lease is never touched, so starting a third process re-queues nothing. On SQLite (one process)
the queue's startup recovery stays as it was: every ``running`` run there belongs to a process
that is gone.

The shared claim (PostgreSQL) decides the per-user concurrency cap and the fair order in the
database (see :mod:`qubithub_lite.db.leases`).

The leases are built (by ``hub.py``) before the queue, which receives them in its constructor;
they see the rest through two narrow protocols: :class:`LocalSlots` (this process's slots:
``jobs.scheduler.SlotBoard``) and :class:`LeaseRuns` (the run service: ``services.runs.Runs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from typing import Any, Protocol

from ..db.core import to_models
from ..db.fields import utcnow
from ..db.leases import LeaseStatements
from ..db.runs import Run
from ..logs import fields
from ..run_status import RunStatus

log = logging.getLogger(__name__)

#: Most expired runs taken over in one recovery transaction (the rest at the next tick).
RECOVER_BATCH = 100
#: Most candidate users looked at per shared claim.
CLAIM_CANDIDATES = 50


def process_owner() -> str:
    """This process's lease owner id: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"[:64]


class LocalSlots(Protocol):
    """What the leases (and ``jobs.scaleout.RunRelay``) ask of this process's run slots."""

    def wake(self) -> None:
        """Runs were queued (taken over, retried): let an idle slot look."""

    def executing(self) -> list[str]:
        """The ids of the runs executing here now."""

    def is_executing(self, run_id: str) -> bool: ...

    async def stop_run(self, run_id: str) -> None:
        """Stop the run's work here (it is no longer ours), unless it is writing its own end."""


class LeaseRuns(Protocol):
    """What the leases ask of the run service."""

    async def publish(self, run: Run) -> None:
        """Tell the run's subscribers its new state."""

    def transition_plan(self, run: Run, new: RunStatus, fields: dict[str, Any]) -> tuple[dict[str, Any], list]:
        """(column changes, statements) of moving ``run`` to ``new`` inside a caller's
        transaction: the guarded UPDATE first, then the stats delta, audit row and extensions."""


class Leases:
    """The lease side of the run queue (one per process)."""

    def __init__(self, db, runs: LeaseRuns, slots: LocalSlots, config, owner: str, *, shared: bool) -> None:
        self.runs = runs
        self.db = db
        self.slots = slots
        self.config = config
        self.owner = owner
        self.shared = shared  # several processes may use this database (PostgreSQL)
        self.seconds = float(config.lease_seconds)
        self.sql = LeaseStatements(self.db.engine.param, postgres=shared)
        self._task: asyncio.Task | None = None
        self.renewals = 0
        self.taken_over = 0

    # What a claim writes -----------------------------------------------------------
    def fields(self) -> dict[str, Any]:
        return {"lease_owner": self.owner, "lease_expires_at": utcnow() + dt.timedelta(seconds=self.seconds)}

    # The shared claim (PostgreSQL) ---------------------------------------------------
    async def claim(self, cap: int) -> Run | None:
        run = await self.db.transaction(self._claim_tx, cap, self.fields(), utcnow())
        if run is not None:
            await self.runs.publish(run)
        return run

    def _claim_tx(self, execute, cap: int, lease: dict[str, Any], now: dt.datetime) -> Run | None:
        sql = self.sql
        for user_id, *_ in execute(sql.candidates, [cap, CLAIM_CANDIDATES]).fetchall():
            # Another process claiming for this user right now: leave the user to it.
            if not execute(sql.try_user_lock, [f"runs-claim:{user_id}"]).fetchone()[0]:
                continue
            if execute(sql.running_of_user, [user_id]).fetchone()[0] >= cap:
                continue  # committed by another process since the candidates were read
            cursor = execute(sql.next_queued_locked, [user_id])
            found = to_models(Run, cursor.description, cursor.fetchall())
            if not found:
                continue
            run = found[0]
            changes, statements = self.runs.transition_plan(run, RunStatus.RUNNING, dict(lease))
            if execute(*statements[0]).rowcount == 0:
                continue
            for statement, params in statements[1:]:
                execute(statement, params)
            execute(sql.served, [user_id, Run.lease_expires_at.db_value(now)])
            for key, value in changes.items():
                setattr(run, key, value)
            return run
        return None

    # Recovery -------------------------------------------------------------------------
    async def recover_expired(self) -> int:
        """Take over running runs whose lease expired; returns how many."""
        moved = await self.db.transaction(self._recover_tx, utcnow())
        for run in moved or ():
            log.warning("run.lease_expired", extra=fields(run_id=run.id, status=run.status))
            await self.runs.publish(run)
        if moved:
            self.taken_over += len(moved)
            self.slots.wake()
        return len(moved or ())

    def _recover_tx(self, execute, now: dt.datetime) -> list[Run]:
        cursor = execute(self.sql.expired, [self.sql.stamp(now), RECOVER_BATCH])
        moved = []
        for run in to_models(Run, cursor.description, cursor.fetchall()):
            if self.config.retry_interrupted and run.attempts < 2:
                new, extra = RunStatus.QUEUED, {}
            else:
                new, extra = RunStatus.FAILED, {"error_class": "internal_error", "error_message":
                                        "the server executing this run stopped; submit it again"}
            changes, statements = self.runs.transition_plan(
                run, new, {"lease_owner": None, "lease_expires_at": None, **extra})
            if execute(*statements[0]).rowcount == 0:
                continue
            for statement, params in statements[1:]:
                execute(statement, params)
            for key, value in changes.items():
                setattr(run, key, value)
            moved.append(run)
        return moved

    # Heartbeat ------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name="run-leases")

    async def _beat(self) -> None:
        interval = max(0.05, self.seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.scope():
                    await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("run.lease_heartbeat_failed")

    async def tick(self) -> None:
        """Renew this process's leases, stop local runs it no longer owns, take over expired ones."""
        active = self.slots.executing()
        if active:
            until = utcnow() + dt.timedelta(seconds=self.seconds)
            await self.db.execute_sql(self.sql.renew, [self.sql.stamp(until), self.owner])
            self.renewals += 1
            for start in range(0, len(active), 500):
                sql, params = self.sql.lost(active[start:start + 500], self.owner)
                for (run_id,) in (await self.db.execute_sql(sql, params)).fetchall():
                    log.warning("run.lease_lost", extra=fields(run_id=run_id))
                    await self.slots.stop_run(run_id)
        if self.shared:
            await self.recover_expired()

    async def release(self) -> None:
        """At close: this process's leases end now (another process takes its runs over at once)."""
        with contextlib.suppress(Exception):
            await self.db.execute_sql(self.sql.give_up, [self.sql.stamp(utcnow() - dt.timedelta(seconds=1)), self.owner])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def stats(self) -> dict[str, Any]:
        return {"owner": self.owner, "lease_seconds": self.seconds, "executing": len(self.slots.executing()),
                "renewals": self.renewals, "taken_over": self.taken_over}

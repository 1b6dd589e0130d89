"""Several API processes on one database behave as one server: the run notifications.

The hub builds, in ``Hub._wire`` (per process): an owner id for run leases; the event bus
(:mod:`.bus`: PostgreSQL ``LISTEN/NOTIFY``, or nothing to cross on SQLite); the lease
heartbeat and recovery (:mod:`.leases`), handed to the queue. On PostgreSQL also:

- every run transition sends ``run <id> <status>`` in its own transaction
  (:class:`NotifyingExtension`); another process that has WebSocket subscribers for the run
  reads the row and publishes it to them, and a process executing the run stops it (cancelled
  through another process, or taken over): :class:`RunRelay`, subscribed to the bus's ``run``
  topic;
- the rate limiter keeps its buckets in the database (``PgRateLimiter``);
- caches that assume one process are dropped everywhere: the services that keep them receive
  the bus as their change announcer (``jobs.bus.Announcer``) and announce and hear changes
  themselves: the active-user cache (``Accounts.forget_user``: disabled users, password
  changes) and the circuit-list totals/pages (``Circuits``' changes).
"""

from __future__ import annotations

from typing import Any

from ..run_status import RunStatus
from .leases import LocalSlots


class NotifyingExtension:
    """The run service's extension (benchmarks), plus a notification in every transition's
    transaction: ``run <id> <new status>`` reaches the other processes once it commits."""

    def __init__(self, inner, bus) -> None:
        self.inner = inner
        self.bus = bus

    async def analysis_for(self, run):
        return await self.inner.analysis_for(run) if self.inner is not None else None

    def on_transition(self, run, new, changes: dict[str, Any]) -> list:
        extra = self.inner.on_transition(run, new, changes) if self.inner is not None else []
        return [*extra, *self.bus.statement("run", f"{run.id} {RunStatus(new).value}")]

    async def block(self, run):
        return await self.inner.block(run) if self.inner is not None else None


class RunRelay:
    """What another process's run transition means here (``bus.on("run", relay.received)``)."""

    def __init__(self, runs, slots: LocalSlots, owner: str) -> None:
        self.runs = runs  # the run service: load, publish, its events' subscribers
        self.slots = slots
        self.owner = owner

    def received(self, body: str):
        run_id, _, status = body.partition(" ")
        if status == RunStatus.QUEUED:
            self.slots.wake()  # submitted (or taken over) elsewhere: a free slot here may take it
        stop = self.slots.is_executing(run_id)  # moved by someone else while we execute it: ours still?
        listen = self.runs.events.has_subscribers(run_id)
        if stop or listen:
            return self._act(run_id, stop, listen)
        return None

    async def _act(self, run_id: str, stop: bool, listen: bool) -> None:
        run = await self.runs.load(run_id)
        # A notification may be older than our claim (the "queued" that preceded it): the row decides.
        if stop and (run is None or run.status != RunStatus.RUNNING or run.lease_owner != self.owner):
            await self.slots.stop_run(run_id)
        if listen and run is not None:
            await self.runs.publish(run)

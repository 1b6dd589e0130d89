"""Several API processes on one database behave as one server: the wiring.

The hub builds the bus, the shared rate limiter and the notifying run extension; this adds,
once the runs engine exists, per process: an owner id for run leases; the
event bus (:mod:`.bus`: PostgreSQL ``LISTEN/NOTIFY``, or nothing to cross on SQLite); the lease
heartbeat and recovery (:mod:`.leases`). On PostgreSQL also:

- every run transition sends ``run <id> <status>`` in its own transaction; another process
  that has WebSocket subscribers for the run reads the row and publishes it to them, and a
  process executing the run stops it (cancelled through another process, or taken over);
- the rate limiter keeps its buckets in the database (``PgRateLimiter``);
- caches that assume one process are dropped everywhere: the active-user cache
  (``Accounts.forget_user``: disabled users, password changes) and the circuit-list
  totals/pages (``Circuits._changing``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..run_status import RunStatus
from .leases import Leases


async def attach_scaleout(hub, owner: str, shared: bool) -> None:
    runs, queue, bus = hub.runs, hub.run_queue, hub.bus
    leases = Leases(runs, queue, hub.settings.runs, owner, shared=shared)
    queue.leases = leases
    hub.add_component(leases)
    if not shared:
        return
    bus.on("run", RunRelay(runs, queue).received)
    _share_caches(hub, bus)

    previous = hub.health_checks.get("queue")

    async def queue_health() -> dict[str, Any]:
        state = await previous() if previous is not None else {"ok": True}
        return {**state, "leases": leases.stats(), "bus": bus.stats()}

    hub.health_checks["queue"] = queue_health


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
    """What another process's run transition means here."""

    def __init__(self, runs, queue) -> None:
        self.runs = runs
        self.queue = queue

    def received(self, body: str):
        run_id, _, status = body.partition(" ")
        if status == RunStatus.QUEUED:
            self.queue._wake.set()  # submitted (or taken over) elsewhere: a free slot here may take it
        stop = run_id in self.queue._active  # moved by someone else while we execute it: ours still?
        listen = self.runs.events.has_subscribers(run_id)
        if stop or listen:
            return self._act(run_id, stop, listen)
        return None

    async def _act(self, run_id: str, stop: bool, listen: bool) -> None:
        run = await self.runs.load(run_id)
        # A notification may be older than our claim (the "queued" that preceded it): the row decides.
        if stop and (run is None or run.status != RunStatus.RUNNING or run.lease_owner != self.queue.leases.owner):
            await self.queue.stop_run(run_id)
        if listen and run is not None:
            await self.runs.publish(run)


def _share_caches(hub, bus) -> None:
    accounts = getattr(hub, "accounts", None)
    if accounts is not None:
        forget_here = accounts.forget_user

        def forget_user(user_id: str) -> None:
            forget_here(user_id)
            bus.broadcast_soon("user", user_id)

        accounts.forget_user = forget_user
        bus.on("user", forget_here)
    circuits = getattr(hub, "circuits", None)
    if circuits is not None and hasattr(circuits, "_changing"):
        changing_here = circuits._changing

        @contextlib.asynccontextmanager
        async def changing():
            try:
                async with changing_here():
                    yield
            finally:
                bus.broadcast_soon("circuits", "changed")

        def dropped(_body: str) -> None:
            circuits._generation += 1

        circuits._changing = changing
        bus.on("circuits", dropped)

"""The two narrow interfaces between the run service and the run queue, one per direction.

- :class:`Scheduler` is what the run service (``services/runs.py``) may ask of the
  scheduling side: wake the slots (a run was queued), stop a cancelled run's work, and the
  fairness snapshot a queue position is computed from. :class:`SlotBoard` is the one
  implementation: the slots' shared state (what runs where, who was served when, the wake
  signal), built before the run service and handed to both it and the queue. It is also
  what the run leases (``jobs/leases.py``) and the cross-process relay (``jobs/scaleout.py``)
  see of this process's slots: :meth:`SlotBoard.executing`, :meth:`SlotBoard.is_executing`,
  :meth:`SlotBoard.stop_run` and :meth:`SlotBoard.wake` (their ``LocalSlots`` protocol).
- :class:`RunStore` is what the queue (``jobs/queue.py``) may ask of the run service: load
  a run, move it through its lifecycle (every transition goes through here), claim the next
  one in fair order, and the few reads a slot needs. ``services.runs.Runs`` implements it;
  ``tests/runs/test_queue_unit.py`` drives the queue against a fake one.

Nothing here imports the services or the database: the arrows point from both sides to here."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, AsyncContextManager, Mapping, Protocol

from ..run_status import RunStatus


@dataclass(frozen=True)
class Fairness:
    """A snapshot of the queue's fairness state for one claim: among users below the per-user
    cap, fewest running first, then the one served longest ago, then the oldest waiting run."""

    active: Mapping[str, int] = field(default_factory=dict)
    served: Mapping[str, int] = field(default_factory=dict)
    cap: int = 1

    def eligible(self, user_id: str) -> bool:
        return self.active.get(user_id, 0) < self.cap

    def key(self, user_id: str, oldest: Any) -> tuple:
        return (self.active.get(user_id, 0), self.served.get(user_id, 0), oldest)


class Scheduler(Protocol):
    def wake(self) -> None:
        """New work is queued: let an idle slot look."""

    async def cancel(self, run_id: str) -> None:
        """The run was cancelled: stop its work now (if any slot has it)."""

    def service_order(self) -> dict[str, float]:
        """When each user was last served (smaller = sooner next); unknown users go first."""


class RunStore(Protocol):
    async def load(self, run_id: str) -> Any | None: ...

    async def transition(self, run: Any, new: RunStatus, **fields: Any) -> Any | None:
        """Move ``run`` (a run or its id) to ``new`` if its state allows; None when it doesn't."""

    async def claim_next(self, fairness: Fairness, fields: Mapping[str, Any] | None = None) -> Any | None:
        """Move the next queued run (in ``fairness`` order) to running and return it (``fields``:
        more columns of the claimed run: its lease, see ``jobs.leases``)."""

    async def finish_and_claim(self, run: Any, new: RunStatus, end: Mapping[str, Any], fairness: Fairness,
                               fields: Mapping[str, Any] | None = None, owner: str | None = None) -> Any | None:
        """``transition(run, new, owner=owner, **end)`` then ``claim_next(fairness, fields)``, in one
        transaction when the store can (a slot's end of one run and start of the next)."""

    async def interrupted(self) -> list[Any]:
        """Runs a stopped server left ``pending`` or ``running`` (id, status, attempts)."""

    async def circuit_and_version(self, run: Any) -> tuple[Any, Any] | None:
        """The circuit and the circuit version ``run`` executes (None if gone)."""

    async def analysis(self, run: Any) -> Any:
        """The analysis spec the simulation task carries (None for an ordinary run)."""

    def idle(self) -> AsyncContextManager[None]:
        """A block in which this task waits long without holding a database connection
        (``db.core.Db.idle``)."""


class Executor(Protocol):
    async def cancel(self, task_id: str) -> None: ...


class SlotBoard:
    """The slots' shared state; the :class:`Scheduler` the run service receives."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.signal = asyncio.Event()
        self.active: dict[str, asyncio.Task] = {}  # run id -> the task executing it
        self.active_users: dict[str, int] = {}  # user id -> runs executing now
        self.served: dict[str, int] = {}  # user id -> ticket of their last claim
        self.finishing: set[str] = set()  # runs writing their own end: not "lost" (see stop_run)
        self._ticket = itertools.count(1)

    def wake(self) -> None:
        self.signal.set()

    async def cancel(self, run_id: str) -> None:
        task = self.active.get(run_id)
        if task is not None:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.executor.cancel(run_id)

    def service_order(self) -> dict[str, float]:
        return dict(self.served)

    def executing(self) -> list[str]:
        """The ids of the runs this process's slots execute now."""
        return list(self.active)

    def is_executing(self, run_id: str) -> bool:
        return run_id in self.active

    async def stop_run(self, run_id: str) -> None:
        """Stop a run's work here (cancelled or taken over by another process), unless it is
        writing its own end (nothing left to stop)."""
        if run_id not in self.finishing:
            await self.cancel(run_id)

    def fairness(self, cap: int) -> Fairness:
        return Fairness(dict(self.active_users), dict(self.served), cap)

    def claimed(self, user_id: str) -> None:
        self.served[user_id] = next(self._ticket)
        self.active_users[user_id] = self.active_users.get(user_id, 0) + 1

    def finished(self, run_id: str, user_id: str) -> None:
        self.active.pop(run_id, None)
        left = self.active_users.get(user_id, 1) - 1
        if left > 0:
            self.active_users[user_id] = left
        else:
            self.active_users.pop(user_id, None)

"""The run lifecycle's one vocabulary: :class:`RunStatus`, its allowed transitions and
which states are terminal. A ground-floor module (no imports from the package), so the
database layer, the services, the queue, the schemas and the web pages all name states
through it instead of bare strings.

A run is born ``pending``, is ``queued`` once the scheduler knows it, ``running`` while a
slot works on it and ends ``completed``, ``failed`` or ``cancelled``; a terminal state never
changes. ``running -> queued`` is a retry (after a restart, or a graceful shutdown)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_waiting(self) -> bool:
        """Not yet claimed by a slot (``pending`` or ``queued``): it has a queue position."""
        return self in WAITING

    def may_follow(self, old: str) -> bool:
        """Whether a run in state ``old`` may move to this state."""
        return old in ALLOWED_FROM[self]


#: Not finished: counted against the per-user cap, shown with live updates.
ACTIVE: tuple[RunStatus, ...] = (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING)
#: Waiting for a slot (what a queue position is computed over).
WAITING: tuple[RunStatus, ...] = (RunStatus.PENDING, RunStatus.QUEUED)
#: Finished for good.
TERMINAL: tuple[RunStatus, ...] = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
STATUSES: tuple[RunStatus, ...] = ACTIVE + TERMINAL
#: Lifecycle order (a run only moves forward while a socket serves it; the terminal states tie).
STAGE: dict[RunStatus, int] = {RunStatus.PENDING: 0, RunStatus.QUEUED: 1, RunStatus.RUNNING: 2,
                               RunStatus.COMPLETED: 3, RunStatus.FAILED: 3, RunStatus.CANCELLED: 3}

#: new state -> the states it may be reached from.
ALLOWED_FROM: dict[RunStatus, tuple[RunStatus, ...]] = {
    RunStatus.PENDING: (),
    RunStatus.QUEUED: (RunStatus.PENDING, RunStatus.RUNNING),  # running -> queued: a retry after a restart
    RunStatus.RUNNING: (RunStatus.QUEUED,),
    RunStatus.COMPLETED: (RunStatus.RUNNING,),
    RunStatus.FAILED: (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING),
    RunStatus.CANCELLED: (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING),
}

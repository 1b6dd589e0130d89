"""Live run updates: each transition is serialised once (by the publisher) and written to every
subscriber in one pass.

A subscriber (one WebSocket) is a :class:`Subscription`. Until its first message (the run's
state when it subscribed) is out, whatever is published is kept in its backlog; then it goes
*live* with a :class:`Sink`, and a later transition is written straight to its socket by
:meth:`RunEvents.publish` when the socket can take it without waiting (nothing unsent queued
before it). A slow reader's messages go to its backlog instead, for its own task to send, so
one slow socket never holds up the others; one that falls :data:`MAX_BACKLOG` messages behind
is dropped. No database read, parse or permission check happens per subscriber at publish
time: what a subscriber may see was checked when it subscribed.

Messages carry their status, so a subscriber gets only states after the one it already has
(:data:`~qubithub_lite.run_status.STAGE` order): one message per transition, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from typing import Protocol

from ..logs import fields
from ..run_status import STAGE, RunStatus

log = logging.getLogger(__name__)

#: A subscriber that falls this far behind is dropped (it would only see stale states). The
#: stage order keeps a backlog at four messages at most; this is the bound if that ever changes.
MAX_BACKLOG = 64


class Sink(Protocol):
    """Where a live subscription's messages go (a WebSocket, in the API layer)."""

    def ready(self, size: int) -> bool:
        """Whether a message of ``size`` bytes can be written now without waiting."""

    async def send(self, payload: bytes) -> None:
        """Write one message (it does not wait when :meth:`ready` said so)."""


class Subscription:
    """One subscriber of a run: the stage it has (or has queued), its backlog and whether
    a terminal state reached it. Its owner waits on :attr:`wake` (see :meth:`flush`)."""

    __slots__ = ("run_id", "stage", "sink", "backlog", "wake", "ended", "dropped")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.stage = -1  # the latest stage delivered or queued
        self.sink: Sink | None = None  # set by flush (live): messages may then be written directly
        self.backlog: deque[tuple[int, bytes, bool]] = deque()  # (stage, message, terminal)
        self.wake = asyncio.Event()
        self.ended = False  # a terminal state was sent: the owner closes the socket
        self.dropped = False  # fell too far behind

    def covered(self, status: str) -> None:
        """The first message showed ``status``: drop what it already covers."""
        stage = STAGE[RunStatus(status)]
        self.stage = max(self.stage, stage)
        self.ended = RunStatus(status).is_terminal
        while self.backlog and self.backlog[0][0] <= stage:
            self.backlog.popleft()
        if self.ended:
            self.backlog.clear()

    def queue(self, stage: int, payload: bytes, terminal: bool) -> bool:
        if len(self.backlog) >= MAX_BACKLOG:
            self.dropped = True
            self.backlog.clear()
            self.wake.set()
            return False
        self.backlog.append((stage, payload, terminal))
        self.wake.set()
        return True

    async def flush(self, sink: Sink) -> None:
        """Send the backlog (in order) through ``sink``, then leave the subscription live:
        later messages may go straight to the sink. Called by the owner's task only."""
        self.wake.clear()
        self.sink = None  # while this task sends, publish queues behind it
        while self.backlog:
            _, payload, terminal = self.backlog.popleft()
            await sink.send(payload)
            if terminal:
                self.ended = True
                self.backlog.clear()
        self.sink = sink  # no await between the empty check and this: nothing overtakes the backlog


class RunEvents:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, run_id: str) -> Subscription:
        sub = Subscription(run_id)
        self._subscribers[run_id].add(sub)
        return sub

    def unsubscribe(self, run_id: str, sub: Subscription) -> None:
        subs = self._subscribers.get(run_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[run_id]

    def has_subscribers(self, run_id: str) -> bool:
        return bool(self._subscribers.get(run_id))

    async def publish(self, run_id: str, status: str, message: str) -> None:
        """Send ``message`` (a run in state ``status``, serialised once) to every subscriber
        of the run that has not had this state yet. A socket that can take it now gets it
        now (the write does not wait); the others get it through their backlog."""
        subs = self._subscribers.get(run_id)
        if not subs:
            return
        stage, terminal = STAGE[RunStatus(status)], RunStatus(status).is_terminal
        payload = message.encode()
        size = len(payload)
        for sub in list(subs):
            if stage <= sub.stage or sub.ended or sub.dropped:
                continue
            sub.stage = stage
            sink = sub.sink
            if sink is not None and not sub.backlog and sink.ready(size):
                try:
                    await sink.send(payload)
                except Exception as exc:  # the socket went away under us: its owner cleans up
                    log.debug("run_events.send_failed", extra=fields(run_id=run_id, error=repr(exc)))
                    sub.dropped = True
                    sub.wake.set()
                    continue
                if terminal:
                    sub.ended = True
                    sub.wake.set()
            elif not sub.queue(stage, payload, terminal):
                self.unsubscribe(run_id, sub)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

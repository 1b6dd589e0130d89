"""Live run updates: one serialisation and one put per subscriber per transition."""

from __future__ import annotations

import asyncio
from collections import defaultdict

#: A subscriber that falls this far behind is dropped (it would only see stale states).
MAX_BACKLOG = 64


class RunEvents:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    def subscribe(self, run_id: str) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(MAX_BACKLOG)
        self._subscribers[run_id].add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[str]) -> None:
        subs = self._subscribers.get(run_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subscribers[run_id]

    def has_subscribers(self, run_id: str) -> bool:
        return bool(self._subscribers.get(run_id))

    def publish(self, run_id: str, message: str) -> None:
        for queue in list(self._subscribers.get(run_id, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.unsubscribe(run_id, queue)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

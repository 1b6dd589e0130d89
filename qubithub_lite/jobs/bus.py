"""The event bus between API processes on one database.

Messages are short text: a topic (``run``, ``cache``) and a body (ids and a status, never a
document: a PostgreSQL notification carries at most 8000 bytes, so a listener that needs more
reads the row). A message reaches every *other* process; the sender has already acted on it
locally (it published to its own subscribers, dropped its own cache entry).

- :class:`LocalBus` (SQLite: one process): nothing crosses, nothing to do.
- :class:`PgBus` (PostgreSQL): ``LISTEN/NOTIFY`` on one channel. A notification sent inside a
  write transaction (:meth:`PgBus.statement`) is delivered only if, and as soon as, that
  transaction commits, so a listener never hears of a state the database does not have. Each
  process listens on one dedicated asyncpg connection (not a pool slot), reconnecting after a
  loss; what it misses meanwhile is covered by the lease heartbeat (a cancelled or taken-over run
  is found within a third of the lease) and by the caches' own short lifetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, Awaitable, Callable, Protocol

from ..logs import fields

log = logging.getLogger(__name__)

#: One channel for everything (a process listens once).
CHANNEL = "qubithub_lite"
#: PostgreSQL's limit on a notification payload is 8000 bytes; ids and statuses are far shorter.
MAX_PAYLOAD = 7900

Handler = Callable[[str], "Awaitable[None] | None"]
Statement = tuple[str, list[Any]]


class Announcer(Protocol):
    """What a service with a per-process cache receives in its constructor (the bus): it
    announces its own changes to the other processes and subscribes its own drop handler."""

    def on(self, topic: str, handler: Handler) -> None: ...
    def broadcast_soon(self, topic: str, body: str) -> None: ...


class Bus(Announcer, Protocol):
    origin: str

    def statement(self, topic: str, body: str) -> list[Statement]: ...
    async def broadcast(self, topic: str, body: str) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


def _payload(origin: str, topic: str, body: str) -> str:
    if " " in origin or " " in topic:
        raise ValueError("bus origin and topic are single words")
    payload = f"{origin} {topic} {body}"
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError("bus messages carry ids, not documents")
    return payload


class LocalBus:
    """One process: every message would only reach its sender, which already acted on it."""

    shared = False

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def on(self, topic: str, handler: Handler) -> None:
        pass

    def statement(self, topic: str, body: str) -> list[Statement]:
        return []

    async def broadcast(self, topic: str, body: str) -> None:
        pass

    def broadcast_soon(self, topic: str, body: str) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class PgBus:
    """``LISTEN/NOTIFY`` on PostgreSQL (see the module docstring)."""

    shared = True
    RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

    def __init__(self, db, url: str, origin: str) -> None:
        self.db = db
        self.url = url
        self.origin = origin
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._conn = None
        self._keeper: asyncio.Task | None = None
        self._lost = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self.received = 0

    def on(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def statement(self, topic: str, body: str) -> list[Statement]:
        """A ``pg_notify`` to run inside a write transaction: sent when (and if) it commits."""
        return [("SELECT pg_notify(%s, %s)", [CHANNEL, _payload(self.origin, topic, body)])]

    async def broadcast(self, topic: str, body: str) -> None:
        await self.db.execute_sql("SELECT pg_notify(%s, %s)", [CHANNEL, _payload(self.origin, topic, body)])

    def broadcast_soon(self, topic: str, body: str) -> None:
        """From synchronous code inside the event loop: send without waiting (errors are logged)."""
        self._spawn(self._broadcast_logged(topic, body))

    async def _broadcast_logged(self, topic: str, body: str) -> None:
        try:
            async with self.db.scope():
                await self.broadcast(topic, body)
        except Exception:
            log.exception("bus.send_failed", extra=fields(topic=topic))

    # Listening ------------------------------------------------------------------------
    async def start(self) -> None:
        await self._connect()
        self._keeper = asyncio.create_task(self._keep_connected(), name="bus-listener")

    async def _connect(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._received)
        self._conn = conn
        self._lost.clear()

    async def _keep_connected(self) -> None:
        while not self._closing:
            await self._lost.wait()
            if self._closing:
                return
            log.warning("bus.disconnected")
            for delay in itertools_cycle(self.RECONNECT_SECONDS):
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                except Exception as exc:
                    log.warning("bus.reconnect_failed", extra=fields(error=type(exc).__name__))
                    continue
                log.info("bus.reconnected")
                break

    def _received(self, _conn, _pid, _channel, payload: str) -> None:
        origin, _, rest = payload.partition(" ")
        topic, _, body = rest.partition(" ")
        if origin == self.origin:
            return
        self.received += 1
        for handler in self._handlers.get(topic, ()):
            try:
                result = handler(body)
            except Exception:
                log.exception("bus.handler_failed", extra=fields(topic=topic))
                continue
            if asyncio.iscoroutine(result):
                self._spawn(self._guarded(result, topic))

    async def _guarded(self, coro, topic: str) -> None:
        try:
            async with self.db.scope():
                await coro
        except Exception:
            log.exception("bus.handler_failed", extra=fields(topic=topic))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closing = True
        self._lost.set()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(BaseException):
                await self._keeper
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    def stats(self) -> dict[str, Any]:
        return {"kind": "postgresql", "connected": self._conn is not None and not self._conn.is_closed(),
                "received": self.received}


def itertools_cycle(delays):
    """The reconnect delays, then the last one for ever."""
    yield from delays
    while True:
        yield delays[-1]

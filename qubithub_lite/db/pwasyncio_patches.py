"""Speed-ups for peewee's async layer (``playhouse.pwasyncio``) on SQLite, in one place.

They reach into private attributes of pwasyncio and aiosqlite, so they are kept here, apart
from the rest of the data layer, and ``tests/foundation/test_pwasyncio_patches.py`` asserts
every private name and signature they rely on (it fails loudly after an upgrade that changes
them; then re-check each class below against the new source).

Checked against **peewee 4.5.3** (``playhouse/pwasyncio.py``) and **aiosqlite 0.22.1**.

What is relied on:

- ``AsyncConnectionWrapper``: ``conn`` (the aiosqlite connection), ``_lock`` and
  ``async _acquire_lock()``; ``AsyncSqliteConnection(conn)`` and its ``async _execute(sql,
  params)`` returning a cursor; ``CursorAdapter(rows, lastrowid=, rowcount=, description=)``.
- aiosqlite's ``Connection._execute(fn, *args)`` (runs ``fn`` on the connection's thread) and
  ``Connection._conn`` (the sqlite3 connection), which pwasyncio itself uses.
- ``AsyncSqlitePool(database, pool_size=, on_connect=, timeout=, **connect_params)``, its
  ``_queue`` (an ``asyncio.Queue`` of idle connections) and ``async _create_connection()``.
- ``AsyncSqliteDatabase``: ``_pool``, ``_closing``, ``_pool_size``, ``_timeout``,
  ``connect_params``, ``_add_conn_hooks``, ``async _acquire_conn_async()``,
  ``async _create_pool_async()``, and a pooled connection's ``_pool`` attribute.
- For :func:`pool_stats` (the ``/metrics`` pool gauge): the database's ``_pool`` and that
  pool's ``_pool_size`` and ``_queue`` (a pool without them, PostgreSQL's, reads as size 0).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

from playhouse.pwasyncio import (
    AsyncSqliteConnection, AsyncSqliteDatabase, AsyncSqlitePool, CursorAdapter, ImproperlyConfigured, aiosqlite,
)

#: The versions the private surface above was checked against.
CHECKED_AGAINST = {"peewee": "4.5.3", "aiosqlite": "0.22.1"}

T = TypeVar("T")


def _run_statement(conn, sql: str, params) -> tuple[list, int | None, int, Any]:
    """On aiosqlite's worker thread: execute, fetch every row, read the cursor's metadata."""
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall(), cursor.lastrowid, cursor.rowcount, cursor.description
    finally:
        cursor.close()


class OneHopSqliteConnection(AsyncSqliteConnection):
    """pwasyncio's SQLite connection makes three trips to aiosqlite's worker thread per
    statement (execute, fetchall, close). Each trip is a queue put, a thread wake-up and
    a call back into the event loop, and under load each costs far more than the query.
    This does the same work in one trip (aiosqlite's ``_execute`` queues a callable on its
    thread, as pwasyncio itself does for aggregates and collations)."""

    #: Shared by every connection of a pool; see :class:`OneHopSqlitePool`.
    read_gate: asyncio.Semaphore | None = None

    async def _execute(self, sql, params=None):
        gate = self.read_gate if sql[:6].upper() == "SELECT" else None
        if gate is not None:
            await gate.acquire()
        try:
            rows, lastrowid, rowcount, description = await self.conn._execute(
                _run_statement, self.conn._conn, sql, params or ()
            )
        finally:
            if gate is not None:
                gate.release()
        return CursorAdapter(rows, lastrowid=lastrowid, rowcount=rowcount, description=description)

    async def call_on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(sqlite3_connection, *args)`` on the connection's thread, in one trip, holding
        the connection's lock (as pwasyncio's own ``execute`` does)."""
        await self._acquire_lock()
        try:
            return await self.conn._execute(fn, self.conn._conn, *args)
        finally:
            self._lock.release()


class OneHopSqlitePool(AsyncSqlitePool):
    """Each pooled connection has its own thread. SELECTs from all of them share a gate of
    ``read_concurrency`` places: Python's sqlite3 takes the GIL back for every fetched row,
    so many connection threads reading at once mostly wait for the GIL and each other (16
    concurrent list queries: ~18 ms each instead of ~0.3 ms, and fewer per second than one
    at a time). A read waits for nothing but SQLite's own work, so the gate cannot deadlock;
    writes are not gated (they are serialised by the writer lock)."""

    def __init__(self, *args, read_concurrency: int = 4, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_gate = asyncio.Semaphore(read_concurrency) if read_concurrency > 0 else None

    async def _create_connection(self):
        wrapper = await super()._create_connection()
        conn = OneHopSqliteConnection(wrapper.conn)
        conn.read_gate = self.read_gate
        return conn


def pool_stats(engine: Any) -> dict[str, int]:
    """The engine's connection pool: its ``size``, the connections ``in_use`` (bound to a
    task) and ``idle`` ones. Before the first query there is no pool yet: all zero."""
    pool = getattr(engine, "_pool", None)
    size = int(getattr(pool, "_pool_size", 0) or 0)
    queue = getattr(pool, "_queue", None)
    idle = queue.qsize() if queue is not None else size
    return {"size": size, "in_use": max(0, size - idle), "idle": idle}


class OneHopSqliteDatabase(AsyncSqliteDatabase):
    """AsyncSqliteDatabase whose pooled connections run each statement in one thread hop."""

    read_concurrency = 4

    async def _acquire_conn_async(self):
        """Take an idle pooled connection at once. pwasyncio's own path wraps both the pool
        check and the queue get in ``wait_for`` (two tasks per request in Python 3.11);
        it still handles creating the pool and waiting for a busy one."""
        pool = self._pool
        if pool is not None and not self._closing:
            try:
                conn = pool._queue.get_nowait()
            except (asyncio.QueueEmpty, AttributeError):
                pass
            else:
                conn._pool = pool
                return conn
        return await super()._acquire_conn_async()

    async def _create_pool_async(self):
        if aiosqlite is None:
            raise ImproperlyConfigured("aiosqlite is not installed")
        pool_size = 1 if self.database == ":memory:" else self._pool_size
        pool = OneHopSqlitePool(self.database, pool_size=pool_size, on_connect=self._add_conn_hooks,
                                 read_concurrency=self.read_concurrency, timeout=self._timeout, **self.connect_params)
        return await pool.initialize()

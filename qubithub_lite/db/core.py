"""The database handle: peewee's async layer (playhouse.pwasyncio) on aiosqlite.

SQLite runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and a busy
timeout. Write transactions go through :meth:`Db.tx`, which takes an in-process
writer lock and then ``BEGIN IMMEDIATE``: writers queue up instead of two
deferred transactions deadlocking on a lock upgrade. Reads need no lock (WAL).
The same code runs on PostgreSQL (``postgresql://`` URL, asyncpg) where the
lock is skipped and the server's own row locking applies.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TypeVar
from urllib.parse import urlparse

from peewee import DatabaseProxy, Query
from playhouse.pwasyncio import (
    AsyncDatabaseMixin, AsyncPostgresqlDatabase, AsyncSqliteConnection, AsyncSqliteDatabase, AsyncSqlitePool,
    CursorAdapter, ImproperlyConfigured, aiosqlite,
)

T = TypeVar("T")

#: Every model binds to this proxy; :func:`open_database` points it at the real database.
database_proxy = DatabaseProxy()


def _run_statement(conn, sql: str, params) -> tuple[list, int | None, int, Any]:
    """On aiosqlite's worker thread: execute, fetch every row, read the cursor's metadata."""
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall(), cursor.lastrowid, cursor.rowcount, cursor.description
    finally:
        cursor.close()


def _run_batch(conn, statements, guard: bool, nested: bool) -> list[tuple[list, int | None, int]] | None:
    """On aiosqlite's worker thread: run ``statements`` as one transaction (a savepoint when
    the task is already inside one). With ``guard``, a first statement that changes no row
    rolls everything back and the result is None."""
    conn.execute("SAVEPOINT qh_batch" if nested else "BEGIN IMMEDIATE")

    def rollback() -> None:
        if nested:
            conn.execute("ROLLBACK TO qh_batch")
            conn.execute("RELEASE qh_batch")
        elif conn.in_transaction:
            conn.execute("ROLLBACK")

    try:
        results = []
        for index, (sql, params) in enumerate(statements):
            cursor = conn.execute(sql, params)
            try:
                results.append((cursor.fetchall(), cursor.lastrowid, cursor.rowcount))
            finally:
                cursor.close()
            if guard and index == 0 and cursor.rowcount == 0:
                rollback()
                return None
        conn.execute("RELEASE qh_batch" if nested else "COMMIT")
        return results
    except BaseException:
        with contextlib.suppress(Exception):
            rollback()
        raise


class _OneHopSqliteConnection(AsyncSqliteConnection):
    """pwasyncio's SQLite connection makes three trips to aiosqlite's worker thread per
    statement (execute, fetchall, close). Each trip is a queue put, a thread wake-up and
    a call back into the event loop, and under load each costs far more than the query.
    This does the same work in one trip (aiosqlite's ``_execute`` queues a callable on its
    thread, as pwasyncio itself does for aggregates and collations)."""

    async def _execute(self, sql, params=None):
        rows, lastrowid, rowcount, description = await self.conn._execute(
            _run_statement, self.conn._conn, sql, params or ()
        )
        return CursorAdapter(rows, lastrowid=lastrowid, rowcount=rowcount, description=description)

    async def execute_batch(self, statements, guard: bool, nested: bool):
        await self._acquire_lock()
        try:
            return await self.conn._execute(_run_batch, self.conn._conn, statements, guard, nested)
        finally:
            self._lock.release()


class _OneHopSqlitePool(AsyncSqlitePool):
    async def _create_connection(self):
        wrapper = await super()._create_connection()
        return _OneHopSqliteConnection(wrapper.conn)


class _SqliteDatabase(AsyncSqliteDatabase):
    """AsyncSqliteDatabase whose pooled connections run each statement in one thread hop."""

    async def _create_pool_async(self):
        if aiosqlite is None:
            raise ImproperlyConfigured("aiosqlite is not installed")
        pool_size = 1 if self.database == ":memory:" else self._pool_size
        pool = _OneHopSqlitePool(self.database, pool_size=pool_size, on_connect=self._add_conn_hooks,
                                 timeout=self._timeout, **self.connect_params)
        return await pool.initialize()


class _TaskReentrantLock:
    """An asyncio lock that the owning task may re-enter (nested transactions)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None
        self._depth = 0

    async def acquire(self) -> None:
        task = asyncio.current_task()
        if self._owner is task and task is not None:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner, self._depth = task, 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


_ROW_PLANS: dict[tuple[type, tuple[str, ...]], list[tuple[str, Callable[[Any], Any] | None, bool]]] = {}


def _row_plan(model, columns: tuple[str, ...]) -> list[tuple[str, Callable[[Any], Any] | None, bool]]:
    """For each column: (field name or attribute, the field's python_value, is a field)."""
    by_column = model._meta.columns
    plan = []
    for column in columns:
        field = by_column.get(column)
        if field is None:
            plan.append((column, None, False))
        else:
            plan.append((field.name, field.python_value, True))
    return plan


class _GuardFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement of :meth:`Db.write` answered."""

    rows: list
    lastrowid: int | None
    rowcount: int


class Db:
    """Thin wrapper giving services one obvious way to read and to write."""

    def __init__(self, engine: AsyncDatabaseMixin, *, url: str):
        self.engine = engine
        self.url = url
        self.is_sqlite = isinstance(engine, AsyncSqliteDatabase)
        self._write_lock = _TaskReentrantLock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[None]:
        """A write transaction (nested calls become savepoints).

        Lock order: this task's pooled connection first, then the writer lock. The other
        order deadlocks when every pooled connection belongs to a task queued on the lock
        while the lock holder waits for a connection."""
        await self.engine.aconnect()
        if self._write_lock is not None:
            await self._write_lock.acquire()
        try:
            # atomic() begins a transaction at depth 0 and a savepoint when nested;
            # the lock type only applies to the outermost BEGIN.
            async with self.engine.atomic("IMMEDIATE") if self.is_sqlite else self.engine.atomic():
                yield
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    # Reads and single statements -------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run synchronous peewee code (queries, lazy relations) on the async bridge."""
        return await self.engine.run(fn, *args, **kwargs)

    async def list(self, query: Query) -> list:
        return await self.engine.list(query)

    async def first(self, query: Query) -> Any:
        rows = await self.engine.list(query.limit(1))
        return rows[0] if rows else None

    async def count(self, query: Query) -> int:
        return await self.engine.count(query)

    async def scalar(self, query: Query) -> Any:
        return await self.engine.scalar(query)

    async def exists(self, query: Query) -> bool:
        return await self.engine.exists(query)

    async def models(self, model: type[T], sql: str, params: tuple | list = ()) -> list[T]:
        """Instances of ``model`` from a prepared SELECT, in one trip and without the query
        builder. Columns that are not fields of the model (``… AS extra``) become attributes."""
        cursor = await self.engine.aexecute_sql(sql, params)
        description = tuple(d[0] for d in cursor.description or ())
        plan = _ROW_PLANS.get((model, description))
        if plan is None:
            plan = _ROW_PLANS[(model, description)] = _row_plan(model, description)
        result = []
        for row in cursor.fetchall():
            obj = model(__no_default__=1)
            data = obj.__data__
            for (name, convert, is_field), value in zip(plan, row):
                value = value if value is None or convert is None else convert(value)
                if is_field:
                    data[name] = value
                else:
                    setattr(obj, name, value)
            result.append(obj)
        return result

    async def execute(self, query: Query) -> Any:
        return await self.engine.aexecute(query)

    async def execute_sql(self, sql: str, params: tuple | list = ()) -> Any:
        return await self.engine.aexecute_sql(sql, params)

    async def write(self, statements: list[tuple[str, tuple | list]], *, guard: bool = False) -> list[Result] | None:
        """Run prepared statements as one write transaction; on SQLite in one trip to the
        connection's thread (a transaction of N statements otherwise takes N + 2 trips).

        ``guard``: the first statement is a conditional write (``UPDATE … WHERE status = ?``,
        ``INSERT … SELECT … WHERE``); when it changes no row, nothing is written and the
        answer is None. Otherwise one :class:`Result` per statement."""
        conn = await self.engine.aconnect()
        if not isinstance(conn, _OneHopSqliteConnection):
            results: list[Result] = []
            with contextlib.suppress(_GuardFailed):
                async with self.tx():
                    for index, (sql, params) in enumerate(statements):
                        cursor = await self.execute_sql(sql, params)
                        results.append(Result(cursor.fetchall(), cursor.lastrowid, cursor.rowcount))
                        if guard and index == 0 and cursor.rowcount == 0:
                            raise _GuardFailed  # rolls the transaction back
                return results
            return None
        await self._write_lock.acquire()
        try:
            raw = await conn.execute_batch(statements, guard, self.engine.in_transaction())
        finally:
            self._write_lock.release()
        return None if raw is None else [Result(*r) for r in raw]

    async def release(self) -> None:
        """Give this task's pooled connection back. pwasyncio binds a connection to each task
        until the task ends; long-lived tasks (WebSockets, queue loops) call this before they
        wait, or a few of them would hold the whole pool."""
        if not self.engine.in_transaction():
            await self.engine.aclose()

    async def close(self) -> None:
        await self.engine.close_pool()


def _sqlite_path(url: str) -> str:
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    if url.startswith("sqlite://"):
        return url[len("sqlite://"):]
    return url


def open_database(url: str, *, pool_size: int = 8, busy_timeout_ms: int = 10_000) -> Db:
    """Create the engine for ``url`` and bind every model to it."""
    scheme = urlparse(url).scheme
    if scheme in ("postgres", "postgresql"):
        engine: AsyncDatabaseMixin = AsyncPostgresqlDatabase(url, pool_size=pool_size)
    elif scheme in ("sqlite", ""):
        path = _sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = _SqliteDatabase(
            path,
            pool_size=pool_size,
            timeout=busy_timeout_ms / 1000,
            pragmas=[
                ("journal_mode", "wal"),
                ("synchronous", "normal"),
                ("foreign_keys", 1),
                ("busy_timeout", busy_timeout_ms),
                ("cache_size", -16_000),
                ("temp_store", "memory"),
            ],
        )
    else:
        raise ValueError(f"unsupported database URL scheme {scheme!r} (use sqlite:/// or postgresql://)")
    database_proxy.initialize(engine)
    return Db(engine, url=url)

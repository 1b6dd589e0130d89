"""The database handle: peewee's async layer (playhouse.pwasyncio) on aiosqlite.

SQLite runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and a busy
timeout. Write transactions go through :meth:`Db.tx`, which takes an in-process
writer lock and then ``BEGIN IMMEDIATE``: writers queue up instead of two
deferred transactions deadlocking on a lock upgrade. Reads need no lock (WAL).
Hot paths (the run lifecycle) write through :meth:`Db.transaction` / :meth:`Db.write`:
a synchronous transaction function or a list of prepared statements executed in one trip
to the connection's thread, instead of one trip per statement.
The same code runs on PostgreSQL (``postgresql://`` URL, asyncpg) where the
lock is skipped and the server's own row locking applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar
from urllib.parse import urlparse

from peewee import DatabaseProxy, OperationalError, Query
from playhouse.pwasyncio import AsyncDatabaseMixin, AsyncPostgresqlDatabase, AsyncSqliteDatabase

from .pwasyncio_patches import OneHopSqliteConnection, OneHopSqliteDatabase, pool_stats

T = TypeVar("T")

#: Every model binds to this proxy; :func:`open_database` points it at the real database.
database_proxy = DatabaseProxy()


class DatabaseBusy(Exception):
    """The database cannot serve this now: every pooled connection stayed taken for the
    acquire timeout, or the SQLite file stayed locked for the busy timeout. Retrying shortly
    may succeed (the HTTP layer answers 503 with ``Retry-After``). Other database errors
    propagate as they are."""


@contextlib.contextmanager
def _busy_as_ours() -> Iterator[None]:
    """peewee's busy errors (the pool's acquire timeout, ``database is locked``) as
    :class:`DatabaseBusy`, so no layer above needs to know peewee's exception types. The
    one-trip transactions (:meth:`Db.transaction`) raise sqlite3's own error, also mapped."""
    try:
        yield
    except (OperationalError, sqlite3.OperationalError) as exc:
        text = str(exc)
        if "acquiring connection" in text or "locked" in text:
            raise DatabaseBusy(text) from exc
        raise


def _busy_translated(method: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine method of :class:`Db` that raises :class:`DatabaseBusy` for peewee's busy errors."""

    @functools.wraps(method)
    async def translated(*args: Any, **kwargs: Any) -> Any:
        with _busy_as_ours():
            return await method(*args, **kwargs)

    return translated


class Rollback(Exception):
    """Raised inside a transaction function (:meth:`Db.transaction`) to undo everything it
    wrote; the transaction then answers ``value``."""

    def __init__(self, value: Any = None) -> None:
        super().__init__("rollback")
        self.value = value


def _call_in_transaction(conn, fn: Callable[..., T], args: tuple, nested: bool) -> T:
    """On aiosqlite's worker thread: ``fn(conn.execute, *args)`` inside one transaction
    (a savepoint when the task is already inside one)."""
    conn.execute("SAVEPOINT qh_fn" if nested else "BEGIN IMMEDIATE")

    def rollback() -> None:
        if nested:
            conn.execute("ROLLBACK TO qh_fn")
            conn.execute("RELEASE qh_fn")
        elif conn.in_transaction:
            conn.execute("ROLLBACK")

    try:
        result = fn(conn.execute, *args)
    except Rollback as undo:
        rollback()
        return undo.value
    except BaseException:
        with contextlib.suppress(Exception):
            rollback()
        raise
    conn.execute("RELEASE qh_fn" if nested else "COMMIT")
    return result


class _PostgresqlDatabase(AsyncPostgresqlDatabase):
    """pwasyncio's PostgreSQL database on asyncpg alone.

    peewee's ``BlobField`` asks the database for its binary type, which PostgresqlDatabase
    answers from psycopg (``ImproperlyConfigured`` without it; with it ``psycopg.Binary``,
    which asyncpg rejects as a ``bytea`` argument). asyncpg takes plain ``bytes``."""

    def get_binary_type(self):
        return bytes


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


def to_models(model: type[T], description: Any, rows: list) -> list[T]:
    """Rows of a prepared SELECT as instances of ``model`` (fields converted by their
    ``python_value``; columns that are not fields, ``… AS extra``, become attributes)."""
    columns = tuple(d[0] for d in description or ())
    plan = _ROW_PLANS.get((model, columns))
    if plan is None:
        plan = _ROW_PLANS[(model, columns)] = _row_plan(model, columns)
    result = []
    for row in rows:
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


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement of :meth:`Db.write` answered."""

    rows: list
    lastrowid: int | None
    rowcount: int


#: A transaction-scoped advisory lock on a text key (PostgreSQL 11+).
_PG_XACT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def _write_statements(execute, statements, guard: bool, serialize_on: str | None = None) -> list[Result]:
    if serialize_on is not None:
        execute(_PG_XACT_LOCK, [serialize_on])
    results = []
    for index, (sql, params) in enumerate(statements):
        cursor = execute(sql, params)
        results.append(Result(cursor.fetchall(), cursor.lastrowid, cursor.rowcount))
        if guard and index == 0 and cursor.rowcount == 0:
            raise Rollback(None)
    return results


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
        with _busy_as_ours():
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

    @contextlib.asynccontextmanager
    async def idle(self) -> AsyncIterator[None]:
        """A block in which this task waits for something else (a WebSocket, a long job)
        without holding a pooled connection: pwasyncio binds a connection to each task until
        the task ends, so a few long waits would otherwise hold the whole pool. A query
        inside the block takes a connection again."""
        await self.release()
        yield

    @contextlib.asynccontextmanager
    async def scope(self) -> AsyncIterator[None]:
        """A background task's unit of work (a heartbeat tick, a notification handler): its
        queries take a pooled connection, given back when the block ends, so a long-lived task
        does not keep one between its ticks."""
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self.release()

    # Reads and single statements -------------------------------------------------
    @_busy_translated
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run synchronous peewee code (queries, lazy relations) on the async bridge."""
        return await self.engine.run(fn, *args, **kwargs)

    @_busy_translated
    async def list(self, query: Query) -> list:
        return await self.engine.list(query)

    @_busy_translated
    async def first(self, query: Query) -> Any:
        rows = await self.engine.list(query.limit(1))
        return rows[0] if rows else None

    @_busy_translated
    async def count(self, query: Query) -> int:
        return await self.engine.count(query)

    @_busy_translated
    async def scalar(self, query: Query) -> Any:
        return await self.engine.scalar(query)

    @_busy_translated
    async def exists(self, query: Query) -> bool:
        return await self.engine.exists(query)

    @_busy_translated
    async def models(self, model: type[T], sql: str, params: tuple | list = ()) -> list[T]:
        """Instances of ``model`` from a prepared SELECT, in one trip and without the query builder."""
        cursor = await self.engine.aexecute_sql(sql, params)
        return to_models(model, cursor.description, cursor.fetchall())

    @_busy_translated
    async def execute(self, query: Query) -> Any:
        return await self.engine.aexecute(query)

    @_busy_translated
    async def execute_sql(self, sql: str, params: tuple | list = ()) -> Any:
        return await self.engine.aexecute_sql(sql, params)

    @_busy_translated
    async def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(execute, *args)`` as one write transaction, next to the database: on
        SQLite in one trip to the connection's thread (a transaction of N statements made
        step by step takes N + 2 trips, and each trip costs more than a small statement).

        ``fn`` is plain synchronous code: ``execute(sql, params)`` returns a DB-API cursor
        (``fetchall``, ``fetchone``, ``rowcount``, ``description``). It must not touch the
        event loop or shared mutable state (on SQLite it runs on another thread). Raising
        :class:`Rollback` undoes its writes and makes ``value`` the answer."""
        conn = await self.engine.aconnect()
        if isinstance(conn, OneHopSqliteConnection):
            await self._write_lock.acquire()
            try:
                return await conn.call_on_thread(_call_in_transaction, fn, args, self.engine.in_transaction())
            finally:
                self._write_lock.release()
        return await self._bridged_transaction(fn, *args)

    async def _bridged_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """The portable path of :meth:`transaction` (PostgreSQL): statement by statement in
        an ordinary transaction; peewee's greenlet bridge makes ``execute_sql`` synchronous."""
        try:
            async with self.tx():
                return await self.engine.run(fn, self.engine.execute_sql, *args)
        except Rollback as undo:
            return undo.value

    async def write(self, statements: list[tuple[str, tuple | list]], *, guard: bool = False,
                    serialize_on: str | None = None) -> list[Result] | None:
        """Run prepared statements as one write transaction (see :meth:`transaction`).

        ``guard``: the first statement is a conditional write (``UPDATE … WHERE status = ?``,
        ``INSERT … SELECT … WHERE``); when it changes no row, nothing is written and the
        answer is None. Otherwise one :class:`Result` per statement.

        ``serialize_on``: a key (e.g. ``"runs-cap:<user id>"``); transactions with the same key
        run one after the other. Needed on PostgreSQL when the guard reads what concurrent
        transactions insert (a cap: ``… WHERE (SELECT COUNT(*) …) < limit``), which read
        committed would let every one of them pass; taken as a transaction-scoped advisory
        lock before the first statement. SQLite's single writer already serialises."""
        key = None if self.is_sqlite else serialize_on
        return await self.transaction(_write_statements, statements, guard, key)

    @_busy_translated
    async def serialize(self, key: str) -> None:
        """Inside :meth:`tx`: make transactions that call this with the same ``key`` run one
        after the other (until commit). For rules checked by reading rows that concurrent
        transactions change (the last owner of an organization): PostgreSQL's read committed
        would let both pass; a transaction-scoped advisory lock. SQLite's single writer
        already serialises, so nothing happens there."""
        if not self.is_sqlite:
            await self.engine.aexecute_sql(_PG_XACT_LOCK, [key])

    @_busy_translated
    async def release(self) -> None:
        """Give this task's pooled connection back. pwasyncio binds a connection to each task
        until the task ends; long-lived tasks (WebSockets, queue loops) call this before they
        wait, or a few of them would hold the whole pool."""
        if not self.engine.in_transaction():
            await self.engine.aclose()

    def pool_stats(self) -> dict[str, int]:
        """The connection pool's ``size``, ``in_use`` and ``idle`` connections (for metrics)."""
        return pool_stats(self.engine)

    async def close(self) -> None:
        await self.engine.close_pool()


def _sqlite_path(url: str) -> str:
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    if url.startswith("sqlite://"):
        return url[len("sqlite://"):]
    return url


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs, ``doctor`` and errors)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rsplit("@", 1)
    user = parsed.username or ""
    host = netloc[-1]
    return parsed._replace(netloc=f"{user}:***@{host}").geturl()


def scrub_secret(text: str, url: str) -> str:
    """``text`` (an error message) with the password of ``url`` and ``url`` itself redacted."""
    password = urlparse(url).password
    text = text.replace(url, redact_url(url))
    if password:
        text = text.replace(password, "***")
    return text


def open_database(url: str, *, pool_size: int = 8, busy_timeout_ms: int = 10_000, read_concurrency: int = 4) -> Db:
    """Create the engine for ``url`` and bind every model to it."""
    scheme = urlparse(url).scheme
    if scheme in ("postgres", "postgresql"):
        engine: AsyncDatabaseMixin = _PostgresqlDatabase(url, pool_size=pool_size)
    elif scheme in ("sqlite", ""):
        path = _sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = OneHopSqliteDatabase(
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
        engine.read_concurrency = read_concurrency
    else:
        raise ValueError(f"unsupported database URL scheme {scheme!r} (use sqlite:/// or postgresql://)")
    database_proxy.initialize(engine)
    return Db(engine, url=url)

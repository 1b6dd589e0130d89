"""The private surface of playhouse.pwasyncio (and aiosqlite) that db/pwasyncio_patches.py
relies on. Fails loudly when an upgrade changes it: then re-check the patches against the
new source (the module docs list what each relies on) and update ``CHECKED_AGAINST``."""

from __future__ import annotations

import asyncio
import inspect

import aiosqlite
from playhouse import pwasyncio

from qubithub_lite.db import pwasyncio_patches as patches
from qubithub_lite.db.core import open_database

UPGRADE = ("playhouse.pwasyncio's private surface changed (checked against {}): re-check "
           "qubithub_lite/db/pwasyncio_patches.py").format(patches.CHECKED_AGAINST)


def params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_the_private_names_exist():
    for name in ("AsyncSqliteConnection", "AsyncSqliteDatabase", "AsyncSqlitePool", "CursorAdapter",
                 "ImproperlyConfigured", "aiosqlite", "AsyncConnectionWrapper"):
        assert hasattr(pwasyncio, name), f"{UPGRADE}: pwasyncio.{name} is gone"
    wrapper = pwasyncio.AsyncConnectionWrapper
    assert inspect.iscoroutinefunction(wrapper._acquire_lock), UPGRADE
    assert params(wrapper.__init__) == ["self", "conn"], UPGRADE
    assert inspect.iscoroutinefunction(pwasyncio.AsyncSqliteConnection._execute), UPGRADE
    assert params(pwasyncio.AsyncSqliteConnection._execute)[:3] == ["self", "sql", "params"], UPGRADE
    assert {"rows", "lastrowid", "rowcount", "description"} <= set(params(pwasyncio.CursorAdapter.__init__)), UPGRADE
    pool = pwasyncio.AsyncSqlitePool
    assert params(pool.__init__)[:4] == ["self", "database", "pool_size", "on_connect"], UPGRADE
    assert inspect.iscoroutinefunction(pool._create_connection), UPGRADE
    assert inspect.iscoroutinefunction(pool.initialize), UPGRADE
    db = pwasyncio.AsyncSqliteDatabase
    for name in ("_acquire_conn_async", "_create_pool_async", "_add_conn_hooks", "aconnect", "aclose", "in_transaction"):
        assert callable(getattr(db, name, None)), f"{UPGRADE}: AsyncSqliteDatabase.{name}"
    assert inspect.iscoroutinefunction(db._acquire_conn_async) and inspect.iscoroutinefunction(db._create_pool_async)
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute), "aiosqlite.Connection._execute changed"


async def test_the_private_attributes_exist_on_live_objects(tmp_path):
    """The instance attributes, on a real pool of a real SQLite file."""
    db = open_database(f"sqlite:///{tmp_path / 'p.db'}", pool_size=2)
    try:
        engine = db.engine
        for name in ("_pool_size", "_timeout", "connect_params", "_closing"):
            assert hasattr(engine, name), f"{UPGRADE}: AsyncSqliteDatabase().{name}"
        assert await db.execute_sql("SELECT 1") is not None
        pool = engine._pool
        assert isinstance(pool, patches.OneHopSqlitePool), UPGRADE
        assert isinstance(pool._queue, asyncio.Queue), UPGRADE
        conn = await engine.aconnect()
        assert isinstance(conn, patches.OneHopSqliteConnection), UPGRADE
        assert conn._pool is pool, UPGRADE
        assert isinstance(conn._lock, asyncio.Lock), UPGRADE
        assert isinstance(conn.conn, aiosqlite.Connection), UPGRADE
        # aiosqlite's raw connection and thread hop, used for the one-trip statements
        assert await conn.call_on_thread(lambda raw, x: raw.execute("SELECT ?", (x,)).fetchone()[0], 7) == 7
        await db.release()
    finally:
        await db.close()


async def test_pool_stats_read_the_live_pool(tmp_path):
    """``Db.pool_stats`` (the /metrics gauge) reads the pool's private ``_pool_size`` and
    ``_queue``: a held connection counts as in use, a released one as idle again."""
    db = open_database(f"sqlite:///{tmp_path / 's.db'}", pool_size=3)
    try:
        assert db.pool_stats() == {"size": 0, "in_use": 0, "idle": 0}  # no pool before the first query
        await db.execute_sql("SELECT 1")  # this task now holds one connection
        pool = db.engine._pool
        assert pool._pool_size == 3 and isinstance(pool._queue, asyncio.Queue), UPGRADE
        assert db.pool_stats() == {"size": 3, "in_use": 1, "idle": 2}, UPGRADE
        async with db.idle():
            assert db.pool_stats() == {"size": 3, "in_use": 0, "idle": 3}, UPGRADE
    finally:
        await db.close()


def test_the_checked_versions_are_recorded():
    assert set(patches.CHECKED_AGAINST) == {"peewee", "aiosqlite"}
    for package, checked in patches.CHECKED_AGAINST.items():
        assert f"{package} {checked}" in (patches.__doc__ or ""), package

"""The data layer hides its connection handling: busy errors come out as our DatabaseBusy
(the HTTP layer answers 503), and Db.idle() gives the pooled connection back while a task waits.
Real SQLite files, a real second connection holding the lock, a real aiohttp server."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from aiohttp import web

from qubithub_lite.api.middleware import errors_middleware
from qubithub_lite.db.core import DatabaseBusy, open_database


@pytest.fixture
async def db(tmp_path):
    handle = open_database(f"sqlite:///{tmp_path / 'busy.db'}", pool_size=1, busy_timeout_ms=50)
    await handle.execute_sql("CREATE TABLE t (x INTEGER)")
    yield handle
    await handle.close()


@pytest.fixture
def locked(tmp_path, db):
    """Another process's connection holding the write lock of the same file."""
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    yield
    other.execute("ROLLBACK")
    other.close()


async def test_a_locked_database_is_database_busy(db, locked):
    with pytest.raises(DatabaseBusy, match="locked"):
        await db.execute_sql("INSERT INTO t VALUES (1)")
    with pytest.raises(DatabaseBusy):
        await db.write([("INSERT INTO t VALUES (?)", (2,))])
    with pytest.raises(DatabaseBusy):
        async with db.tx():
            await db.execute_sql("INSERT INTO t VALUES (3)")


async def test_other_database_errors_are_not_busy(db):
    with pytest.raises(Exception) as raised:
        await db.execute_sql("SELECT * FROM no_such_table")
    assert not isinstance(raised.value, DatabaseBusy) and "no_such_table" in str(raised.value)


async def test_the_middleware_answers_503_for_a_busy_database(db, locked, aiohttp_client):
    async def write(request):
        await db.execute_sql("INSERT INTO t VALUES (1)")
        return web.json_response({})

    async def broken(request):
        await db.execute_sql("SELECT * FROM no_such_table")
        return web.json_response({})

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_post("/write", write)
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    busy = await client.post("/write")
    assert busy.status == 503 and busy.headers["Retry-After"] == "1"
    assert await busy.json() == {"detail": "the server is busy; retry shortly"}
    failed = await client.get("/broken")
    assert failed.status == 500 and await failed.json() == {"detail": "Internal server error"}


async def test_idle_gives_the_pooled_connection_back(db):
    waiting, done = asyncio.Event(), asyncio.Event()

    async def long_wait():
        await db.execute_sql("SELECT 1")  # this task now holds the pool's only connection
        async with db.idle():
            waiting.set()
            await done.wait()
        return (await db.execute_sql("SELECT 2")).fetchall()  # takes one again afterwards

    waiter = asyncio.create_task(long_wait())
    await waiting.wait()
    # another task gets the connection while the first one waits (the acquire timeout is 10 s:
    # without idle() this would hang, so the guard below only stops a broken run)
    rows = await asyncio.wait_for(db.execute_sql("SELECT 3"), 5)
    assert rows.fetchall() == [(3,)]
    await db.release()
    done.set()
    assert await asyncio.wait_for(waiter, 5) == [(2,)]


def test_only_the_data_layer_hands_connections_back():
    """Outside ``db/`` a long wait says ``async with db.idle():``; nothing calls
    ``….release()`` on a database, nor reads the engine's private pool."""
    import ast
    from pathlib import Path

    import qubithub_lite

    package = Path(qubithub_lite.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] == "db":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            base = node.value
            owner = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            if node.attr == "release" and owner in {"db", "runs", "engine"}:
                offenders.append(f"{rel}:{node.lineno}: {owner}.release")
            if node.attr == "_pool" and owner == "engine":
                offenders.append(f"{rel}:{node.lineno}: engine._pool")
    assert offenders == [], "use Db.idle() / Db.pool_stats():\n" + "\n".join(offenders)

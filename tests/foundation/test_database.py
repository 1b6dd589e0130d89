import asyncio
import sqlite3

import pytest

from qubithub_lite.db import migrate
from qubithub_lite.db.core import database_proxy, open_database
from qubithub_lite.db.fields import new_id, utcnow
from qubithub_lite.db.models import AuditLog


def _sql(text: str) -> str:
    """``?`` placeholders in the parameter style of the database under test (SQLite or PostgreSQL)."""
    return text.replace("?", database_proxy.obj.param)


@pytest.mark.sqlite_only(reason="SQLite pragmas")
async def test_sqlite_pragmas(hub):
    cur = await hub.db.execute_sql("PRAGMA journal_mode")
    assert cur.fetchone()[0] == "wal"
    cur = await hub.db.execute_sql("PRAGMA synchronous")
    assert cur.fetchone()[0] == 1  # NORMAL
    cur = await hub.db.execute_sql("PRAGMA foreign_keys")
    assert cur.fetchone()[0] == 1
    cur = await hub.db.execute_sql("PRAGMA busy_timeout")
    assert cur.fetchone()[0] >= 1000


async def test_concurrent_write_transactions_do_not_deadlock(hub):
    """Many tasks each read-then-write in a transaction; all commit."""

    async def writer(i: int) -> None:
        async with hub.db.tx():
            n = await hub.db.count(AuditLog.select())
            await asyncio.sleep(0)  # let other tasks interleave inside the transaction
            await AuditLog.acreate(id=new_id(), action="test.write", target_type="t", target_id=str(i),
                                   data={"seen": n}, created_at=utcnow())

    await asyncio.wait_for(asyncio.gather(*(writer(i) for i in range(40))), timeout=60)
    assert await hub.db.count(AuditLog.select().where(AuditLog.action == "test.write")) == 40


async def test_failed_transaction_leaves_nothing(hub):
    with pytest.raises(RuntimeError):
        async with hub.db.tx():
            await AuditLog.acreate(id=new_id(), action="test.rollback", target_type="t", target_id="x", created_at=utcnow())
            raise RuntimeError("boom")
    assert await hub.db.count(AuditLog.select().where(AuditLog.action == "test.rollback")) == 0


async def test_older_database_upgrades_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = open_database(f"sqlite:///{path}")
    try:
        await migrate.upgrade(db, target=1)
        assert await migrate.current_version(db) == 1
        await db.execute_sql(
            "INSERT INTO user (id, email, username, name, password_hash, is_admin, is_pro, is_active, created_at, updated_at)"
            " VALUES ('u1', 'old@example.org', 'olduser', 'Old', 'x', 0, 0, 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        )
        applied = await migrate.upgrade(db)
        assert applied == [m.version for m in migrate.discover() if m.version > 1]
        assert await migrate.current_version(db) == migrate.head_version()
        cur = await db.execute_sql("SELECT username FROM user WHERE id = 'u1'")
        assert cur.fetchone()[0] == "olduser"
        assert await migrate.upgrade(db) == []  # idempotent
    finally:
        await db.close()


async def test_database_newer_than_code_is_refused(tmp_path):
    path = tmp_path / "new.db"
    db = open_database(f"sqlite:///{path}")
    try:
        await migrate.upgrade(db)
        await db.execute_sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')")
        with pytest.raises(migrate.MigrationError, match="newer"):
            await migrate.upgrade(db)
    finally:
        await db.close()


def test_cli_db_upgrade(tmp_path):
    from click.testing import CliRunner

    from qubithub_lite.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["--data-dir", str(tmp_path / "d"), "db", "upgrade"], env={"QUBITHUB_LITE_LOGGING_LEVEL": "error"})
    assert result.exit_code == 0, result.output
    assert "applied migrations" in result.output
    with sqlite3.connect(tmp_path / "d" / "qubithub.db") as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == migrate.head_version()
    again = runner.invoke(main, ["--data-dir", str(tmp_path / "d"), "db", "upgrade"], env={"QUBITHUB_LITE_LOGGING_LEVEL": "error"})
    assert "up to date" in again.output


async def test_long_lived_tasks_can_release_their_connection(hub):
    """More idle long-lived tasks than pool slots must not block the pool."""
    release = asyncio.Event()

    async def lingering() -> None:
        await hub.db.count(AuditLog.select())
        await hub.db.release()
        await release.wait()

    tasks = [asyncio.create_task(lingering()) for _ in range(hub.settings.database.pool_size * 3)]
    await asyncio.sleep(0.2)
    assert await asyncio.wait_for(hub.db.count(AuditLog.select()), timeout=5) >= 0
    release.set()
    await asyncio.gather(*tasks)


class TestSmallPool:
    @pytest.fixture
    def settings(self, tmp_path):
        from tests.conftest import make_settings

        return make_settings(tmp_path, database={"pool_size": 2})

    async def test_writers_outnumbering_the_pool_do_not_deadlock(self, hub):
        """Tasks that hold a connection and queue for the writer lock, plus tasks whose first
        database action is a write transaction: with 2 connections, all must finish."""

        async def reader_then_writer(i: int) -> None:
            await hub.db.count(AuditLog.select())  # takes a pooled connection
            await asyncio.sleep(0.01)
            async with hub.db.tx():
                await AuditLog.acreate(id=new_id(), action="pool.rw", target_type="t", target_id=str(i), created_at=utcnow())

        async def writer_first(i: int) -> None:
            async with hub.db.tx():
                await AuditLog.acreate(id=new_id(), action="pool.w", target_type="t", target_id=str(i), created_at=utcnow())

        jobs = [reader_then_writer(i) for i in range(10)] + [writer_first(i) for i in range(10)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=8)  # the pool's acquire timeout is 10 s
        assert await hub.db.count(AuditLog.select().where(AuditLog.action.in_(["pool.rw", "pool.w"]))) == 20


def _audit_insert(hub, action: str, target: str = "t1"):
    sql = _sql('INSERT INTO "audit_log" ("id", "action", "target_type", "target_id", "created_at") VALUES (?, ?, ?, ?, ?)')
    return sql, [new_id(), action, "test", target, AuditLog.created_at.db_value(utcnow())]


async def _audit_count(hub, action: str) -> int:
    return await hub.db.count(AuditLog.select().where(AuditLog.action == action))


async def test_write_runs_statements_as_one_transaction(hub):
    results = await hub.db.write([_audit_insert(hub, "batch.a"), _audit_insert(hub, "batch.a"),
                                  (_sql("SELECT COUNT(*) FROM audit_log WHERE action = ?"), ["batch.a"])])
    assert [r.rowcount for r in results[:2]] == [1, 1]
    assert results[2].rows == [(2,)]  # later statements see the earlier ones
    assert await _audit_count(hub, "batch.a") == 2


async def test_write_guard_that_matches_nothing_writes_nothing(hub):
    guard = (_sql('UPDATE "audit_log" SET "action" = ? WHERE "id" = ?'), ["batch.never", "no-such-id"])
    assert await hub.db.write([guard, _audit_insert(hub, "batch.b")], guard=True) is None
    assert await _audit_count(hub, "batch.b") == 0
    # The same batch with a guard that matches commits everything.
    sql, params = _audit_insert(hub, "batch.c")
    assert await hub.db.write([(sql, params), _audit_insert(hub, "batch.b")], guard=True) is not None
    assert await _audit_count(hub, "batch.b") == 1 and await _audit_count(hub, "batch.c") == 1


async def test_write_failing_statement_rolls_back_the_batch(hub):
    with pytest.raises(Exception, match='no such table|relation "no_such_table" does not exist'):
        await hub.db.write([_audit_insert(hub, "batch.d"), ("UPDATE no_such_table SET x = 1", [])])
    assert await _audit_count(hub, "batch.d") == 0
    await hub.db.write([_audit_insert(hub, "batch.d")])  # the connection is usable afterwards
    assert await _audit_count(hub, "batch.d") == 1


async def test_write_inside_a_transaction_is_a_savepoint(hub):
    with pytest.raises(RuntimeError):
        async with hub.db.tx():
            await hub.db.write([_audit_insert(hub, "batch.e")])
            assert await hub.db.write([("UPDATE audit_log SET action = 'x' WHERE id = 'none'", []),
                                       _audit_insert(hub, "batch.f")], guard=True) is None
            assert await _audit_count(hub, "batch.e") == 1  # visible inside the outer transaction
            raise RuntimeError("outer rollback")
    assert await _audit_count(hub, "batch.e") == 0 and await _audit_count(hub, "batch.f") == 0


async def test_concurrent_writes_all_commit(hub):
    await asyncio.wait_for(asyncio.gather(*(hub.db.write([_audit_insert(hub, "batch.g", str(i))]) for i in range(50))), 60)
    assert await _audit_count(hub, "batch.g") == 50


async def test_models_converts_fields_and_keeps_extra_columns(hub, alice):
    from qubithub_lite.db.models import User

    rows = await hub.db.models(User, _sql('SELECT *, 41 + 1 AS answer FROM "user" WHERE "id" = ?'), [alice.id])
    assert len(rows) == 1
    user = rows[0]
    assert user.id == alice.id and user.username == alice.username and user.answer == 42
    reference = await User.aget(User.id == alice.id)
    assert user.created_at == reference.created_at and type(user.created_at) is type(reference.created_at)
    assert user.is_active is True and not user._dirty
    assert await hub.db.models(User, _sql('SELECT * FROM "user" WHERE "id" = ?'), ["nobody"]) == []


@pytest.mark.sqlite_only(reason="SQLite's catalog and query plan; PostgreSQL: tests/pg/test_postgres_path.py")
async def test_run_queue_index_exists(hub):
    cur = await hub.db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'run'")
    assert "run_status_user_created" in {r[0] for r in cur.fetchall()}
    plan = await hub.db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT user_id, MIN(created_at) FROM run WHERE status = 'queued' GROUP BY user_id")
    assert "COVERING INDEX run_status_user_created" in " ".join(str(r[-1]) for r in plan.fetchall())


def _transfer(execute, action: str, fail_after: bool):
    """A transaction function: a read, a write that depends on it, maybe an undo."""
    before = execute(_sql("SELECT COUNT(*) FROM audit_log WHERE action = ?"), [action]).fetchone()[0]
    sql, params = _audit_insert(None, action, target=str(before))
    assert execute(sql, params).rowcount == 1
    if fail_after:
        from qubithub_lite.db.core import Rollback

        raise Rollback(f"undone at {before}")
    return before


@pytest.mark.parametrize("path", ["one_trip", "bridged"])
async def test_transaction_function_commits_or_rolls_back(hub, path):
    run = hub.db.transaction if path == "one_trip" else hub.db._bridged_transaction
    action = f"fn.{path}"
    assert await run(_transfer, action, False) == 0
    assert await run(_transfer, action, False) == 1
    assert await run(_transfer, action, True) == "undone at 2"
    assert await _audit_count(hub, action) == 2
    with pytest.raises(ZeroDivisionError):
        await run(lambda execute: (execute(*_audit_insert(None, action)), 1 / 0))
    assert await _audit_count(hub, action) == 2


@pytest.mark.parametrize("gate", [2, 0])
async def test_reads_share_a_gate_of_read_concurrency_places(tmp_path, gate):
    """At most ``read_concurrency`` SELECTs run on connection threads at once (0: no gate)."""
    import threading
    import time as _time

    db = open_database(f"sqlite:///{tmp_path / 'gate.db'}", pool_size=8, read_concurrency=gate)
    lock, active, peak = threading.Lock(), [0], [0]

    def probe() -> int:  # runs on a connection's thread, inside the SELECT
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        _time.sleep(0.03)
        with lock:
            active[0] -= 1
        return 1

    db.engine.register_function(probe, "probe", 0)

    async def reader() -> int:
        try:
            return (await db.execute_sql("SELECT probe()")).fetchone()[0]
        finally:
            await db.release()

    try:
        assert await asyncio.gather(*(asyncio.create_task(reader()) for _ in range(8))) == [1] * 8
        assert peak[0] == 2 if gate else peak[0] > 2, peak[0]
    finally:
        await db.close()

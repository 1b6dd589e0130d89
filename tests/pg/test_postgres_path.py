"""PostgreSQL as a first-class database (run with QUBITHUB_LITE_TEST_DATABASE=postgresql://…,
see tests/pg/start_postgres.sh): the PostgreSQL counterparts of the SQLite-specific tests, the
migration lock between processes, full-text search through tsvector, and a password that no
output shows. The rest of the suite runs unchanged on PostgreSQL with the same switch."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from qubithub_lite.db import migrate
from qubithub_lite.db.core import open_database, redact_url, scrub_secret
from tests.circuits.helpers import create as create_circuit
from tests.pg import pgtest

postgres_only = pytest.mark.postgres_only(reason="PostgreSQL itself")


def test_redaction_never_shows_the_password():
    url = "postgresql://qh:s3cr%40t-pw@db.example.org:5432/hub"
    assert redact_url(url) == "postgresql://qh:***@db.example.org:5432/hub"
    assert redact_url("sqlite:////tmp/q.db") == "sqlite:////tmp/q.db"
    message = scrub_secret(f"cannot connect to {url} (password s3cr%40t-pw)", url)
    assert "s3cr" not in message and "***" in message


@postgres_only
async def test_the_switch_puts_the_hub_on_postgresql(hub):
    assert not hub.db.is_sqlite
    assert urlparse(hub.db.url).path.lstrip("/").startswith("qh_")  # a database of its own
    cursor = await hub.db.execute_sql("SELECT current_database(), MAX(version) FROM schema_migrations")
    name, version = cursor.fetchone()
    assert name.startswith("qh_") and version == migrate.head_version()


@postgres_only
async def test_pg_schema_has_search_vectors_and_the_run_queue_index(hub):
    """The PostgreSQL counterpart of the SQLite index/FTS checks."""
    rows = (await hub.db.execute_sql(
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()")).fetchall()
    indexes = {(t, i) for t, i in rows}
    assert ("circuit", "circuit_search_vector") in indexes and ("dataset", "dataset_search_vector") in indexes
    assert ("run", "run_status_user_created") in indexes


@postgres_only
async def test_tag_search_uses_full_text_search_on_postgresql(client, alice):
    chem = await create_circuit(client, alice, "vqe-h2", title="Hydrogen", tags=["chemistry", "vqe"])
    await create_circuit(client, alice, "bell", title="Bell state", tags=["entanglement"])
    for q, expected in (("chem", [chem["id"]]), ("vqe hydro", [chem["id"]]), ("chemistry bell", []),
                        ("%", []), ("'\"&|!", [])):
        body = await (await client.get("/circuits", params={"q": q})).json()
        assert [c["id"] for c in body["circuits"]] == expected, q


def _upgrade_process(url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
    env["QUBITHUB_LITE_DATABASE_URL"] = url
    code = ("import asyncio, sys\n"
            "from qubithub_lite.db import migrate\n"
            "from qubithub_lite.db.core import open_database\n"
            "async def main():\n"
            "    db = open_database(sys.argv[1])\n"
            "    try:\n"
            "        print(len(await migrate.upgrade(db)))\n"
            "    finally:\n"
            "        await db.close()\n"
            "asyncio.run(main())\n")
    return subprocess.Popen([sys.executable, "-c", code, url], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@postgres_only
def test_processes_migrating_an_empty_database_at_once_all_come_up(tmp_path):
    url = pgtest.database_for(tmp_path / "shared", empty=True)
    procs = [_upgrade_process(url) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    applied = sorted(int(out.strip().splitlines()[-1]) for out in outputs)
    # exactly one of them applied every migration; the others found the schema current
    assert applied == [0, 0, len(migrate.discover())], outputs


@postgres_only
async def test_migration_lock_is_released_after_upgrade(tmp_path):
    url = pgtest.database_for(tmp_path / "lock", empty=True)
    db = open_database(url)
    try:
        await migrate.upgrade(db)
        # This database's locks only: pg_locks is server-wide and other tests' databases share the server.
        cursor = await db.execute_sql("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        assert cursor.fetchone()[0] == 0
        assert await migrate.upgrade(db) == []
    finally:
        await db.close()


def _doctor(url: str, data_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
    env["QUBITHUB_LITE_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "qubithub_lite", "--data-dir", str(data_dir), "doctor"],
                          env=env, capture_output=True, text=True, timeout=120)


@postgres_only
def test_doctor_never_prints_the_database_password(tmp_path):
    url = pgtest.database_for(tmp_path / "doctor")
    password = urlparse(url).password
    assert password
    good = _doctor(url, tmp_path / "doctor")
    wrong = urlparse(url)._replace(netloc=f"{urlparse(url).username}:wrong-{password}@{urlparse(url).hostname}:"
                                          f"{urlparse(url).port}").geturl()
    bad = _doctor(wrong, tmp_path / "doctor")
    for result in (good, bad):
        output = result.stdout + result.stderr
        assert "database" in output and "***" in output, output
        assert password not in output, output
    assert "password authentication failed" in bad.stdout + bad.stderr


@postgres_only
async def test_space_slots_are_shared_and_a_dead_holder_s_slot_expires(hub, alice):
    """The per-user execute/visualize cap is decided in the database: two slot keepers (as two
    processes would have) share it, and a row its holder stopped renewing (killed) stops counting."""
    from qubithub_lite.db import execution_slots
    from qubithub_lite.errors import TooManyRequests
    from qubithub_lite.services.spaces import SharedExecutionSlots

    assert isinstance(hub.spaces.slots, SharedExecutionSlots)
    here, there = (SharedExecutionSlots(hub.db, overall=4, per_user=1, wait_seconds=0) for _ in range(2))
    async with here.slot(alice.id):
        assert await execution_slots.held(hub.db, alice.id) == 1
        with pytest.raises(TooManyRequests, match="for you"):
            async with there.slot(alice.id):
                pass
        async with there.slot("someone-else"):  # per user
            assert await execution_slots.held(hub.db, "someone-else") == 1
    assert await execution_slots.held(hub.db, alice.id) == 0
    # a holder that died: its row expired, the slot is free
    assert await execution_slots.take(hub.db, "dead-holder", alice.id, 1, 0.05)
    await asyncio.sleep(0.1)
    async with there.slot(alice.id):
        assert await execution_slots.held(hub.db, alice.id) == 1
    # a caller waits for a slot that is given back meanwhile
    waiting = SharedExecutionSlots(hub.db, overall=4, per_user=1, wait_seconds=10)
    held_later = waiting.slot(alice.id)
    async with here.slot(alice.id):
        later = asyncio.create_task(asyncio.wait_for(held_later.__aenter__(), 20))
        await asyncio.sleep(0.5)
        assert not later.done()
    await later
    assert await execution_slots.held(hub.db, alice.id) == 1
    await held_later.__aexit__(None, None, None)
    assert await execution_slots.held(hub.db, alice.id) == 0


@postgres_only
def test_backup_of_a_postgresql_hub_is_refused_with_the_pg_dump_advice(tmp_path):
    """The counterpart of tests/foundation/test_backup.py's SQLite archive tests: on PostgreSQL
    the archive would miss the database, so ``backup`` refuses clearly and writes nothing."""
    from tests.foundation.test_backup import cli

    data = tmp_path / "data"
    data.mkdir()
    archive = tmp_path / "out" / "hub.tar.gz"
    out = cli("backup", str(archive), "--data-dir", str(data), env=pgtest.cli_env(data), ok=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "pg_dump" in text and "Traceback" not in text, text
    assert urlparse(pgtest.TEST_DATABASE).password not in text
    assert not archive.exists()

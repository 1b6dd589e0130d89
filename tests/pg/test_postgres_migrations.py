"""The PostgreSQL counterparts of the migration tests that run on a SQLite file
(tests/foundation/test_database.py, tests/admin/test_migration.py): an older schema upgrades
in place, a newer one is refused, m0008 keeps the rows that reference users."""

from __future__ import annotations

from datetime import datetime

import pytest

from qubithub_lite.db import migrate
from qubithub_lite.db.core import open_database
from tests.pg import pgtest

pytestmark = pytest.mark.postgres_only(reason="migrations on PostgreSQL; SQLite: tests/foundation/test_database.py")

NOW = datetime(2026, 1, 1)  # timestamp without time zone


async def _scalar(db, sql, params=()):
    return (await db.execute_sql(sql, params)).fetchone()[0]


async def test_older_database_upgrades_in_place_on_postgresql(tmp_path):
    db = open_database(pgtest.database_for(tmp_path / "old", empty=True))
    try:
        assert await migrate.upgrade(db, target=1) == [1]
        await db.execute_sql(
            'INSERT INTO "user" (id, email, username, name, password_hash, is_admin, is_pro, is_active, created_at,'
            " updated_at) VALUES ('u1', 'old@example.org', 'olduser', 'Old', 'x', false, false, true, %s, %s)",
            (NOW, NOW))
        applied = await migrate.upgrade(db)
        assert applied == [m.version for m in migrate.discover() if m.version > 1]
        assert await migrate.current_version(db) == migrate.head_version()
        assert await _scalar(db, "SELECT username FROM \"user\" WHERE id = 'u1'") == "olduser"
        assert await migrate.upgrade(db) == []  # idempotent
    finally:
        await db.close()


async def test_database_newer_than_code_is_refused_on_postgresql(tmp_path):
    db = open_database(pgtest.database_for(tmp_path / "new"))
    try:
        assert await migrate.upgrade(db) == []  # the template is current
        await db.execute_sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')")
        with pytest.raises(migrate.MigrationError, match="newer"):
            await migrate.upgrade(db)
        # the advisory lock was released although the upgrade failed (this database's locks:
        # pg_locks is server-wide, and other tests' databases share the server)
        assert await _scalar(db, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
                                 " (SELECT oid FROM pg_database WHERE datname = current_database())") == 0
    finally:
        await db.close()


async def test_m0008_keeps_every_row_that_references_users_on_postgresql(tmp_path):
    db = open_database(pgtest.database_for(tmp_path / "m8", empty=True))
    try:
        await migrate.upgrade(db, target=6)
        await db.execute_sql(
            'INSERT INTO "user" (id, email, username, name, password_hash, avatar, is_admin, is_pro, is_active,'
            " created_at, updated_at) VALUES ('u1', 'a@b.c', 'ann', 'Ann', 'h', NULL, false, false, false, %s, %s)",
            (NOW, NOW))
        await db.execute_sql("INSERT INTO organization (id, name, slug, is_personal, created_at)"
                             " VALUES ('o1', 'Ann', 'ann', true, %s)", (NOW,))
        await db.execute_sql("INSERT INTO membership (id, organization_id, user_id, role, created_at)"
                             " VALUES ('m1', 'o1', 'u1', 'owner', %s)", (NOW,))
        await db.execute_sql("INSERT INTO refresh_token (id, user_id, family_id, token_hash, created_at, expires_at)"
                             " VALUES ('r1', 'u1', 'f', 'hash', %s, %s)", (NOW, NOW))
        tables = ('"user"', "organization", "membership", "refresh_token")
        before = [await _scalar(db, f"SELECT count(*) FROM {t}") for t in tables]
        assert 8 in await migrate.upgrade(db)
        after = [await _scalar(db, f"SELECT count(*) FROM {t}") for t in tables]
        assert after == before == [1, 1, 1, 1]
        row = (await db.execute_sql('SELECT is_active, disabled_at, session_generation FROM "user"')).fetchone()
        assert tuple(row) == (False, None, 0)
    finally:
        await db.close()

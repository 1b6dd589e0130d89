"""m0008 on a database that already holds accounts: columns added in place, nothing lost."""

from __future__ import annotations

from qubithub_lite.db import migrate
from qubithub_lite.db.core import open_database


async def test_m0008_keeps_every_row_that_references_users(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        await migrate.upgrade(db, target=6)
        now = "2026-01-01 00:00:00"
        await db.execute_sql("INSERT INTO user VALUES ('u1','a@b.c','ann','Ann','h',NULL,0,0,0,?,?)", (now, now))
        await db.execute_sql("INSERT INTO organization (id,name,slug,is_personal,created_at) VALUES ('o1','Ann','ann',1,?)",
                             (now,))
        await db.execute_sql("INSERT INTO membership VALUES ('m1','o1','u1','owner',?)", (now,))
        await db.execute_sql("INSERT INTO refresh_token VALUES ('r1','u1','f','hash',?,?,NULL,NULL)", (now, now))
        before = {t: (await db.execute_sql(f"SELECT count(*) FROM {t}")).fetchone()[0]
                  for t in ("user", "organization", "membership", "refresh_token")}
        assert 8 in await migrate.upgrade(db)
        after = {t: (await db.execute_sql(f"SELECT count(*) FROM {t}")).fetchone()[0] for t in before}
        assert after == before == {"user": 1, "organization": 1, "membership": 1, "refresh_token": 1}
        row = (await db.execute_sql("SELECT is_active, disabled_at, session_generation FROM user")).fetchone()
        assert tuple(row) == (0, None, 0)
    finally:
        await db.close()

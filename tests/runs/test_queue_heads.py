"""The fair claim's candidates (each user's oldest queued run) come from a skip scan over the
queue index; they must be exactly what a GROUP BY over every queued run gives."""

from __future__ import annotations

import datetime as dt

from qubithub_lite.db import migrate
from qubithub_lite.db.circuits import Circuit
from qubithub_lite.db.core import open_database
from qubithub_lite.db.run_statements import RunStatements
from qubithub_lite.db.runs import Run


async def test_queued_heads_are_each_users_oldest_queued_run(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        await migrate.upgrade(db)
        now = "2026-01-01 00:00:00"
        users = [f"u{i}" for i in range(5)]
        for u in users:
            await db.execute_sql(
                "INSERT INTO user (id, email, username, name, password_hash, is_admin, is_pro, is_active, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, 'h', 0, 0, 1, ?, ?)", (u, f"{u}@x.org", u, u, now, now))
        await db.execute(Circuit.insert(id="c1", name="c1", namespace_id="u0", owner="u0", title="c", framework="qiskit"))
        base = dt.datetime(2026, 1, 1)
        rows = []
        for k in range(60):  # users 0-3 queue runs (interleaved); user 4 has only finished ones
            user = users[k % 5]
            status = "completed" if user == "u4" or k % 7 == 0 else "queued"
            rows.append({"id": f"r{k:03d}", "circuit": "c1", "user": user, "backend_type": "simulator",
                         "backend_name": "qiskit_aer", "status": status, "shots": 10,
                         "created_at": base + dt.timedelta(seconds=(k * 37) % 61)})
        await db.execute(Run.insert_many(rows))
        sql = RunStatements(db.engine.param)
        heads = sorted((await db.execute_sql(sql.queued_heads)).fetchall())
        expected = sorted((await db.execute_sql(
            "SELECT user_id, MIN(created_at) FROM run WHERE status = 'queued' GROUP BY user_id")).fetchall())
        assert heads == expected and [h[0] for h in heads] == ["u0", "u1", "u2", "u3"]
        await db.execute_sql("UPDATE run SET status = 'running' WHERE user_id = 'u2'")
        assert [h[0] for h in (await db.execute_sql(sql.queued_heads)).fetchall()] == ["u0", "u1", "u3"]
        await db.execute_sql("UPDATE run SET status = 'running'")
        assert (await db.execute_sql(sql.queued_heads)).fetchall() == []
    finally:
        await db.close()

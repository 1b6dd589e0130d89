"""Run statistics cost the same with 10 or 10 million runs: they are maintained aggregate rows,
read with one unique-index lookup, never a count over the runs."""

from __future__ import annotations

import pytest

from qubithub_lite.db.fields import new_id, utcnow
from qubithub_lite.db.runs import Run, stats_row_query
from tests.runs.helpers import BELL, make_circuit, submit, wait_run


@pytest.mark.sqlite_only(reason="SQLite's query plan; the same (scope, key) unique index exists on PostgreSQL")
async def test_the_stats_read_is_one_unique_index_lookup(hub):
    sql, params = stats_row_query("user", "someone").sql()
    plan = await hub.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params)
    steps = " | ".join(str(row[-1]) for row in plan.fetchall())
    assert "USING INDEX" in steps and "(scope=? AND key=?)" in steps, steps
    assert "SCAN" not in steps, steps


async def test_stats_come_from_the_aggregates_not_from_counting_runs(client, hub, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    run = await submit(client, alice, circuit["id"], shots=100)
    await wait_run(client, alice, run["id"])
    before = await (await client.get("/runs/users/me/stats", headers=alice.headers)).json()
    assert before["total_runs"] == 1 and before["completed_runs"] == 1
    # Rows written behind the service's back (no transition, so no aggregate change) are not
    # counted: the answer is the maintained row, whatever the run table holds.
    template = (await hub.db.list(Run.select().where(Run.id == run["id"])))[0]
    rows = [{**template.__data__, "id": new_id(), "created_at": utcnow()} for _ in range(200)]
    await hub.db.execute(Run.insert_many(rows))
    after = await (await client.get("/runs/users/me/stats", headers=alice.headers)).json()
    assert after == before
    listed = await (await client.get("/runs", params={"limit": 1}, headers=alice.headers)).json()
    assert listed["total"] == 201  # the runs are there (the list counts them)

"""Run leases in one process (SQLite or PostgreSQL): a claimed run carries this process's lease,
heartbeats renew it, only the lease holder records a result, and recovery takes over a run only
once its lease expired. The multi-process behaviour is in tests/multiproc/."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from qubithub_lite.db.fields import utcnow
from qubithub_lite.db.runs import Run
from tests.conftest import make_settings
from tests.runs.helpers import SLEEPY, make_circuit, submit, wait_run


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, runs={"lease_seconds": 1.5})


async def _running(client, hub, alice, seconds=20) -> Run:
    circuit = await make_circuit(client, alice, "sleepy", {"circuit.py": SLEEPY, "sleep.json": str(seconds)}, qubits=1)
    run = await submit(client, alice, circuit["id"])
    await wait_run(client, alice, run["id"], statuses=("running",), timeout=60)
    return await hub.runs.load(run["id"])


async def test_a_claimed_run_holds_this_process_s_lease_and_heartbeats_renew_it(client, hub, alice):
    leases = hub.run_queue.leases
    run = await _running(client, hub, alice)
    assert run.lease_owner == leases.owner
    first = run.lease_expires_at
    assert first > utcnow() - dt.timedelta(seconds=1)
    for _ in range(100):  # a heartbeat every 0.5 s moves the expiry on
        await asyncio.sleep(0.1)
        if (await hub.runs.load(run.id)).lease_expires_at > first:
            break
    assert (await hub.runs.load(run.id)).lease_expires_at > first
    assert leases.renewals >= 1
    assert (await client.delete(f"/runs/{run.id}", headers=alice.headers)).status == 204


async def test_only_the_lease_holder_records_the_result(client, hub, alice):
    run = await _running(client, hub, alice)
    assert await hub.runs.transition(run, "completed", owner="another-process:1:x", results={"counts": {"1": 1}}) is None
    assert (await hub.runs.load(run.id)).status == "running"
    assert (await client.delete(f"/runs/{run.id}", headers=alice.headers)).status == 204


@pytest.mark.postgres_only(reason="recovery of expired leases while serving is for several processes on PostgreSQL")
async def test_recovery_takes_over_only_an_expired_lease(client, hub, alice):
    leases = hub.run_queue.leases
    run = await _running(client, hub, alice)
    # Another process's live lease: left alone.
    live = utcnow() + dt.timedelta(seconds=60)
    await hub.db.execute(Run.update(lease_owner="gone:1:x", lease_expires_at=live).where(Run.id == run.id))
    await hub.run_queue.stop_run(run.id)  # this process no longer executes it
    assert await leases.recover_expired() == 0
    await asyncio.sleep(1.6)  # several heartbeats, each looking for expired leases
    kept = await hub.runs.load(run.id)
    assert (kept.status, kept.lease_owner, kept.attempts) == ("running", "gone:1:x", 1)
    # The same lease, expired: taken over (retried once, by the next heartbeat) and executed again here.
    await hub.db.execute(Run.update(lease_expires_at=utcnow() - dt.timedelta(seconds=1)).where(Run.id == run.id))
    for _ in range(300):
        again = await hub.runs.load(run.id)
        if again.status == "running" and again.lease_owner == leases.owner:
            break
        await asyncio.sleep(0.1)
    assert again.status == "running" and again.lease_owner == leases.owner and again.attempts == 2
    assert (await client.delete(f"/runs/{run.id}", headers=alice.headers)).status == 204

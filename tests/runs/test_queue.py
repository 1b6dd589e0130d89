import asyncio
import json
import time

import aiohttp
import pytest

from qubithub_lite.db.runs import Run
from tests.conftest import make_settings
from tests.runs.helpers import BELL, SLEEPY, make_circuit, submit, wait_run


async def sleepy_circuit(client, user, name="sleepy", seconds=30):
    return await make_circuit(client, user, name, {"circuit.py": SLEEPY, "sleep.json": str(seconds)}, qubits=1)


async def test_cancel_while_running_stops_promptly(client, hub, alice):
    circuit = await sleepy_circuit(client, alice)
    run = await submit(client, alice, circuit["id"])
    await wait_run(client, alice, run["id"], statuses=("running",), timeout=30)
    started = time.monotonic()
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204
    done = await wait_run(client, alice, run["id"], timeout=10)
    assert done["status"] == "cancelled" and time.monotonic() - started < 5
    await asyncio.sleep(0.5)
    assert (await wait_run(client, alice, run["id"]))["status"] == "cancelled"  # terminal stays terminal
    stats = await (await client.get("/runs/users/me/stats", headers=alice.headers)).json()
    assert stats["cancelled_runs"] == 1 and stats["running_runs"] == 0


class TestQueued:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, runs={"workers": 1, "per_user_concurrency": 1})

    async def test_cancel_while_queued_and_queue_position(self, client, alice, bob):
        blocker = await sleepy_circuit(client, alice, seconds=60)
        bell = await make_circuit(client, bob, "bell", {"circuit.py": BELL})
        first = await submit(client, alice, blocker["id"])
        await wait_run(client, alice, first["id"], statuses=("running",), timeout=30)
        waiting = [await submit(client, bob, bell["id"]) for _ in range(3)]
        positions = []
        for run in waiting:
            detail = await (await client.get(f"/runs/{run['id']}", headers=bob.headers)).json()
            assert detail["status"] == "queued"
            positions.append(detail["queue_position"])
        assert positions == [1, 2, 3]
        assert (await client.delete(f"/runs/{waiting[0]['id']}", headers=bob.headers)).status == 204
        cancelled = await (await client.get(f"/runs/{waiting[0]['id']}", headers=bob.headers)).json()
        assert cancelled["status"] == "cancelled" and cancelled["queue_position"] is None
        second = await (await client.get(f"/runs/{waiting[1]['id']}", headers=bob.headers)).json()
        assert second["queue_position"] == 1
        await client.delete(f"/runs/{first['id']}", headers=alice.headers)
        for run in waiting[1:]:
            assert (await wait_run(client, bob, run["id"]))["status"] == "completed"


class TestUsageLimit:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, runs={"workers": 1, "max_queued_per_user": 5})

    async def test_unfinished_runs_are_capped_per_user_even_when_submitted_at_once(self, client, hub, alice, bob):
        blocker = await sleepy_circuit(client, alice, seconds=60)
        bell = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
        answers = await asyncio.gather(*(client.post("/runs", json={"circuit_id": blocker["id"]}, headers=alice.headers)
                                         for _ in range(12)))
        statuses = sorted(r.status for r in answers)
        assert statuses == [201] * 5 + [403] * 7, statuses
        refused = next(r for r in answers if r.status == 403)
        assert "5 unfinished runs (limit 5)" in (await refused.json())["detail"]
        assert await hub.db.count(Run.select().where(Run.user == alice.id)) == 5  # nothing half-written
        stats = await (await client.get("/runs/users/me/stats", headers=alice.headers)).json()
        assert stats["total_runs"] == 5
        circuit = await (await client.get(f"/circuits/{blocker['id']}", headers=alice.headers)).json()
        assert circuit["runs_count"] == 5
        # Another user is not affected; a finished run frees a place.
        assert (await client.post("/runs", json={"circuit_id": bell["id"]}, headers=bob.headers)).status == 201
        created = [await r.json() for r in answers if r.status == 201]
        assert (await client.delete(f"/runs/{created[0]['id']}", headers=alice.headers)).status == 204
        await wait_run(client, alice, created[0]["id"])
        assert (await client.post("/runs", json={"circuit_id": bell["id"]}, headers=alice.headers)).status == 201
        for run in created[1:]:
            await client.delete(f"/runs/{run['id']}", headers=alice.headers)


class TestFairness:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, runs={"workers": 1, "per_user_concurrency": 1})

    async def test_one_users_200_runs_do_not_starve_another(self, client, hub, alice, bob, make_user):
        circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
        await wait_run(client, alice, (await submit(client, alice, circuit["id"], shots=10))["id"])  # warm the cache
        # A third user holds the only worker while the class submits, so everything queues.
        carol = await make_user("carol")
        blocker = await submit(client, carol, (await sleepy_circuit(client, carol, seconds=120))["id"])
        await wait_run(client, carol, blocker["id"], statuses=("running",), timeout=30)
        heavy = [await submit(client, alice, circuit["id"], shots=10) for _ in range(200)]
        light = [await submit(client, bob, circuit["id"], shots=10) for _ in range(5)]
        await client.delete(f"/runs/{blocker['id']}", headers=carol.headers)
        for run in light:
            assert (await wait_run(client, bob, run["id"], timeout=120))["status"] == "completed"
        light_rows = await hub.db.list(Run.select().where(Run.id.in_([r["id"] for r in light])))
        last_light = max(row.completed_at for row in light_rows)
        heavy_done_before = await hub.db.count(Run.select().where(
            Run.id.in_([r["id"] for r in heavy]) & (Run.status == "completed") & (Run.completed_at < last_light)))
        # Round robin: bob's 5 runs interleave with alice's first ones, not after her 200.
        assert heavy_done_before <= 6, heavy_done_before
        for run in heavy:
            await client.delete(f"/runs/{run['id']}", headers=alice.headers)


async def test_websocket_first_message_then_transitions(client, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    private = await make_circuit(client, alice, "private-bell", {"circuit.py": BELL}, is_public=False)
    run = await submit(client, alice, circuit["id"], shots=100)
    async with client.ws_connect(f"/ws/runs/{run['id']}") as ws:
        messages = []
        async for msg in ws:
            messages.append(json.loads(msg.data))
            if messages[-1]["status"] in ("completed", "failed", "cancelled"):
                break
    assert messages[0]["id"] == run["id"]
    statuses = [m["status"] for m in messages]
    assert statuses[-1] == "completed" and messages[-1]["results"]["counts"]
    assert statuses == sorted(set(statuses), key=statuses.index)  # one message per transition, in order
    # Private runs need a token (header or ?token=); strangers get a 404 before the upgrade.
    prun = await submit(client, alice, private["id"], shots=50)
    resp = await client.get(f"/api/ws/runs/{prun['id']}/subscribe", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                                            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 404
    async with client.ws_connect(f"/api/ws/runs/{prun['id']}/subscribe?token={alice.access_token}") as ws:
        first = json.loads((await ws.receive()).data)
        assert first["id"] == prun["id"]
    await wait_run(client, alice, prun["id"])


async def test_hundreds_of_subscribers_get_every_transition(client, hub, alice):
    # long enough to connect 300 sockets while it runs, on a slow database or a busy machine too
    circuit = await sleepy_circuit(client, alice, seconds=8)
    run = await submit(client, alice, circuit["id"])
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # the test client caps at 100
    url = client.make_url(f"/ws/runs/{run['id']}")
    sockets = list(await asyncio.gather(*(session.ws_connect(url) for _ in range(300))))
    for ws in sockets:
        assert json.loads((await ws.receive()).data)["id"] == run["id"]
    assert hub.run_events.subscriber_count() >= 290

    async def last_status(ws):
        status = None
        async for msg in ws:
            status = json.loads(msg.data)["status"]
            if status in ("completed", "failed", "cancelled"):
                break
        return status

    finals = await asyncio.wait_for(asyncio.gather(*(last_status(ws) for ws in sockets)), timeout=90)
    assert set(finals) == {"completed"}
    for ws in sockets:
        await ws.close()
    await session.close()

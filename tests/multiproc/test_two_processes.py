"""Two (or more) real API processes on one PostgreSQL database and one data dir behave as one server.

Which process executes a run is whichever claims it first; the tests find out from the run's
lease owner (``host:pid:random``) and then act through the *other* process.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import aiohttp
import pytest
import requests

from qubithub_lite.db import migrate
from tests.foundation.test_backup import cli
from tests.multiproc.conftest import (
    audit_actions, login, owner_pid, register, row, submit, upload, wait_run,
)
from tests.pg import pgtest
from tests.runs.helpers import BELL, SLEEPY

TERMINAL = ("completed", "failed", "cancelled")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def by_pid(servers, pid):
    return next(s for s in servers if s.process.pid == pid)


def other_than(servers, server):
    return next(s for s in servers if s is not server)


def test_runs_submitted_through_both_execute_exactly_once(cluster):
    a, b = servers = cluster(2, qubithub_lite_runs_workers="2", qubithub_lite_runs_per_user_concurrency="4")
    data_dir = a.data_dir
    alice = register(a.api, "alice")
    alice_b = login(b.api, "alice")  # the same signing secret: a token from A works on B too
    assert requests.get(f"{b.api}/auth/me", headers=alice, timeout=30).status_code == 200
    bell = upload(a.api, alice, "bell", {"circuit.py": BELL}, qubits=2)
    runs = [submit(s.api, h, bell, shots=64) for _ in range(6) for s, h in ((a, alice), (b, alice_b))]
    pids = Counter()
    for run in runs:
        done = wait_run(b.api, alice_b, run["id"])
        assert done["status"] == "completed", done
        assert sum(done["results"]["counts"].values()) == 64
        actions = Counter(audit_actions(data_dir, run["id"]))
        assert actions["run.running"] == 1 and actions["run.completed"] == 1 and actions["run.retried"] == 0, actions
        assert row(data_dir, 'SELECT "attempts" FROM "run" WHERE "id" = ?', [run["id"]]) == (1,)
        pids[owner_pid(data_dir, run["id"])] += 1
    assert set(pids) <= {s.process.pid for s in servers}
    stats = requests.get(f"{a.api}/runs/users/me/stats", headers=alice, timeout=30).json()
    assert stats["completed_runs"] == len(runs) and stats["running_runs"] == 0 and stats["queued_runs"] == 0


async def _listen(url: str, token: str, run_id: str, into: list) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/ws/runs/{run_id}?token={token}") as ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                into.append(json.loads(msg.data))
                if into[-1]["status"] in TERMINAL:
                    break


async def test_a_subscriber_on_either_process_hears_every_transition(cluster):
    a, b = servers = await asyncio.to_thread(cluster, 2)
    alice = await asyncio.to_thread(register, a.api, "alice")
    slow = await asyncio.to_thread(upload, a.api, alice, "slow", {"circuit.py": SLEEPY, "sleep.json": "4"})
    run = await asyncio.to_thread(submit, a.api, alice, slow)
    token = alice["Authorization"].split()[1]
    heard: dict[int, list] = {s.process.pid: [] for s in servers}
    await asyncio.wait_for(asyncio.gather(*(_listen(s.url, token, run["id"], heard[s.process.pid]) for s in servers)), 180)
    executor = by_pid(servers, owner_pid(a.data_dir, run["id"]))
    remote = heard[other_than(servers, executor).process.pid]
    # The process that did not execute the run heard it change after it subscribed, up to the end.
    assert len(remote) >= 2 and remote[0]["status"] in ("queued", "running"), remote
    assert remote[-1]["status"] == "completed" and remote[-1]["results"]["counts"] == {"1": 1024}, remote[-1]
    assert heard[executor.process.pid][-1]["status"] == "completed"


def _admin(server, username: str) -> dict[str, str]:
    from qubithub_lite.services.accounts import Accounts

    headers = register(server.api, username)
    cli("users", "promote", username, "--data-dir", str(server.data_dir))
    time.sleep(Accounts.USER_CACHE_SECONDS + 0.2)
    return headers


def _executing(server, admin) -> int:
    report = requests.get(f"{server.url}/health", headers=admin, timeout=30).json()
    return report["queue"]["leases"]["executing"]


def test_cancel_through_one_process_stops_the_run_on_the_other(cluster):
    # A long lease: its heartbeat (every 20 s) would also find the cancel; the notification must be faster.
    servers = cluster(2, qubithub_lite_runs_lease_seconds="60")
    a = servers[0]
    admin = _admin(a, "root")
    alice = register(a.api, "alice")
    slow = upload(a.api, alice, "slow", {"circuit.py": SLEEPY, "sleep.json": "45"})
    run = submit(a.api, alice, slow)
    wait_run(a.api, alice, run["id"], statuses=("running",), timeout=60)
    executor = by_pid(servers, owner_pid(a.data_dir, run["id"]))
    other = other_than(servers, executor)
    deadline = time.monotonic() + 30
    while not descendants(executor.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the sandbox is starting
    assert descendants(executor.process.pid), "the run's sandbox never started"
    assert _executing(executor, admin) == 1
    assert requests.delete(f"{other.api}/runs/{run['id']}", headers=alice, timeout=30).status_code == 204
    deadline = time.monotonic() + 10
    while (_executing(executor, admin) or descendants(executor.process.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _executing(executor, admin) == 0, "the executing process never stopped the cancelled run"
    assert descendants(executor.process.pid) == [], "the cancelled run's sandbox is still alive"
    assert wait_run(executor.api, alice, run["id"])["status"] == "cancelled"
    actions = Counter(audit_actions(a.data_dir, run["id"]))
    assert actions["run.cancelled"] == 1 and actions["run.completed"] == 0 and actions["run.failed"] == 0, actions


def test_a_killed_process_s_run_is_taken_over_only_after_its_lease_expired(cluster):
    servers = cluster(2, qubithub_lite_runs_lease_seconds="3")
    a = servers[0]
    data_dir = a.data_dir
    alice = register(a.api, "alice")
    slow = upload(a.api, alice, "slow", {"circuit.py": SLEEPY, "sleep.json": "8"})
    run = submit(a.api, alice, slow)
    wait_run(a.api, alice, run["id"], statuses=("running",), timeout=60)
    victim = by_pid(servers, owner_pid(data_dir, run["id"]))
    survivor = other_than(servers, victim)
    victim.stop(9)
    owner, expires = row(data_dir, 'SELECT "lease_owner", "lease_expires_at" FROM "run" WHERE "id" = ?', [run["id"]])
    assert int(owner.split(":")[-2]) == victim.process.pid
    done = wait_run(survivor.api, alice, run["id"], timeout=180)
    assert done["status"] == "completed", done
    assert owner_pid(data_dir, run["id"]) == survivor.process.pid
    actions = audit_actions(data_dir, run["id"])
    assert Counter(actions) == Counter({"run.created": 1, "run.queued": 1, "run.running": 2, "run.retried": 1,
                                        "run.completed": 1}), actions
    (retried_at,) = row(data_dir, 'SELECT "created_at" FROM "audit_log" WHERE "target_id" = ? AND "action" = ?',
                        [run["id"], "run.retried"])
    assert retried_at >= expires, (retried_at, expires)  # never while the lease was live
    assert row(data_dir, 'SELECT "attempts" FROM "run" WHERE "id" = ?', [run["id"]]) == (2,)


def test_a_process_starting_later_leaves_a_live_run_alone(cluster, tmp_path):
    (a,) = cluster(1)
    alice = register(a.api, "alice")
    slow = upload(a.api, alice, "slow", {"circuit.py": SLEEPY, "sleep.json": "6"})
    run = submit(a.api, alice, slow)
    wait_run(a.api, alice, run["id"], statuses=("running",), timeout=60)
    later = cluster(2)  # two more processes start (and recover) while the run executes on A
    done = wait_run(later[0].api, alice, run["id"])
    assert done["status"] == "completed", done
    actions = Counter(audit_actions(a.data_dir, run["id"]))
    assert actions["run.running"] == 1 and actions["run.retried"] == 0, actions
    assert owner_pid(a.data_dir, run["id"]) == a.process.pid


def test_the_per_user_cap_holds_across_processes(cluster):
    a, b = cluster(2, qubithub_lite_runs_workers="3", qubithub_lite_runs_per_user_concurrency="2")
    data_dir = a.data_dir
    alice = register(a.api, "alice")
    circuits = [upload(a.api, alice, f"slow-{i}", {"circuit.py": SLEEPY, "sleep.json": "2"}) for i in range(6)]
    user_id = requests.get(f"{a.api}/auth/me", headers=alice, timeout=30).json()["id"]
    runs = [submit((a, b)[i % 2].api, alice, c) for i, c in enumerate(circuits)]
    most, deadline = 0, time.monotonic() + 240
    while time.monotonic() < deadline:
        counts = dict(pgtest.rows(data_dir, 'SELECT "status", COUNT(*) FROM "run" WHERE "user_id" = ? GROUP BY "status"',
                                  [user_id]))
        most = max(most, counts.get("running", 0))
        if sum(counts.get(s, 0) for s in TERMINAL) == len(runs):
            break
        time.sleep(0.05)
    assert most == 2, f"at most {most} of alice's runs ran at once (cap 2, 6 slots in two processes)"
    for run in runs:
        assert wait_run(a.api, alice, run["id"])["status"] == "completed"


def test_rate_limits_hold_across_processes(cluster):
    a, b = cluster(2, qubithub_lite_rate_limits_enabled="true", qubithub_lite_rate_limits_requests_per_minute="10",
                   qubithub_lite_rate_limits_anonymous_requests_per_minute="1000")
    alice = register(a.api, "alice")
    answers = [requests.get(f"{s.api}/auth/me", headers=alice, timeout=30) for _ in range(10) for s in (a, b)]
    ok = [r for r in answers if r.status_code == 200]
    limited = [r for r in answers if r.status_code == 429]
    assert len(ok) + len(limited) == 20
    # One bucket of 10 for both processes (it refills one token per 6 s), not 10 in each.
    assert 10 <= len(ok) <= 11, [r.status_code for r in answers]
    assert {r.url.split("/api")[0] for r in limited} == {a.url, b.url}
    assert all(int(r.headers["Retry-After"]) >= 1 and "rate limit" in r.json()["detail"] for r in limited)


def test_four_processes_starting_at_once_on_an_empty_database_all_come_up(cluster):
    servers = cluster(4)
    for server in servers:
        health = requests.get(f"{server.url}/health", timeout=30).json()
        assert health["status"] == "ok" and health["database"]["schema_version"] == migrate.head_version(), health
    first = register(servers[0].api, "alice")
    for server in servers:  # one signing secret for all of them
        assert requests.get(f"{server.api}/auth/me", headers=first, timeout=30).status_code == 200
        assert requests.get(f"{server.api}/auth/me", headers=login(server.api, "alice"), timeout=30).status_code == 200
    password = urlparse(pgtest.TEST_DATABASE).password
    doctor = cli("doctor", "--data-dir", str(servers[0].data_dir), ok=False)
    assert password and password not in doctor.stdout + doctor.stderr
    assert "postgresql" in (doctor.stdout + doctor.stderr).lower()
    assert all(server.process.poll() is None for server in servers)


def test_the_space_execution_cap_per_user_holds_across_processes(cluster):
    """One execute/visualize call at a time per user ([spaces] max_concurrent_per_user = 1): a
    second call through the other process is refused while the first runs there, not run too."""
    a, b = cluster(2, qubithub_lite_spaces_max_concurrent_per_user="1", qubithub_lite_spaces_queue_wait_seconds="0")
    alice = register(a.api, "alice")
    bob = register(b.api, "bob")
    spaces = {}
    for name, headers in (("alice", alice), ("bob", bob)):
        resp = requests.post(f"{a.api}/spaces", json={"name": "lab", "title": "Lab"}, headers=headers, timeout=30)
        assert resp.status_code == 201, resp.text
        spaces[name] = resp.json()["id"]
    slow_code = "import time\nprint('started', flush=True)\ntime.sleep(6)\nprint('slow done')\n"

    def execute(server, headers, space, code, timeout=None):
        body = {"code": code} if timeout is None else {"code": code, "timeout": timeout}
        return requests.post(f"{server.api}/spaces/{space}/execute", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(execute, a, alice, spaces["alice"], slow_code, 30)
        deadline = time.monotonic() + 60
        # the slow call holds alice's one slot once A's sandbox runs it (A started no other process)
        while not descendants(a.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not slow.done(), slow.result().text
        second = execute(b, alice, spaces["alice"], "print(2)")
        assert second.status_code == 429, second.text
        assert pgtest.rows(a.data_dir, 'SELECT COUNT(*) FROM "space_execution_slot"') == [(1,)]
        assert "for you" in second.json()["detail"] and int(second.headers["Retry-After"]) >= 1
        other = execute(b, bob, spaces["bob"], "print('bob')")  # another user is not held up
        assert other.status_code == 200 and other.json()["output"] == "bob\n", other.text
        first = slow.result()
    assert first.status_code == 200 and first.json()["output"] == "started\nslow done\n", first.text
    after = execute(b, alice, spaces["alice"], "print(3)")  # the slot is free again
    assert after.status_code == 200 and after.json()["output"] == "3\n", after.text
    assert pgtest.rows(a.data_dir, 'SELECT COUNT(*) FROM "space_execution_slot"') == [(0,)]

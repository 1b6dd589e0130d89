"""Memory footprint of the whole appliance: PSS of a real ``qubithub-lite serve`` and all its
descendants (simulator workers, warm sandbox interpreters, their launchers), read from
``/proc/PID/smaps_rollup`` (PSS, so shared library pages are counted once, split among the
processes that map them).

Prints, in one run:
- idle after start (the server, its pre-started simulator workers and warm interpreters
  settled; goal <= 600 MiB);
- after one run on every available backend (``GET /backends``) and one execute in every SDK
  (a space per SDK) (goal <= 1 GiB);
- under load (``--load`` concurrent runs in flight; reported);
- with ``--idle N`` (N > 0), the idle times (``[runs] worker_idle_seconds``, ``[sandbox]
  warm_idle_seconds``) set to N seconds, and the tree after N + 10 s without work (the pools
  shrank: reported). N must exceed how long the run per backend takes, or the pools shrink
  before the "after" figure (a warning says so). ``--idle 0`` (run_all's quick mode): the
  default idle times, no rested figure.

Figures are ratios to the goals (``<= 1`` is met), as ``run_all.py`` expects.

    python bench/bench_footprint.py [--load 30] [--idle 300] [--settle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, qubithub_server  # noqa: E402

MIB = 1024 * 1024
IDLE_GOAL = 600 * MIB
AFTER_GOAL = 1024 * MIB
BELL = (Path(__file__).resolve().parent.parent / "qubithub_lite" / "examples" / "circuits" / "bell-qiskit"
        / "circuit.py").read_text(encoding="utf-8")
EXECUTE = {
    "qiskit": "import qiskit\nqc = qiskit.QuantumCircuit(1)\nqc.h(0)\nprint('ok', qc.num_qubits)",
    "cirq": "import cirq\nq = cirq.LineQubit(0)\nprint('ok', len(cirq.Circuit(cirq.H(q))))",
    "pennylane": "import pennylane as qml\ndev = qml.device('default.qubit', wires=1)\nprint('ok', len(dev.wires))",
}


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (through /proc/*/task/*/children)."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        seen.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return seen


def pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_pss(pid: int) -> tuple[int, int]:
    """(PSS of the whole tree, number of processes in it)."""
    pids = descendants(pid)
    return sum(pss_bytes(p) for p in pids), len(pids)


def breakdown(pid: int, top: int = 8) -> list[str]:
    """The ``top`` processes of the tree by PSS, with their command lines (shortened)."""
    rows = []
    for p in descendants(pid):
        try:
            cmd = " ".join(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split())
        except OSError:
            continue
        rows.append((pss_bytes(p), p, cmd))
    rows.sort(reverse=True)
    short = lambda cmd: cmd if len(cmd) <= 110 else f"{cmd[:50]} … {cmd[-55:]}"  # noqa: E731
    return [f"    {pss / MIB:6.0f} MiB  {p:7}  {short(cmd)}" for pss, p, cmd in rows[:top]]


async def settle(pid: int, seconds: float) -> tuple[int, int]:
    """The tree's PSS once it stopped growing (at most ``seconds``): pools fill in the background."""
    deadline, last = time.monotonic() + seconds, (-1, 0)
    while time.monotonic() < deadline:
        now = tree_pss(pid)
        if last[0] >= 0 and abs(now[0] - last[0]) < 5 * MIB and now[1] == last[1]:
            return now
        last = now
        await asyncio.sleep(1.0)
    return tree_pss(pid)


async def wait_run(session, url, headers, run_id: str, limit: float = 300) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        async with session.get(f"{url}/runs/{run_id}", headers=headers) as r:
            run = await r.json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        await asyncio.sleep(0.1)
    raise RuntimeError(f"run {run_id} did not finish")


async def one_of_each(session, url, headers) -> tuple[list[str], list[str]]:
    async with session.post(f"{url}/circuits", json={"name": "bell", "title": "bell", "framework": "qiskit",
                                                     "qubits": 2}, headers=headers) as r:
        cid = (await r.json())["id"]
    form = aiohttp.FormData()
    form.add_field("files", BELL.encode(), filename="circuit.py")
    async with session.post(f"{url}/circuits/{cid}/upload-batch", data=form, headers=headers) as r:
        assert r.status in (200, 201), await r.text()
    async with session.get(f"{url}/backends", headers=headers) as r:
        backends = [(b["name"], b["type"]) for b in (await r.json())["backends"]
                    if b["status"] == "online" and b["type"] != "hardware"]
    ran = []
    for name, kind in backends:
        async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": 256, "backend_name": name,
                                                     "backend_type": kind}, headers=headers) as r:
            run = await r.json()
        if r.status == 201 and (await wait_run(session, url, headers, run["id"]))["status"] == "completed":
            ran.append(name)
        else:
            print(f"  warning: no completed run on {name}: {run}")
    executed = []
    for sdk, code in EXECUTE.items():
        async with session.post(f"{url}/spaces", json={"name": f"fp-{sdk}", "title": sdk, "sdk": sdk},
                                headers=headers) as r:
            space = await r.json()
        async with session.post(f"{url}/spaces/{space['id']}/execute", json={"code": code}, headers=headers) as r:
            body = await r.json()
        if r.status == 200 and body.get("status") == "success" and "ok" in (body.get("output") or ""):
            executed.append(sdk)
        else:
            print(f"  warning: execute in {sdk} failed: {r.status} {str(body)[:300]}")
    return ran, executed, cid


async def under_load(session, url, headers, cid: str, pid: int, n: int) -> tuple[int, int]:
    ids = []
    for _ in range(n):
        async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": 256}, headers=headers) as r:
            ids.append((await r.json())["id"])
    peak = (0, 0)
    waiting = asyncio.gather(*(wait_run(session, url, headers, i) for i in ids))
    while not waiting.done():
        peak = max(peak, tree_pss(pid))
        await asyncio.sleep(0.2)
    await waiting
    return peak


async def measure(url: str, pid: int, load: int, idle: float, settle_s: float) -> dict:
    figures = {"idle": await settle(pid, settle_s)}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/auth/register", json={"email": "fp@example.org", "username": "footprint",
                                                               "password": "Bench!pass#2026"}) as r:
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        begun = time.monotonic()
        ran, executed, cid = await one_of_each(session, url, headers)
        figures["after"] = await settle(pid, settle_s)
        if idle and time.monotonic() - begun > idle:
            print(f"  warning: one run per backend took {time.monotonic() - begun:.0f} s, more than the idle "
                  f"time {idle:g} s: pools may have shrunk before the after figure (raise --idle)")
        figures["after_top"] = breakdown(pid)
        figures["load"] = await under_load(session, url, headers, cid, pid, load)
        if idle:
            await asyncio.sleep(idle + 10)
            figures["rested"] = tree_pss(pid)
        again = await under_load(session, url, headers, cid, pid, 1)  # the next run still works
    figures["ran"], figures["executed"], figures["again"] = ran, executed, again
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", type=int, default=30, help="runs submitted at once for the load figure")
    parser.add_argument("--idle", type=float, default=300, help="idle time of the pools (seconds; > --settle)")
    parser.add_argument("--settle", type=float, default=10, help="longest wait for the tree to stop growing")
    args = parser.parse_args()
    if args.idle and args.idle <= args.settle + 5:
        parser.error("--idle must exceed --settle by more than 5 s (the pools must not shrink before the figures)")
    idle = str(args.idle)
    env = {"QUBITHUB_LITE_RUNS_WORKER_IDLE_SECONDS": idle, "QUBITHUB_LITE_SANDBOX_WARM_IDLE_SECONDS": idle} if args.idle else {}
    with qubithub_server(extra_env=env) as (url, proc, _data):
        f = asyncio.run(measure(url, proc.pid, args.load, args.idle, args.settle))
    mib = lambda b: b / MIB  # noqa: E731
    print(f"backends run: {', '.join(f['ran'])}; SDKs executed: {', '.join(f['executed'])}")
    for key, label in (("idle", "idle after start"), ("after", "after one run per backend + one execute per SDK"),
                       ("load", f"under load ({args.load} runs in flight, peak)"),
                       ("rested", f"after {args.idle + 10:g} s without work (idle times {idle} s)")):
        if key not in f:
            continue
        pss, count = f[key]
        print(f"{label:52} {mib(pss):8.0f} MiB PSS in {count:2} processes")
    print("largest processes after every backend + SDK:", *f["after_top"], sep="\n")
    print(f"idle goal <= 600 MiB: {'met' if f['idle'][0] <= IDLE_GOAL else 'NOT MET'}; "
          f"after-all goal <= 1024 MiB: {'met' if f['after'][0] <= AFTER_GOAL else 'NOT MET'}")
    rows = [
        ("PSS idle / 600 MiB", f["idle"][0] / IDLE_GOAL, "<=", 1.0),
        ("PSS after every backend+SDK / 1 GiB", f["after"][0] / AFTER_GOAL, "<=", 1.0),
        ("PSS under load / 1 GiB", f["load"][0] / AFTER_GOAL, "<=", None),
    ]
    if "rested" in f:
        rows.append(("PSS after idle / PSS after every backend+SDK", f["rested"][0] / max(1, f["after"][0]), "<=", None))
    emit("footprint", rows)


if __name__ == "__main__":
    main()

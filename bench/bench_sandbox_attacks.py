"""/health latency while sandbox attacks run through POST /spaces/{id}/execute.

    python bench/bench_sandbox_attacks.py

Real app, real sandbox: two copies of each attack (fork bomb, memory across children,
/dev/shm + /tmp fill, stdout flood, flooding every descriptor) run for up to 6 s while
/health is polled; prints /health p50/p99 per attack and the execute statuses. Nothing is
asserted (the attack suite is tests/security/test_sandbox_attacks.py).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from qubithub_lite.app import create_app  # noqa: E402
from qubithub_lite.config import load_settings  # noqa: E402

ATTACKS = {
    "idle": None,
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "memory across 4 children": "import os,time\nfor _ in range(4):\n    if os.fork()==0:\n        b=bytearray(900<<20)\n        for i in range(0,len(b),4096): b[i]=1\n        time.sleep(5); os._exit(0)\nos.wait()\n",
    "/dev/shm + /tmp fill": "for p in ('/dev/shm/x','/tmp/x'):\n    try:\n        f=open(p,'wb')\n        while True: f.write(b'x'*(1<<20))\n    except OSError: pass\n",
    "stdout flood": "import os\nwhile True: os.write(1, b'x'*(1<<16))\n",
    "status-fd flood": "import os\nfor fd in range(3,1024):\n    try:\n        os.set_blocking(fd, False); os.write(fd, b'x'*(1<<18))\n    except OSError: pass\n",
}

async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    settings = load_settings(None, {
        "server": {"data_dir": tmp / "data"}, "auth": {"bcrypt_rounds": 4}, "rate_limits": {"enabled": False},
        "spaces": {"max_concurrent_per_user": 4, "max_concurrent_executions": 4},
        "sandbox": {"warm_pool_size": 2, "warm_preload": []},
    }, environ={})
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    r = await client.post("/auth/register", json={"email": "a@x.org", "username": "att", "password": "Password-123456", "name": "A"})
    token = (await r.json())["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    sid = (await (await client.post("/spaces", json={"name": "s", "title": "s"}, headers=h)).json())["id"]
    await asyncio.sleep(8)  # let the warm pool and the simulator workers start first
    for name, code in ATTACKS.items():
        tasks = []
        if code:
            tasks = [asyncio.ensure_future(client.post(f"/spaces/{sid}/execute", json={"code": code, "timeout": 6}, headers=h)) for _ in range(2)]
        lat = []
        end = time.monotonic() + 6
        while time.monotonic() < end:
            t = time.perf_counter()
            resp = await client.get("/health")
            await resp.read()
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.02)
        statuses = []
        for t in tasks:
            resp = await t
            statuses.append(resp.status)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"{name:28s} /health p50 {statistics.median(lat):6.1f} ms  p99 {p99:6.1f} ms  (n={len(lat)}) execute -> {statuses}", flush=True)
    await client.close()

if __name__ == "__main__":
    asyncio.run(main())

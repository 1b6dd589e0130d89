"""GET /health and authenticated GET /auth/me requests/s against a bare aiohttp
JSON handler started in the same run; idle server RSS.

    python bench/bench_api.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import bare_server, emit, qubithub_server, requests_per_second, rss_bytes  # noqa: E402


def post_json(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with qubithub_server() as (url, proc, _):
        time.sleep(1.0)
        idle_rss = rss_bytes(proc.pid)
        token = post_json(url + "/auth/register", {"email": "bench@example.org", "username": "bench",
                                                    "password": "Bench!pass#2026"})["access_token"]
        health = requests_per_second(url + "/health", seconds=args.seconds)
        me = requests_per_second(url + "/auth/me", {"Authorization": f"Bearer {token}"}, seconds=args.seconds)
        loaded_rss = rss_bytes(proc.pid)
    with bare_server() as (bare_url, _):
        bare = requests_per_second(bare_url + "/json", seconds=args.seconds)
    print(f"bare aiohttp JSON handler : {bare:9.0f} req/s")
    print(f"GET /health               : {health:9.0f} req/s  ratio {health / bare:.2f}")
    print(f"GET /auth/me (JWT)        : {me:9.0f} req/s  ratio {me / bare:.2f}")
    emit("api", [("GET /health vs bare JSON", health / bare, ">=", None), ("GET /auth/me vs bare JSON", me / bare, ">=", None)])
    print(f"server RSS idle           : {idle_rss / 2**20:9.1f} MiB (after load {loaded_rss / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()

"""Lighthouse on the explore, circuit and dataset pages with 1,000 circuits stored.

    npm install lighthouse          # anywhere; pass its bin with LIGHTHOUSE=…/node_modules/.bin/lighthouse
    CHROME_PATH=/usr/bin/chromium python bench/lighthouse_web.py

Prints the performance, accessibility and best-practices scores per page (0-100)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.conftest import start_server  # noqa: E402
from tests.web.browser import ARGS  # noqa: E402
from tests.web.seed import Seeder  # noqa: E402

LIGHTHOUSE = os.environ.get("LIGHTHOUSE", "lighthouse")


def main() -> None:
    srv = start_server(pathlib.Path(tempfile.mkdtemp()) / "data")
    try:
        seed = Seeder(srv.url)
        teacher = seed.user("teacher")
        bell = seed.circuit(teacher, "bell-pair", "Bell pair")
        dataset = seed.dataset(teacher)

        def make(i: int) -> None:
            r = requests.post(srv.api + "/circuits", headers=teacher["headers"], json={
                "name": f"circuit-{i:04d}", "title": f"Practice circuit {i}", "framework": "qiskit", "qubits": 1 + i % 20,
                "tags": ["practice", f"week-{i % 12}"], "description": "An exercise of the course."})
            assert r.status_code == 201, r.text
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(make, range(999)))
        assert requests.get(srv.api + "/circuits").json()["total"] == 1000
        env = dict(os.environ, CHROME_PATH=os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
        results = {}
        for name, path in (("explore", "/"), ("circuit", f"/circuits/{bell['id']}"), ("dataset", f"/datasets/{dataset['id']}")):
            out = subprocess.run([LIGHTHOUSE, srv.url + path, "--output=json", "--quiet",
                                  "--only-categories=performance,accessibility,best-practices",
                                  "--chrome-flags=" + " ".join(ARGS)], capture_output=True, text=True, env=env, timeout=300)
            report = json.loads(out.stdout)
            results[name] = {k: round(v["score"] * 100) for k, v in report["categories"].items()}
            failed = [a["id"] for a in report["audits"].values()
                      if a.get("score") is not None and a["score"] < 0.9 and a.get("scoreDisplayMode") == "binary"]
            results[name]["failed_audits"] = failed
        print(json.dumps(results, indent=1))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

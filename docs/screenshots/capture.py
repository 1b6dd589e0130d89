"""Screenshots of every page (desktop 1280 px and phone 360 px) and the page weights.

    python docs/screenshots/capture.py        # from the repository root; needs /usr/bin/chromium

Starts a real server on a free port with demo content (made through the JSON API), signs in
through the login form, and writes docs/screenshots/<page>-desktop.png / -phone.png and
weights.json (HTML + CSS + JS bytes, uncompressed, per page at desktop width)."""

from __future__ import annotations

import json
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import start_server  # noqa: E402
from tests.web.browser import Watchdog, launch  # noqa: E402
from tests.web.seed import PASSWORD, Seeder  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}


def main() -> None:
    srv = start_server(pathlib.Path(tempfile.mkdtemp()) / "data", {"QUBITHUB_LITE_RUNS_WORKERS": "1"})
    try:
        seed = Seeder(srv.url)
        teacher = seed.user("teacher")
        bell = seed.circuit(teacher, "bell-pair", "Bell pair")
        for name, title in (("ghz-three", "GHZ state on three qubits"), ("grover-two", "Grover search, two qubits"),
                            ("teleport", "Quantum teleportation")):
            seed.circuit(teacher, name, title, second_version=False)
        dataset = seed.dataset(teacher)
        space = seed.space(teacher)
        run = requests.post(srv.api + "/runs", headers=teacher["headers"],
                            json={"circuit_id": bell["id"], "shots": 2000, "seed": 7}).json()
        requests.post(srv.api + "/api-keys", headers=teacher["headers"], json={"name": "laptop", "scopes": ["circuit:read"]})
        _benchmarks_and_admin(srv, seed, teacher)
        weights: dict[str, int] = {}
        with sync_playwright() as p:
            browser = launch(p)
            for size_name, viewport in SIZES.items():
                context = browser.new_context(viewport=viewport)
                dog = Watchdog(srv.url)
                dog.attach(context)
                page = context.new_page()
                page.set_default_timeout(120_000)

                def shot(name: str, url: str, before=None) -> None:
                    sizes: list[int] = []

                    def count(resp):
                        if resp.request.resource_type in ("document", "stylesheet", "script"):
                            try:
                                sizes.append(len(resp.body()))
                            except Exception:
                                pass
                    page.on("response", count)
                    page.goto(srv.url + url)
                    page.wait_for_load_state("networkidle")
                    page.remove_listener("response", count)
                    if before:
                        before()
                    if size_name == "desktop":
                        weights[name] = sum(sizes)
                    page.screenshot(path=str(OUT / f"{name}-{size_name}.png"), full_page=True)

                shot("login", "/login")
                page.get_by_label("Email or username").fill("teacher")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(srv.url + "/")

                def run_live():
                    page.get_by_role("button", name="Run", exact=True).click()
                    page.locator("#run-live .run-status", has_text="completed").wait_for()

                def execute():
                    page.get_by_role("button", name="Execute").click()
                    page.locator("#exec-out pre.out").wait_for()

                shot("explore", "/")
                shot("circuit", f"/circuits/{bell['id']}?file=bell.qasm", run_live)
                shot("diff", f"/circuits/{bell['id']}/diff?a=1&b=2")
                shot("run", f"/runs/{run['id']}")
                shot("my-runs", "/runs")
                shot("dataset", f"/datasets/{dataset['id']}")
                shot("space", f"/spaces/{space['id']}", execute)
                shot("backends", "/backends?backend=fake_manila")
                shot("profile", "/u/teacher")
                shot("settings", "/settings")
                shot("upload", "/new")
                shot("benchmarks", "/benchmarks?suite=ghz&problem=ghz-n3")
                shot("admin", "/admin")
                context.close()
                dog.check()
            browser.close()
        (OUT / "weights.json").write_text(json.dumps(weights, indent=1) + "\n")
        print(json.dumps(weights, indent=1))
    finally:
        srv.stop()


def _benchmarks_and_admin(srv, seed, teacher) -> None:
    """Scored GHZ runs (the teacher's and two students') for the leaderboard and the volumetric
    picture; the teacher made a site admin (as a lab manager does, from the command line)."""
    import time

    from qubithub_lite.services.accounts import Accounts
    from tests.foundation.test_backup import cli

    users = [teacher, seed.user("ada"), seed.user("alan")]
    runs = []
    for i, user in enumerate(users):
        for idx in (0, 1, 2):
            for backend in ("qiskit_aer", "fake_manila")[: 1 + (i + idx) % 2]:
                r = requests.post(srv.api + "/benchmarks/run", headers=user["headers"],
                                  params={"suite_name": "ghz", "problem_idx": idx, "backend": backend})
                runs += [x["id"] for x in r.json().get("runs", [])]
    deadline = time.monotonic() + 300
    for run_id in runs:
        while time.monotonic() < deadline and requests.get(f"{srv.api}/runs/{run_id}", headers=teacher["headers"]).json()[
                "status"] not in ("completed", "failed", "cancelled"):
            time.sleep(0.3)
    cli("users", "promote", "teacher", "--data-dir", str(srv.data_dir))
    time.sleep(Accounts.USER_CACHE_SECONDS + 0.2)


if __name__ == "__main__":
    main()

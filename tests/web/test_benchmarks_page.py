"""The Benchmarks page over HTTP: suites and problems, a GHZ problem run from the page's form
(CSRF-checked, the same service call as POST /benchmarks/run), the leaderboard with the
signed-in user's row highlighted, and the volumetric SVG drawn from the backend's data."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from qubithub_lite.web.benchmarks import volumetric_picture
from tests.conftest import make_settings

from .test_pages import HTML, browser_login

GHZ3_IDX = 1  # ghz-n3


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, runs={"workers": 1, "compile_timeout_seconds": 30})


async def _wait(client, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = await (await client.get(f"/runs/{run_id}", headers={"Accept": "application/json"})).json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


async def test_benchmarks_page_lists_suites_and_problems_signed_out(client):
    resp = await client.get("/benchmarks", headers=HTML)
    assert resp.status == 200 and resp.content_type == "text/html"
    text = await resp.text()
    suites = (await (await client.get("/benchmarks/suites")).json())["suites"]
    for s in suites:
        assert f'href="/benchmarks?suite={s["name"]}"' in text
    assert 'href="/benchmarks"' in text  # the nav entry
    ghz = await client.get("/benchmarks?suite=ghz", headers=HTML)
    text = await ghz.text()
    detail = await (await client.get("/benchmarks/suites/ghz")).json()
    for p in detail["problems"]:
        assert f"problem={p['id']}" in text
    assert "Log in</a> to run this problem" in text and 'action="/-/benchmarks/run"' not in text
    # Unknown suite or problem: a 404 page, not a 500.
    assert (await client.get("/benchmarks?suite=nope", headers=HTML)).status == 404
    assert (await client.get("/benchmarks?suite=ghz&problem=nope", headers=HTML)).status == 404
    assert (await client.get("/benchmarks?suite=ghz&page=0", headers=HTML)).status == 400
    # The API routes under /benchmarks stay JSON.
    assert (await client.get("/benchmarks/suites", headers=HTML)).content_type == "application/json"


async def test_run_a_ghz_problem_from_the_page_and_see_my_rank(client, alice):
    token = await browser_login(client, "benchie")
    # Without the CSRF field the form is refused and nothing is submitted.
    refused = await client.post("/-/benchmarks/run", data={"suite_name": "ghz", "problem_idx": GHZ3_IDX,
                                                           "backend": "qiskit_aer"}, allow_redirects=False)
    assert refused.status == 403
    assert (await (await client.get("/runs", headers={"Accept": "application/json"})).json())["total"] == 0
    # Bad input is a clear 400 page.
    bad = await client.post("/-/benchmarks/run", data={"csrf_token": token, "suite_name": "ghz", "problem_idx": 99},
                            allow_redirects=False)
    assert bad.status == 400 and "out of range" in await bad.text()
    # Another user's entry first, so the leaderboard has someone else on it.
    other = await client.post(f"/benchmarks/run?suite_name=ghz&problem_idx={GHZ3_IDX}&backend=fake_manila",
                              headers=alice.headers)
    assert other.status == 201, await other.text()
    resp = await client.post("/-/benchmarks/run", data={"csrf_token": token, "suite_name": "ghz",
                                                        "problem_idx": GHZ3_IDX, "backend": "qiskit_aer"},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    run_id = re.fullmatch(r"/runs/([0-9a-f-]+)", resp.headers["Location"]).group(1)
    await asyncio.gather(_wait(client, run_id), _wait(client, (await other.json())["runs"][0]["id"]))
    page = await client.get("/benchmarks?suite=ghz&problem=ghz-n3", headers=HTML)
    text = await page.text()
    mine = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3/my-rank",
                                   headers={"Accept": "application/json"})).json()
    assert mine["rank"] is not None
    assert f"Your rank: <strong>#{mine['rank']}</strong> of {mine['total_entries']}" in text
    rows = re.findall(r'<tr( class="mine")?><td>\d+</td><td><a href="/u/([a-z0-9_-]+)"', text)
    assert ("", "alice") in [(m, u) for m, u in rows if u == "alice"]
    assert (' class="mine"', "benchie") in rows  # my row, and only mine, is highlighted
    assert sum(1 for m, _ in rows if m) == 1
    # The volumetric picture of qiskit_aer has a cell for 3 qubits coloured by the mean score.
    vol = await (await client.get("/benchmarks/volumetric/qiskit_aer")).json()
    cell = next(c for c in vol["cells"] if c["width"] == 3)
    assert f"3 qubits, depth {cell['depth']}: mean score {cell['mean_score']:.3f}" in text
    assert "<svg" in text and 'role="img"' in text


def test_volumetric_picture_geometry():
    cells = [{"width": 2, "depth": 3, "mean_score": 1.0, "runs": 1}, {"width": 5, "depth": 40, "mean_score": 0.0, "runs": 2},
             {"width": 5, "depth": 3, "mean_score": 0.5, "runs": 1}]
    g = volumetric_picture(cells)
    assert len(g["rects"]) == 3 and [t["label"] for t in g["xticks"]] == [2, 5] and [t["label"] for t in g["yticks"]] == [3, 40]
    a, b, c = g["rects"]
    assert a["y"] == c["y"] > b["y"]  # deeper is higher up
    assert a["x"] < b["x"] == c["x"]
    assert a["fill"].startswith("hsl(120,") and b["fill"].startswith("hsl(0,")
    assert all(0 <= r["x"] and r["x"] + r["size"] <= g["width"] and r["y"] + r["size"] <= g["plot_bottom"] for r in g["rects"])
    assert volumetric_picture([]) is None

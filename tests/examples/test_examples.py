"""The example content that ships with the package: installs, installs again as a no-op, and
every example circuit meets its own `[expected_output]` on its default backend."""

from __future__ import annotations

import tomllib

import pytest
import requests

from qubithub_lite.db.models import User
from qubithub_lite.services.bundles import Bundles
from qubithub_lite.services.examples import catalogue, ensure_organization, examples_root, install
from tests.conftest import PASSWORD, make_settings, start_server
from tests.foundation.test_backup import cli
from tests.runs.helpers import wait_run

ALGORITHMS = ["bell", "ghz", "deutsch-jozsa", "bernstein-vazirani", "grover", "qft", "teleportation", "vqe-h2",
              "qaoa-maxcut"]


def test_the_catalogue_covers_every_algorithm_framework_and_format():
    with examples_root() as root:
        cat = catalogue(root).manifest
        manifests = {p.parent.name: tomllib.loads(p.read_text()) for p in (root / "circuits").glob("*/qubithub.toml")}
    names = {c.name for c in cat.circuits}
    for algo in ALGORITHMS:
        frameworks = {c.framework for c in cat.circuits if c.name.rsplit("-", 1)[0] == algo}
        assert {"qiskit", "pennylane"} <= frameworks, algo
    assert {f"{a}-{fw}" for a in ALGORITHMS if a != "vqe-h2" for fw in ("qiskit", "cirq", "pennylane")} <= names
    assert {f"{a}-qasm" for a in ALGORITHMS if a != "vqe-h2"} <= names
    assert {d.format for d in cat.datasets} == {"csv", "json", "npy", "hdf5", "parquet"}
    assert {s.sdk for s in cat.spaces} == {"qiskit", "cirq", "pennylane"}
    for name, m in manifests.items():
        assert m["project"]["name"] == name
        assert m["educational"]["learning_outcomes"] and m["expected_output"]["dominant_states"], name
        assert any(f.path == "README.md" for c in cat.circuits if c.name == name for f in c.versions[0].changed)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, runs={"workers": 2, "compile_timeout_seconds": 60, "per_user_concurrency": 4})


@pytest.mark.sandbox
async def test_every_example_meets_its_expected_output_and_every_space_runs(client, hub, make_user, tmp_path):
    teacher = await make_user("teacher")
    owner = await User.aget(User.id == teacher.id)
    await ensure_organization(hub.db, hub.orgs, "examples", owner)
    bundles = Bundles(hub.db, hub.blobs, hub.circuits, hub.datasets, hub.spaces)
    report = await install(bundles, "examples", tmp_path / "scratch")
    assert report.ok, [(o.name, o.detail) for o in report.outcomes if o.result != "created"]
    assert report.count("created") == len(report.outcomes) == 43

    with examples_root() as root:
        manifests = {p.parent.name: tomllib.loads(p.read_text()) for p in (root / "circuits").glob("*/qubithub.toml")}
    runs = {}
    for name, m in sorted(manifests.items()):
        circuit = await (await client.get("/circuits/resolve", params={"repo_name": f"examples/{name}"},
                                          headers=teacher.headers)).json()
        body = {"circuit_id": circuit["id"], "backend_name": m["execution"]["default_backend"],
                "shots": m["execution"]["default_shots"], "seed": m["reproducibility"]["seed"]}
        resp = await client.post("/runs", json=body, headers=teacher.headers)
        assert resp.status == 201, (name, await resp.text())
        runs[name] = (await resp.json())["id"]
    failures = []
    for name, run_id in runs.items():
        run = await wait_run(client, teacher, run_id, timeout=300)
        check = (run.get("results") or {}).get("expected_output_check") or {}
        if run["status"] != "completed" or check.get("passed") is not True:
            failures.append((name, run["status"], run.get("error_message"), run.get("results", {}).get("counts")))
    assert not failures, [f[0] for f in failures] + failures

    spaces = await (await client.get("/orgs/examples/spaces", headers=teacher.headers)).json()
    ids = {s["name"]: s["id"] for s in spaces["spaces"]}
    assert set(ids) == {"bell-explorer", "cirq-playground", "pennylane-vqe"}
    for name, space_id in ids.items():
        resp = await client.post(f"/spaces/{space_id}/execute", json={"file_to_run": "app.py", "timeout": 120},
                                 headers=teacher.headers)
        out = await resp.json()
        assert resp.status == 200 and out["status"] == "success", (name, out)
    assert "-1.915371" in out["output"] or name != "pennylane-vqe"

    datasets = await (await client.get("/datasets", params={"limit": 100}, headers=teacher.headers)).json()
    for d in datasets["datasets"]:
        preview = await client.get(f"/datasets/{d['id']}/preview", params={"rows": 5}, headers=teacher.headers)
        assert preview.status == 200, (d["name"], await preview.text())


def test_cli_install_into_a_live_hub_twice_and_on_first_start(tmp_path):
    data = tmp_path / "box"
    cli("--data-dir", str(data), "users", "create", "teacher", "--email", "t@school.lan", "--password", PASSWORD,
        "--admin", env={"QUBITHUB_LITE_AUTH_BCRYPT_ROUNDS": "4"})
    server = start_server(data)
    try:
        out = cli("examples", "install", "--data-dir", str(data))
        assert "43 created" in out.stdout, out.stdout
        again = cli("examples", "install", "--data-dir", str(data))
        assert "43 unchanged" in again.stdout and "0 created" in again.stdout
        assert requests.get(f"{server.api}/circuits/resolve", params={"repo_name": "examples/bell-qiskit"}).status_code == 200
    finally:
        server.stop()

    fresh = start_server(tmp_path / "fresh", extra_env={"QUBITHUB_LITE_EXAMPLES_INSTALL_ON_FIRST_START": "true"})
    try:
        found = requests.get(f"{fresh.api}/circuits/resolve", params={"repo_name": "examples/grover-qasm"})
        assert found.status_code == 200 and found.json()["organization"]["slug"] == "examples"
        login = requests.post(f"{fresh.api}/auth/login", json={"identifier": "qubithub-examples", "password": ""})
        assert login.status_code in (400, 401)
    finally:
        fresh.stop()
    again = start_server(tmp_path / "fresh", extra_env={"QUBITHUB_LITE_EXAMPLES_INSTALL_ON_FIRST_START": "true"})
    try:
        page = requests.get(f"{again.api}/circuits", params={"limit": 100}).json()
        assert page["total"] == 35  # a restart installs nothing twice
    finally:
        again.stop()

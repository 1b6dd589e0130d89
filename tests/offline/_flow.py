"""The whole classroom flow against a real server, run by test_offline.py inside a network
namespace that has only loopback: register, upload and run a circuit in every framework
(ideal and emulated-device backends), execute a space, preview a dataset. Prints one JSON line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import requests

from tests.conftest import PASSWORD, start_server
from tests.runs.helpers import BELL, CIRQ, PENNYLANE, QASM3, manifest

CIRCUITS = {
    "qiskit": ("circuit.py", BELL, ["qiskit_aer", "fake_manila"]),
    "cirq": ("circuit.py", CIRQ, ["cirq_simulator"]),
    "pennylane": ("circuit.py", PENNYLANE, ["pennylane_default", "pennylane_lightning"]),
    "openqasm3": ("circuit.qasm", QASM3, ["qiskit_aer"]),
}


def main(data_dir: Path, extra_env: dict[str, str]) -> dict:
    server = start_server(data_dir, extra_env=extra_env)
    api = server.api
    summary: dict = {"runs": {}, "space": None, "preview_rows": None}
    try:
        resp = requests.post(f"{api}/auth/register", json={"email": "s@school.lan", "username": "student",
                                                            "password": PASSWORD})
        resp.raise_for_status()
        auth = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        runs = {}
        for framework, (entry, source, backends) in CIRCUITS.items():
            name = f"offline-{framework}"
            c = requests.post(f"{api}/circuits", json={"name": name, "title": name, "framework": framework,
                                                       "qubits": 2}, headers=auth).json()
            files = [("files", (entry, source.encode())),
                     ("files", ("qubithub.toml", manifest(name, framework, entry, 2).encode()))]
            requests.post(f"{api}/circuits/{c['id']}/upload-batch", files=files, headers=auth).raise_for_status()
            for backend in backends:
                body = {"circuit_id": c["id"], "backend_name": backend, "shots": 64}
                if backend.startswith("fake_"):
                    body["backend_type"] = "emulation"
                r = requests.post(f"{api}/runs", json=body, headers=auth)
                assert r.status_code == 201, (framework, backend, r.text)
                runs[f"{framework}/{backend}"] = r.json()["id"]
        deadline = time.monotonic() + 300
        for key, run_id in runs.items():
            while True:
                run = requests.get(f"{api}/runs/{run_id}", headers=auth).json()
                if run["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            summary["runs"][key] = [run["status"], run.get("error_message")]
        space = requests.post(f"{api}/spaces", json={"name": "s", "title": "S", "sdk": "qiskit"}, headers=auth).json()
        requests.post(f"{api}/spaces/{space['id']}/files", json={
            "path": "main.py", "content": "from qiskit import QuantumCircuit\nprint(QuantumCircuit(2).num_qubits)\n",
            "encoding": "utf-8"}, headers=auth).raise_for_status()
        out = requests.post(f"{api}/spaces/{space['id']}/execute", json={"file_to_run": "main.py"}, headers=auth).json()
        summary["space"] = [out.get("status"), out.get("output", "").strip()]
        ds = requests.post(f"{api}/datasets", json={"name": "d", "title": "D", "format": "csv"}, headers=auth).json()
        requests.post(f"{api}/datasets/{ds['id']}/versions", files={"file": ("d.csv", b"a,b\n1,2\n3,4\n")},
                      headers=auth).raise_for_status()
        preview = requests.get(f"{api}/datasets/{ds['id']}/preview", headers=auth).json()
        summary["preview_rows"] = len(preview["rows"])
    finally:
        server.stop()
    return summary


if __name__ == "__main__":
    data_dir, hook_dir, log = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    import os

    env = {"PYTHONPATH": os.pathsep.join([hook_dir, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "QH_NET_LOG": log, "QUBITHUB_LITE_RUNS_PRESTART_WORKERS": "true"}
    print(json.dumps(main(data_dir, env)))

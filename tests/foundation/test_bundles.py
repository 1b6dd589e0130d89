"""`qubithub-lite export` / `import`: a teacher's course moved between two appliances."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest
import requests

from tests.conftest import start_server
from tests.foundation.test_backup import cli, register, write_tar
from tests.runs.helpers import QASM3, manifest


def make_course(api) -> dict:
    teacher = register(api, "teacher")
    org = requests.post(f"{api}/orgs", json={"name": "Physics 101", "slug": "phys101"}, headers=teacher).json()
    circuit = requests.post(f"{api}/circuits", json={
        "name": "x-gate", "title": "X gate", "framework": "openqasm3", "qubits": 2, "tags": ["intro"],
        "organization_name": "phys101"}, headers=teacher).json()
    files = [("files", ("circuit.qasm", QASM3.encode())),
             ("files", ("qubithub.toml", manifest("x-gate", "openqasm3", "circuit.qasm", 2,
                                                  'tags = ["intro"]\n[execution]\ndefault_shots = 100\n').encode()))]
    assert requests.post(f"{api}/circuits/{circuit['id']}/upload-batch", files=files, params={"commit_message": "v1"},
                         headers=teacher).status_code == 201
    assert requests.post(f"{api}/circuits/{circuit['id']}/upload", files={"file": ("README.md", b"# Lesson 1\n")},
                         params={"commit_message": "readme"}, headers=teacher).status_code == 201
    dataset = requests.post(f"{api}/datasets", json={"name": "counts", "title": "Counts", "format": "csv",
                                                     "organization_name": "phys101", "is_public": False},
                            headers=teacher).json()
    for rows in (2, 4):
        body = "k,v\n" + "".join(f"{i},{i}\n" for i in range(rows))
        assert requests.post(f"{api}/datasets/{dataset['id']}/versions", files={"file": ("c.csv", body.encode())},
                             headers=teacher).status_code == 201
    space = requests.post(f"{api}/spaces", json={"name": "playground", "title": "Playground", "sdk": "qiskit",
                                                 "organization_name": "phys101"}, headers=teacher).json()
    assert requests.post(f"{api}/spaces/{space['id']}/files", json={"path": "main.py", "content": "print(1)\n",
                                                                     "encoding": "utf-8"},
                         headers=teacher).status_code in (200, 201)
    # something that is not part of the course
    requests.post(f"{api}/circuits", json={"name": "private-notes", "title": "Mine", "framework": "qiskit"},
                  headers=teacher)
    return {"org": org, "circuit": circuit["id"]}


def tree(api, headers, circuit_id, version):
    listing = requests.get(f"{api}/circuits/{circuit_id}/files", params={"version": version}, headers=headers).json()
    files = listing["files"] if isinstance(listing, dict) else listing
    return {f.get("name") or f["path"]: f.get("sha256") for f in files}


def test_export_then_import_onto_another_box_twice(tmp_path):
    source = start_server(tmp_path / "teacher-box")
    try:
        make_course(source.api)
        bundle = tmp_path / "course.qhb"
        out = cli("export", "--org", "phys101", str(bundle), "--data-dir", str(source.data_dir))
        assert "1 circuit(s), 1 dataset(s), 1 space(s)" in out.stdout
    finally:
        source.stop()
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("bundle.json").read())
    assert names[0] == "bundle.json" and all(n.startswith("objects/") for n in names[1:])
    assert [v["message"] for v in meta["circuits"][0]["versions"]] == ["v1", "readme"]
    assert not any(c["name"] == "private-notes" for c in meta["circuits"])

    target = start_server(tmp_path / "classroom-box")
    try:
        admin = register(target.api, "teacher")
        requests.post(f"{target.api}/orgs", json={"name": "Physics", "slug": "phys101"}, headers=admin)
        out = cli("import", str(bundle), "--data-dir", str(target.data_dir))
        assert "3 created" in out.stdout, out.stdout
        found = requests.get(f"{target.api}/circuits/resolve", params={"repo_name": "phys101/x-gate"}, headers=admin)
        assert found.status_code == 200, found.text
        circuit = found.json()
        assert [v["commit_message"] for v in circuit["versions"]] == ["v1", "readme"]
        assert circuit["tags"] == ["intro"] and circuit["organization"]["slug"] == "phys101"
        files = tree(target.api, admin, circuit["id"], 2)
        assert {"circuit.qasm", "qubithub.toml", "README.md", "metadata.json"} <= set(files)
        datasets = requests.get(f"{target.api}/datasets", params={"limit": 100}, headers=admin).json()
        ds = next(d for d in datasets["datasets"] if d["name"] == "counts")
        assert ds["is_public"] is False
        preview = requests.get(f"{target.api}/datasets/{ds['id']}/preview", headers=admin).json()
        assert len(preview["rows"]) == 4
        # The imported circuit runs.
        run = requests.post(f"{target.api}/runs", json={"circuit_id": circuit["id"], "shots": 20}, headers=admin)
        assert run.status_code == 201, run.text

        again = cli("import", str(bundle), "--data-dir", str(target.data_dir))
        assert "3 unchanged" in again.stdout and "0 created" in again.stdout
        circuit_again = requests.get(f"{target.api}/circuits/{circuit['id']}", headers=admin).json()
        assert len(circuit_again["versions"]) == 2

        # Into another organization: everything lands there, the first copy untouched.
        requests.post(f"{target.api}/orgs", json={"name": "Physics B", "slug": "phys101-b"}, headers=admin)
        other = cli("import", str(bundle), "--as-org", "phys101-b", "--data-dir", str(target.data_dir))
        assert "3 created" in other.stdout
        assert requests.get(f"{target.api}/circuits/resolve", params={"repo_name": "phys101-b/x-gate"},
                            headers=admin).status_code == 200
    finally:
        target.stop()


def test_a_name_clash_is_reported_and_never_overwritten(tmp_path):
    source = start_server(tmp_path / "a")
    try:
        make_course(source.api)
        bundle = tmp_path / "course.qhb"
        cli("export", "--circuit", "phys101/x-gate", str(bundle), "--data-dir", str(source.data_dir))
    finally:
        source.stop()
    target = start_server(tmp_path / "b")
    try:
        student = register(target.api, "student")
        mine = requests.post(f"{target.api}/circuits", json={"name": "x-gate", "title": "My own", "framework": "qiskit"},
                             headers=student).json()
        assert requests.post(f"{target.api}/circuits/{mine['id']}/upload", files={"file": ("README.md", b"mine")},
                             headers=student).status_code == 201
        proc = cli("import", str(bundle), "--as-user", "student", "--data-dir", str(target.data_dir), ok=False)
        assert proc.returncode != 0 and "clash" in proc.stdout
        after = requests.get(f"{target.api}/circuits/{mine['id']}", headers=student).json()
        assert after["title"] == "My own" and len(after["versions"]) == 1
        # An unknown owner is a clear error, not a crash.
        proc = cli("import", str(bundle), "--data-dir", str(target.data_dir), ok=False)
        assert proc.returncode != 0 and "no organization 'phys101' here" in proc.stdout
    finally:
        target.stop()


def _crafted(tmp_path, manifest_obj, objects: dict[str, bytes]):
    return write_tar(tmp_path / "crafted.qhb", ("bundle.json", manifest_obj), objects)


@pytest.mark.parametrize("case", ["traversal", "damaged", "missing", "bad-manifest"])
def test_import_refuses_crafted_bundles(tmp_path, case):
    data = tmp_path / "box"
    server = start_server(data)
    server.stop()
    body = b"OPENQASM 3.0;\n"
    sha = hashlib.sha256(body).hexdigest()
    circuit = {"owner": "x", "name": "c", "title": "C", "framework": "openqasm3",
               "versions": [{"number": 1, "changed": [{"path": "circuit.qasm", "sha256": sha, "size": len(body)}]}]}
    good = {"format": "qubithub-lite-bundle", "format_version": 1, "circuits": [circuit]}
    objects = {
        "traversal": {"../../evil": body},
        "damaged": {f"objects/{sha}": b"something else"},
        "missing": {},
        "bad-manifest": {f"objects/{sha}": body},
    }[case]
    manifest_obj = dict(good, circuits=[dict(circuit, name="../../x" * 40)]) if case == "bad-manifest" else good
    path = _crafted(tmp_path, manifest_obj, objects)
    proc = cli("import", str(path), "--data-dir", str(data), ok=False)
    assert proc.returncode != 0
    assert {"traversal": "not a bundle member", "damaged": "damaged", "missing": "lacks",
            "bad-manifest": "bundle.json"}[case] in proc.stderr
    assert not (tmp_path / "evil").exists()

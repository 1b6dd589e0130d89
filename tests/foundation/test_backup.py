"""`qubithub-lite backup` / `restore` / `backup --verify` against a live server's data dir."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import tarfile
import threading
import time

import pytest
import requests

from tests.conftest import CLI_CMD, PASSWORD, start_server
from tests.pg import pgtest
from tests.runs.helpers import QASM3, manifest

CLI_ENV_DROP = ("QUBITHUB_LITE_",)


#: Commands that work on the SQLite file itself (PostgreSQL is backed up with its own tools).
SQLITE_FILE_COMMANDS = ("backup", "restore", "verify")
SQLITE_BACKUP = pytest.mark.sqlite_only(reason="the archive snapshots the SQLite file; PostgreSQL: pg_dump")


def cli(*args, env=None, ok=True):
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(CLI_ENV_DROP)}
    full_env.update({"QUBITHUB_LITE_LOGGING_LEVEL": "error"})
    if "--data-dir" in args and args[0] not in SQLITE_FILE_COMMANDS:  # PostgreSQL: the data dir's database
        full_env.update(pgtest.cli_env(args[list(args).index("--data-dir") + 1]))
    full_env.update(env or {})
    proc = subprocess.run([*CLI_CMD, *args], capture_output=True, text=True,
                          env=full_env, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def register(api, username):
    resp = requests.post(f"{api}/auth/register", json={
        "email": f"{username}@example.org", "username": username, "password": PASSWORD, "name": username.title()})
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def populate(api) -> dict:
    """Two users, an org with a member, a circuit with two versions and a completed run, a star,
    a dataset with two versions, a space with a file, an API key."""
    alice, bob = register(api, "alice"), register(api, "bob")
    org = requests.post(f"{api}/orgs", json={"name": "Lab", "slug": "lab"}, headers=alice).json()
    assert requests.post(f"{api}/orgs/{org['id']}/members", json={"email": "bob@example.org"},
                         headers=alice).status_code == 201
    circuit = requests.post(f"{api}/circuits", json={"name": "x-gate", "title": "X", "framework": "openqasm3",
                                                     "qubits": 2, "tags": ["backup"]}, headers=alice).json()
    files = [("files", ("circuit.qasm", QASM3.encode())),
             ("files", ("qubithub.toml", manifest("x-gate", "openqasm3", "circuit.qasm", 2).encode()))]
    assert requests.post(f"{api}/circuits/{circuit['id']}/upload-batch", files=files, headers=alice).status_code == 201
    assert requests.post(f"{api}/circuits/{circuit['id']}/upload", files={"file": ("README.md", b"# X gate\n")},
                         headers=alice).status_code == 201
    run = requests.post(f"{api}/runs", json={"circuit_id": circuit["id"], "backend_name": "qiskit_aer",
                                             "shots": 64}, headers=alice).json()
    deadline = time.monotonic() + 120
    while requests.get(f"{api}/runs/{run['id']}", headers=alice).json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert requests.post(f"{api}/circuits/{circuit['id']}/star", headers=bob).status_code in (200, 201)
    dataset = requests.post(f"{api}/datasets", json={"name": "angles", "title": "Angles", "format": "csv"},
                            headers=alice).json()
    for rows in (3, 5):
        body = "a,b\n" + "".join(f"{i},{i * i}\n" for i in range(rows))
        assert requests.post(f"{api}/datasets/{dataset['id']}/versions", files={"file": ("d.csv", body.encode())},
                             headers=alice).status_code == 201
    space = requests.post(f"{api}/spaces", json={"name": "demo", "title": "Demo", "sdk": "qiskit"},
                          headers=bob)
    assert space.status_code == 201, space.text
    assert requests.post(f"{api}/spaces/{space.json()['id']}/files",
                         json={"path": "app.py", "content": "print('hi')\n", "encoding": "utf-8"},
                         headers=bob).status_code in (200, 201)
    key = requests.post(f"{api}/api-keys", json={"name": "ci", "scopes": ["circuit:read"]}, headers=alice)
    assert key.status_code == 201, key.text
    return {"circuit": circuit["id"], "run": run["id"], "dataset": dataset["id"], "key": key.json()["key"]}


def dump(db_path) -> dict[str, list]:
    """Every row of every table, sorted (what a round trip must keep)."""
    conn = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    finally:
        conn.close()


def object_hashes(data_dir) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (data_dir / "blobs" / "objects").glob("*/*/*")}


@SQLITE_BACKUP
def test_backup_while_serving_then_restore_loses_nothing(tmp_path):
    server = start_server(tmp_path / "live")
    try:
        ids = populate(server.api)
        archive = tmp_path / "out" / "hub.tar.gz"
        out = cli("backup", str(archive), "--data-dir", str(server.data_dir))
        assert "wrote" in out.stdout and archive.is_file()
        # The server kept serving: a read right after the backup works.
        assert requests.get(f"{server.api}/health").status_code == 200
        before = dump(server.data_dir / "qubithub.db")
    finally:
        server.stop()
    verified = cli("backup", "--verify", str(archive))
    assert "ok" in verified.stdout
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json" and "qubithub.db" in names and "secret.key" not in names

    restored = tmp_path / "restored"
    out = cli("restore", str(archive), "--data-dir", str(restored))
    assert "restored" in out.stdout and "signing secret" in out.stdout
    assert dump(restored / "qubithub.db") == before
    live_objects = object_hashes(server.data_dir)
    assert object_hashes(restored) == live_objects and all(k == v for k, v in live_objects.items())

    again = start_server(restored)
    try:
        api = again.api
        login = requests.post(f"{api}/auth/login", json={"identifier": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        circuit = requests.get(f"{api}/circuits/{ids['circuit']}", headers=headers).json()
        assert [v["version_number"] for v in circuit["versions"]] == [1, 2] and circuit["stars_count"] == 1
        listing = requests.get(f"{api}/circuits/{ids['circuit']}/files", headers=headers).json()
        readme_path = next(f["path"] for f in (listing["files"] if isinstance(listing, dict) else listing)
                           if f["path"].endswith("README.md"))
        readme = requests.get(f"{api}/files/{readme_path}", headers=headers)
        assert readme.status_code == 200 and "X gate" in readme.text
        run = requests.get(f"{api}/runs/{ids['run']}", headers=headers).json()
        assert run["status"] == "completed" and run["results"]["counts"] == {"01": 64}
        preview = requests.get(f"{api}/datasets/{ids['dataset']}/preview", headers=headers).json()
        assert len(preview["rows"]) == 5
        members = requests.get(f"{api}/orgs/lab/profile").json()
        assert members["member_count"] == 2
        # API keys are stored hashed: they survive a restore without the signing secret.
        assert requests.get(f"{api}/circuits/{ids['circuit']}", headers={"X-API-Key": ids["key"]}).status_code == 200
    finally:
        again.stop()


@SQLITE_BACKUP
def test_backup_is_consistent_under_concurrent_writes(tmp_path):
    server = start_server(tmp_path / "live")
    stop = threading.Event()
    errors: list[str] = []
    try:
        headers = register(server.api, "writer")
        ds = requests.post(f"{server.api}/datasets", json={"name": "w", "title": "W", "format": "csv"},
                           headers=headers).json()

        def write():
            i = 0
            while not stop.is_set() and i < 200:
                body = f"n\n{i}\n".encode()
                resp = requests.post(f"{server.api}/datasets/{ds['id']}/versions", files={"file": ("d.csv", body)},
                                     headers=headers)
                if resp.status_code != 201:
                    errors.append(resp.text)
                i += 1

        writer = threading.Thread(target=write)
        writer.start()
        archive = tmp_path / "hub.tar"
        try:
            time.sleep(0.3)
            cli("backup", str(archive), "--data-dir", str(server.data_dir))
        finally:
            stop.set()
            writer.join()
    finally:
        server.stop()
    assert not errors
    restored = tmp_path / "restored"
    cli("restore", str(archive), "--data-dir", str(restored))
    conn = sqlite3.connect(restored / "qubithub.db")
    versions = conn.execute("SELECT COUNT(*) FROM dataset_version").fetchone()[0]
    referenced = [r[0] for r in conn.execute("SELECT sha256 FROM blob WHERE ref_count > 0")]
    conn.close()
    assert versions >= 1
    for sha in referenced:  # every object the restored database references is there, intact
        path = restored / "blobs" / "objects" / sha[:2] / sha[2:4] / sha
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def write_tar(path, first: tuple[str, dict], members: dict[str, bytes]):
    """A tar whose first member is the JSON ``first`` (a manifest), then ``members`` as given."""
    with tarfile.open(path, "w") as tar:
        for name, body in [(first[0], json.dumps(first[1]).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def _archive(tmp_path, members: dict[str, bytes], manifest: dict | None = None):
    entries = [{"path": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in members.items()]
    manifest = manifest or {"format": "qubithub-lite-backup", "format_version": 1, "schema_version": 1,
                            "files": entries}
    return write_tar(tmp_path / "crafted.tar", ("manifest.json", manifest), members)


@pytest.mark.parametrize("name", ["../escape", "/etc/evil", "blobs/objects/aa/bb/not-a-sha", "qubithub.db/../../x"])
def test_restore_refuses_crafted_member_names(tmp_path, name):
    path = _archive(tmp_path, {"qubithub.db": b"x", name: b"evil"})
    proc = cli("restore", str(path), "--data-dir", str(tmp_path / "r"), ok=False)
    assert proc.returncode != 0 and "unexpected" in proc.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "escape").exists()


def test_verify_detects_a_damaged_archive_and_restore_writes_nothing(tmp_path):
    body = b"not the content the manifest hashed"
    manifest = {"format": "qubithub-lite-backup", "format_version": 1, "schema_version": 1,
                "files": [{"path": "qubithub.db", "size": len(body), "sha256": "0" * 64}]}
    path = _archive(tmp_path, {"qubithub.db": body}, manifest)
    proc = cli("backup", "--verify", str(path), ok=False)
    assert proc.returncode != 0 and "sha256" in proc.stderr
    proc = cli("restore", str(path), "--data-dir", str(tmp_path / "r"), ok=False)
    assert proc.returncode != 0 and not (tmp_path / "r").exists()


def test_restore_needs_an_empty_data_dir_and_backup_an_existing_one(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "qubithub.db").write_bytes(b"precious")
    path = _archive(tmp_path, {"qubithub.db": b"x"})
    proc = cli("restore", str(path), "--data-dir", str(tmp_path / "full"), ok=False)
    assert proc.returncode != 0 and "not empty" in proc.stderr
    assert (tmp_path / "full" / "qubithub.db").read_bytes() == b"precious"
    proc = cli("backup", str(tmp_path / "b.tar"), "--data-dir", str(tmp_path / "nothing-here"), ok=False)
    assert proc.returncode != 0 and "no data dir" in proc.stderr and not (tmp_path / "nothing-here").exists()


@SQLITE_BACKUP
def test_include_secret(tmp_path):
    server = start_server(tmp_path / "live")
    try:
        register(server.api, "alice")
    finally:
        server.stop()
    archive = tmp_path / "with-secret.tar"
    cli("backup", str(archive), "--data-dir", str(server.data_dir), "--include-secret")
    restored = tmp_path / "r"
    cli("restore", str(archive), "--data-dir", str(restored))
    assert (restored / "secret.key").read_bytes() == (server.data_dir / "secret.key").read_bytes()

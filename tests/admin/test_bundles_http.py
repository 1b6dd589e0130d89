"""Course bundles over HTTP (GET /admin/export, POST /admin/import): a round trip between two
live servers, site administrators only (404 for anyone else), and crafted bundles refused with
a 400 before anything is stored."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time

import pytest
import requests

from tests.conftest import start_server
from tests.foundation.test_backup import cli, register
from tests.foundation.test_bundles import make_course, tree


def _promote(server, username: str) -> None:
    """From the command line, as a lab manager does; the server sees it once its short cache of
    active users (USER_CACHE_SECONDS) has expired."""
    from qubithub_lite.services.accounts import Accounts

    cli("users", "promote", username, "--data-dir", str(server.data_dir))
    time.sleep(Accounts.USER_CACHE_SECONDS + 0.2)


def test_export_and_import_over_http_between_two_live_servers(tmp_path):
    source = start_server(tmp_path / "teacher-box")
    try:
        course = make_course(source.api)
        student = register(source.api, "student")
        _promote(source, "teacher")
        teacher = _login(source.api, "teacher")
        # Anyone but a site administrator: the routes do not exist.
        assert requests.get(f"{source.url}/admin/export", params={"org": "phys101"}, headers=student).status_code == 404
        assert requests.get(f"{source.url}/admin/export", params={"org": "phys101"}).status_code == 401
        assert requests.post(f"{source.url}/admin/import", files={"file": ("b.tar", b"x")}, headers=student).status_code == 404
        bad = requests.get(f"{source.url}/admin/export", params={"org": "nope"}, headers=teacher)
        assert bad.status_code == 400 and "nope" in bad.json()["detail"]
        assert requests.get(f"{source.url}/admin/export", headers=teacher).status_code == 400  # nothing selected
        with requests.get(f"{source.url}/admin/export", params={"org": "phys101"}, headers=teacher, stream=True) as resp:
            assert resp.status_code == 200, resp.text
            assert resp.headers["Content-Type"] == "application/x-tar"
            assert resp.headers.get("Transfer-Encoding") == "chunked"  # streamed, not buffered whole
            assert "attachment" in resp.headers["Content-Disposition"]
            bundle = b"".join(resp.iter_content(65536))
    finally:
        source.stop()
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("bundle.json").read())
        for name in names[1:]:
            assert hashlib.sha256(tar.extractfile(name).read()).hexdigest() == name.split("/")[1]
    assert names[0] == "bundle.json" and len(names) > 1
    assert [c["name"] for c in meta["circuits"]] == ["x-gate"] and len(meta["datasets"]) == 1 and len(meta["spaces"]) == 1

    target = start_server(tmp_path / "classroom-box")
    try:
        register(target.api, "teacher")
        _promote(target, "teacher")
        admin = _login(target.api, "teacher")
        requests.post(f"{target.api}/orgs", json={"name": "Physics", "slug": "phys101"}, headers=admin)
        resp = requests.post(f"{target.url}/admin/import", files={"file": ("course.tar", bundle)}, headers=admin)
        assert resp.status_code == 200, resp.text
        report = resp.json()
        assert (report["created"], report["clash"], report["error"], report["ok"]) == (3, 0, 0, True)
        assert {(o["kind"], o["name"]) for o in report["outcomes"]} == {
            ("circuit", "phys101/x-gate"), ("dataset", "phys101/counts"), ("space", "phys101/playground")}
        circuit = requests.get(f"{target.api}/circuits/resolve", params={"repo_name": "phys101/x-gate"}, headers=admin).json()
        assert [v["commit_message"] for v in circuit["versions"]] == ["v1", "readme"]
        assert {"circuit.qasm", "qubithub.toml", "README.md"} <= set(tree(target.api, admin, circuit["id"], 2))
        again = requests.post(f"{target.url}/api/admin/import", files={"file": ("course.tar", bundle)}, headers=admin).json()
        assert (again["created"], again["unchanged"]) == (0, 3)
        # as_org: everything into another organization.
        requests.post(f"{target.api}/orgs", json={"name": "Physics B", "slug": "phys101-b"}, headers=admin)
        other = requests.post(f"{target.url}/admin/import", params={"as_org": "phys101-b"},
                              files={"file": ("course.tar", bundle)}, headers=admin).json()
        assert other["created"] == 3 and all(o["name"].startswith("phys101-b/") for o in other["outcomes"])
        both = requests.post(f"{target.url}/admin/import", params={"as_org": "a", "as_user": "b"},
                             files={"file": ("course.tar", bundle)}, headers=admin)
        assert both.status_code == 400
        assert not list(target.data_dir.glob(".bundle-import-*"))  # the scratch space is gone
        assert course["org"]["slug"] == "phys101"
    finally:
        target.stop()


def _login(api, username):
    from tests.conftest import PASSWORD

    resp = requests.post(f"{api}/auth/login", json={"identifier": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


# In process: crafted bundles ---------------------------------------------------------------
@pytest.fixture
async def admin(hub, make_user):
    teacher = await make_user("teacher")
    await hub.user_admin.set_admin("teacher", True)
    return teacher


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _manifest(sha: str, size: int) -> bytes:
    return json.dumps({"format": "qubithub-lite-bundle", "format_version": 1, "circuits": [{
        "owner": "teacher", "name": "evil", "title": "Evil", "framework": "openqasm3", "qubits": 1,
        "versions": [{"number": 1, "message": "v1", "changed": [{"path": "main.qasm", "sha256": sha, "size": size}]}],
    }]}).encode()


async def _post(client, user, data: bytes):
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", data, filename="b.tar", content_type="application/x-tar")
    return await client.post("/admin/import", data=form, headers=user.headers)


async def test_crafted_bundles_are_refused_and_nothing_is_stored(client, hub, settings, admin, alice):
    good = b'OPENQASM 3.0;\nqubit[1] q;\n'
    sha = hashlib.sha256(good).hexdigest()
    crafted = {
        "path traversal": _tar([("bundle.json", _manifest(sha, len(good))), ("../../escape", good)]),
        "traversal in objects": _tar([("bundle.json", _manifest(sha, len(good))), (f"objects/../{sha}", good)]),
        "damaged object": _tar([("bundle.json", _manifest(sha, len(good))), (f"objects/{sha}", good + b"x")]),
        "missing object": _tar([("bundle.json", _manifest(sha, len(good)))]),
        "manifest not first": _tar([(f"objects/{sha}", good), ("bundle.json", _manifest(sha, len(good)))]),
        "bad manifest": _tar([("bundle.json", b'{"format": "other"}')]),
        "not a tar": b"\x00garbage" * 100,
    }
    for what, data in crafted.items():
        resp = await _post(client, admin, data)
        assert resp.status == 400, (what, await resp.text())
        assert (await resp.json())["detail"].startswith("bundle:"), what
    circuits = await (await client.get("/circuits", params={"owner": "teacher"}, headers=admin.headers)).json()
    assert circuits["total"] == 0
    assert not (settings.data_dir.parent / "escape").exists() and not (settings.data_dir / "escape").exists()
    assert not list(settings.data_dir.glob(".bundle-import-*"))
    # A sound bundle of the same shape is imported (the refusals above were for their flaws).
    resp = await _post(client, admin, _tar([("bundle.json", _manifest(sha, len(good))), (f"objects/{sha}", good)]))
    assert resp.status == 200, await resp.text()
    assert [(o["name"], o["result"]) for o in (await resp.json())["outcomes"]] == [("teacher/evil", "created")]
    # Not an admin: 404; no file field: 400.
    assert (await _post(client, alice, b"x")).status == 404
    assert (await client.get("/admin/export?user=teacher", headers=alice.headers)).status == 404
    empty = await client.post("/admin/import", data={"other": "x"}, headers=admin.headers)
    assert empty.status == 400

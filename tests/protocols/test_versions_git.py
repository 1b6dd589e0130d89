"""The version API's git commits and `files?ref=` (in-process app, real SQLite and blob store)."""

from __future__ import annotations

import hashlib

from qubithub_lite.services.git_objects import build_trees, object_id
from tests.circuits.helpers import CIRCUIT_PY, MANIFEST, create, upload, upload_batch


def test_trees_are_canonical_git_trees():
    blob = object_id("blob", b"x = 1\n")
    assert blob == hashlib.sha1(b"blob 6\0x = 1\n").hexdigest()
    root, trees = build_trees({"a.py": blob, "lib/b.py": blob, "lib-x.py": blob})
    # git sorts a folder as if its name ended with "/": "lib-x.py" < "lib/"
    top = next(data for kind, data in trees if object_id(kind, data) == root)
    names = [part.split(b" ", 1)[1] for part in top.split(b"\0")[:-1] if b" " in part]
    assert names[0] == b"a.py" and names[1:] == [b"lib-x.py", b"lib"]
    assert build_trees({})[0] == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree


async def test_versions_show_git_commits_and_files_accept_a_ref(client, alice):
    c = await create(client, alice)
    await upload_batch(client, alice, c["id"], [("circuit.py", CIRCUIT_PY), ("qubithub.toml", MANIFEST),
                                                (".gitignore", b"*.pyc\n")], message="one")
    second = await upload(client, alice, c["id"], "notes/README.md", b"# notes\n", message="two")
    assert len(second["version"]["git_commit"]) == 40
    refused = await upload(client, alice, c["id"], ".env", b"SECRET=1\n", expect=400)
    assert "hidden" in refused["detail"]
    detail = await (await client.get(f"/circuits/{c['id']}")).json()
    shas = [v["git_commit"] for v in detail["versions"]]
    assert len(set(shas)) == 2 and shas[1] == second["version"]["git_commit"]
    again = await (await client.get(f"/circuits/{c['id']}")).json()
    assert [v["git_commit"] for v in again["versions"]] == shas  # built once, stored

    for ref, number in ((shas[0], 1), (shas[0][:8], 1), (shas[1].upper(), 2), ("main", 2), ("1", 1), ("v2", 2)):
        resp = await client.get(f"/circuits/{c['id']}/files", params={"ref": ref})
        body = await resp.json()
        assert resp.status == 200 and body["version_number"] == number, (ref, body)
    names = {f["name"] for f in (await (await client.get(f"/circuits/{c['id']}/files",
                                                         params={"ref": shas[0]})).json())["files"]}
    assert names == {"circuit.py", "qubithub.toml", ".gitignore", "metadata.json"}
    assert (await client.get(f"/circuits/{c['id']}/files", params={"ref": "f" * 40})).status == 404
    assert (await client.get(f"/circuits/{c['id']}/files", params={"ref": "not a sha"})).status == 400
    assert (await client.get(f"/circuits/{c['id']}/files", params={"ref": "a" * 41})).status == 400

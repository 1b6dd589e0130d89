"""Organization keys stay in their organization on the protocol surfaces too (git smart HTTP,
the Hugging Face–compatible /hf routes), as on the JSON API."""

from __future__ import annotations

import requests

from tests.protocols.helpers import CIRCUIT, MANIFEST, Api, git, git_env
from tests.protocols.test_hf import CSV1, dataset


def _org_key(api: Api, slug: str, *scopes: str) -> str:
    org = api.post("/orgs", json={"name": slug.title(), "slug": slug}).json()
    resp = api.post(f"/orgs/{org['id']}/keys", json={"name": "lab", "scopes": list(scopes)})
    assert resp.status_code == 201, resp.text
    return resp.json()["key"]


def test_an_org_key_cannot_clone_or_download_its_creators_private_things(live_server, tmp_path):
    alice = Api(live_server, "alice")
    alice.circuit("diary", {"circuit.py": CIRCUIT, "qubithub.toml": MANIFEST.format(name="diary")}, is_public=False)
    dataset(alice, "grades", "csv", [("d.csv", CSV1.encode())], is_public=False)
    key = _org_key(alice, "lab", "circuit:read", "dataset:read")
    personal = alice.api_key("circuit:read", "dataset:read")
    env = git_env(tmp_path / "home")
    origin = live_server.url.replace("http://", "")

    # Her personal key clones her private circuit; the lab's key does not even see it.
    ok = git(env, "clone", f"http://x-access-token:{personal}@{origin}/alice/diary.git", str(tmp_path / "a"))
    assert ok.returncode == 0 and (tmp_path / "a" / "circuit.py").exists()
    refused = git(env, "clone", f"http://x-access-token:{key}@{origin}/alice/diary.git", str(tmp_path / "b"), ok=False)
    assert refused.returncode != 0 and not (tmp_path / "b" / "circuit.py").exists()
    probe = requests.get(f"{live_server.url}/alice/diary.git/info/refs", params={"service": "git-upload-pack"},
                         auth=("x-access-token", key))
    assert probe.status_code == 404

    hf = f"{live_server.url}/hf/api/datasets/alice/grades"
    assert requests.get(hf, headers={"Authorization": f"Bearer {personal}"}).status_code == 200
    assert requests.get(hf, headers={"Authorization": f"Bearer {key}"}).status_code == 404
    resolve = f"{live_server.url}/hf/datasets/alice/grades/resolve/main/d.csv"
    assert requests.get(resolve, headers={"Authorization": f"Bearer {key}"}).status_code == 404

"""The Hugging Face Hub–compatible surface (/hf) with the real huggingface_hub and datasets clients."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.protocols.helpers import CIRCUIT, MANIFEST, Api

hf = pytest.importorskip("huggingface_hub")

CSV1 = "bond_distance,energy\n0.5,-1.05\n0.7,-1.13\n"
CSV2 = CSV1 + "0.9,-1.12\n1.1,-1.08\n"


def dataset(api: Api, name: str, fmt: str, files: list[tuple[str, bytes]], *, is_public=True) -> dict:
    resp = api.post("/datasets", json={"name": name, "title": name, "format": fmt, "is_public": is_public})
    assert resp.status_code == 201, resp.text
    d = resp.json()
    for i, (file_name, content) in enumerate(files, 1):
        up = api.post(f"/datasets/{d['id']}/versions", files={"file": (file_name, content)},
                      params={"commit_message": f"v{i}"})
        assert up.status_code == 201, up.text
    return d


def parquet(rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"bond_distance": [0.5 + i / 10 for i in range(rows)],
                             "energy": [-1.1 + i / 100 for i in range(rows)]}), buf)
    return buf.getvalue()


def test_snapshot_download_hf_hub_download_and_revisions(live_server, tmp_path):
    alice = Api(live_server, "alice")
    d = dataset(alice, "h2-energy", "csv", [("energies.csv", CSV1.encode()), ("energies.csv", CSV2.encode())])
    endpoint = f"{live_server.url}/hf"
    cache = tmp_path / "hf-cache"

    folder = Path(hf.snapshot_download(repo_id="alice/h2-energy", repo_type="dataset", endpoint=endpoint,
                                       cache_dir=cache, token=False))
    assert sorted(p.name for p in folder.iterdir()) == ["energies.csv"]
    assert (folder / "energies.csv").read_text() == CSV2

    api = hf.HfApi(endpoint=endpoint, token=False)
    info = api.dataset_info("alice/h2-energy")
    v1 = api.dataset_info("alice/h2-energy", revision="1")
    assert info.sha != v1.sha and len(v1.sha) == 40 and info.private is False
    assert [s.rfilename for s in info.siblings] == ["energies.csv"]
    assert api.dataset_info("alice/h2-energy", revision=v1.sha[:10]).sha == v1.sha
    old = Path(hf.snapshot_download(repo_id="alice/h2-energy", repo_type="dataset", revision=v1.sha,
                                    endpoint=endpoint, cache_dir=cache, token=False))
    assert (old / "energies.csv").read_text() == CSV1
    with pytest.raises(hf.errors.RevisionNotFoundError):
        api.dataset_info("alice/h2-energy", revision="7")

    before = alice.get(f"/datasets/{d['id']}").json()["downloads_count"]
    path = hf.hf_hub_download(repo_id="alice/h2-energy", filename="energies.csv", repo_type="dataset",
                              revision="v1", endpoint=endpoint, cache_dir=tmp_path / "other-cache", token=False)
    assert Path(path).read_text() == CSV1
    with pytest.raises(hf.errors.EntryNotFoundError):
        hf.hf_hub_download(repo_id="alice/h2-energy", filename="nope.csv", repo_type="dataset", endpoint=endpoint,
                           cache_dir=cache, token=False)
    assert alice.get(f"/datasets/{d['id']}").json()["downloads_count"] > before

    # resolve: HEAD, ETag, X-Repo-Commit, Range
    url = f"{endpoint}/datasets/alice/h2-energy/resolve/main/energies.csv"
    head = requests.head(url)
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == info.sha
    assert int(head.headers["Content-Length"]) == len(CSV2) and head.headers["ETag"].strip('"')
    part = requests.get(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.text == CSV2[:10]
    assert requests.get(url, headers={"If-None-Match": head.headers["ETag"]}).status_code == 304


def test_private_repos_need_a_token_and_circuits_are_models(live_server, tmp_path):
    alice, bob = Api(live_server, "alice"), Api(live_server, "bob")
    dataset(alice, "secret-data", "csv", [("d.csv", CSV1.encode())], is_public=False)
    c = alice.circuit("bell", {"circuit.py": CIRCUIT, "qubithub.toml": MANIFEST.format(name="bell"),
                               "lib/a/x.py": "a = 1\n", "lib/b.py": "b = 2\n", "data/a b#c.json": "[1]"})
    alice.upload(c["id"], {"lib/a/y.py": "y = 3\n"}, "more")
    endpoint = f"{live_server.url}/hf"

    anonymous = hf.HfApi(endpoint=endpoint, token=False)
    with pytest.raises(hf.errors.RepositoryNotFoundError):
        anonymous.dataset_info("alice/secret-data")
    with pytest.raises(hf.errors.RepositoryNotFoundError):
        anonymous.dataset_info("alice/no-such-data")
    hidden, missing = (requests.get(f"{endpoint}/api/datasets/alice/{n}") for n in ("secret-data", "no-such-data"))
    assert hidden.status_code == missing.status_code == 401 and hidden.json() == {
        "detail": hidden.json()["detail"]} and hidden.text.replace("secret-data", "x") == missing.text.replace(
        "no-such-data", "x")
    with pytest.raises(hf.errors.RepositoryNotFoundError):
        hf.HfApi(endpoint=endpoint, token=bob.token).dataset_info("alice/secret-data")
    key = alice.api_key("dataset:read")
    path = hf.hf_hub_download(repo_id="alice/secret-data", filename="d.csv", repo_type="dataset",
                              endpoint=endpoint, cache_dir=tmp_path / "c1", token=key)
    assert Path(path).read_text() == CSV1
    assert requests.get(f"{endpoint}/api/datasets/alice/secret-data", headers={
        "Authorization": f"Bearer {alice.api_key('circuit:read')}"}).status_code == 403

    # circuits are models: revisions are git commits or version numbers
    versions = alice.detail(c["id"])["versions"]
    info = anonymous.model_info("alice/bell")
    assert info.sha == versions[-1]["git_commit"]
    first = Path(hf.snapshot_download(repo_id="alice/bell", revision=versions[0]["git_commit"], endpoint=endpoint,
                                      cache_dir=tmp_path / "c2", token=False))
    assert (first / "circuit.py").read_text() == CIRCUIT and not (first / "lib" / "a" / "y.py").exists()
    latest = Path(hf.snapshot_download(repo_id="alice/bell", endpoint=endpoint, cache_dir=tmp_path / "c2",
                                       token=False))
    assert (latest / "lib" / "a" / "y.py").read_text() == "y = 3\n"
    assert json.loads((latest / "metadata.json").read_text())["name"] == "bell"

    # tree listing: recursive, paginated page by page (Link rel=next), never truncated
    full = sorted(f.path for f in anonymous.list_repo_tree("alice/bell", recursive=True))
    assert full == ["circuit.py", "data", "data/a b#c.json", "lib", "lib/a", "lib/a/x.py", "lib/a/y.py", "lib/b.py",
                    "metadata.json", "qubithub.toml"]
    odd = hf.hf_hub_download(repo_id="alice/bell", filename="data/a b#c.json", endpoint=endpoint,
                             cache_dir=tmp_path / "c3", token=False)
    assert Path(odd).read_text() == "[1]"
    assert sorted(f.path for f in anonymous.list_repo_tree("alice/bell", path_in_repo="lib/a")) == [
        "lib/a/x.py", "lib/a/y.py"]
    paged, url = [], f"{endpoint}/api/models/alice/bell/tree/main?recursive=true&limit=3"
    while url:
        resp = requests.get(url)
        assert resp.status_code == 200 and len(resp.json()) <= 3
        paged += [e["path"] for e in resp.json()]
        url = resp.links.get("next", {}).get("url")
    assert sorted(paged) == full
    top = sorted(f.path for f in anonymous.list_repo_tree("alice/bell", path_in_repo="lib"))
    assert top == ["lib/a", "lib/b.py"]
    with pytest.raises(hf.errors.EntryNotFoundError):
        list(anonymous.list_repo_tree("alice/bell", path_in_repo="nope"))
    assert requests.get(f"{endpoint}/api/models/alice/bell/tree/main?limit=0").status_code == 400


DATASETS_SCRIPT = """
import json, sys
from datasets import load_dataset
out = {}
for repo in sys.argv[1:]:
    ds = load_dataset(repo)
    out[repo] = ds["train"].to_list()
print(json.dumps(out))
"""


def test_datasets_load_dataset_csv_and_parquet(live_server, tmp_path):
    pytest.importorskip("datasets")
    alice = Api(live_server, "alice")
    dataset(alice, "h2-energy", "csv", [("energies.csv", CSV2.encode())])
    dataset(alice, "h2-parquet", "parquet", [("energies.parquet", parquet(4))])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=f"{live_server.url}/hf", HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_DATASETS_CACHE=str(tmp_path / "ds-cache"))
    proc = subprocess.run([sys.executable, "-c", DATASETS_SCRIPT, "alice/h2-energy", "alice/h2-parquet"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rows["alice/h2-energy"] == [{"bond_distance": 0.5, "energy": -1.05}, {"bond_distance": 0.7, "energy": -1.13},
                                       {"bond_distance": 0.9, "energy": -1.12}, {"bond_distance": 1.1, "energy": -1.08}]
    assert [round(r["bond_distance"], 2) for r in rows["alice/h2-parquet"]] == [0.5, 0.6, 0.7, 0.8]


def test_spaces_read_as_hub_spaces(live_server, tmp_path):
    alice = Api(live_server, "alice")
    resp = alice.post("/spaces", json={"name": "demo", "title": "Demo", "sdk": "qiskit"})
    assert resp.status_code == 201, resp.text
    space = resp.json()
    for path, content in (("app.py", "print('hi')\n"), ("pages/more.py", "x = 2\n")):
        up = alice.post(f"/spaces/{space['id']}/files", json={"path": path, "content": content})
        assert up.status_code == 201, up.text
    endpoint = f"{live_server.url}/hf"
    api = hf.HfApi(endpoint=endpoint, token=False)
    info = api.space_info("alice/demo")
    assert info.sdk == "qiskit" and sorted(s.rfilename for s in info.siblings) == ["app.py", "pages/more.py"]
    folder = Path(hf.snapshot_download(repo_id="alice/demo", repo_type="space", endpoint=endpoint,
                                       cache_dir=tmp_path / "c", token=False))
    assert (folder / "pages" / "more.py").read_text() == "x = 2\n"
    assert api.space_info("alice/demo", revision=info.sha).sha == info.sha
    with pytest.raises(hf.errors.RevisionNotFoundError):
        api.space_info("alice/demo", revision="1")

"""The API reference's "Work with datasets" Python example against a real server,
with only BASE_URL (and the placeholder token) changed."""

from __future__ import annotations

import requests

from tests.conftest import PASSWORD


def test_work_with_datasets_example(live_server, tmp_path, monkeypatch, capsys):
    reg = requests.post(f"{live_server.url}/auth/register", json={
        "email": "alice@example.com", "username": "alice-q", "password": PASSWORD, "name": "Alice Quantum"})
    assert reg.status_code == 201, reg.text
    access_token = reg.json()["access_token"]
    monkeypatch.chdir(tmp_path)
    rows = ["bond_distance,energy"] + [f"{0.3 + i * 0.0002:.4f},{-1.1 + i * 1e-5:.6f}" for i in range(10_000)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")

    # ---- the reference example, verbatim except BASE_URL and the token ----
    BASE_URL = live_server.url
    headers = {"Authorization": f"Bearer {access_token}"}
    # Create a dataset
    dataset = requests.post(f"{BASE_URL}/datasets", headers=headers, json={
        "name": "h2-energy-landscape",
        "title": "H2 Energy Landscape",
        "format": "csv",
        "tags": ["chemistry", "vqe"],
        "task_categories": ["regression"],
    }).json()
    # Upload data file
    with open("data.csv", "rb") as f:
        requests.post(
            f"{BASE_URL}/datasets/{dataset['id']}/versions",
            headers=headers,
            files={"file": f},
            params={"commit_message": "Initial dataset with 10K bond distances"},
        )
    # Preview the dataset
    preview = requests.get(
        f"{BASE_URL}/datasets/{dataset['id']}/preview",
        params={"rows": 5},
    ).json()
    print(f"Columns: {preview['columns']}")
    print(f"Total rows: {preview['total_rows']}")
    # ---- end of the example ----

    out = capsys.readouterr().out
    assert "Columns: ['bond_distance', 'energy']" in out
    assert "Total rows: 10000" in out
    assert preview["rows"][0] == [0.3, -1.1] and len(preview["rows"]) == 5
    detail = requests.get(f"{BASE_URL}/datasets/{dataset['id']}").json()
    assert detail["versions"][0]["commit_message"] == "Initial dataset with 10K bond distances"
    # The official client's base (/api) serves the same thing; the list filter of the reference works.
    listed = requests.get(f"{live_server.api}/datasets", params={"format": "csv", "tags": ["vqe"]}).json()
    assert [d["name"] for d in listed["datasets"]] == ["h2-energy-landscape"]
    download = requests.get(f"{BASE_URL}/datasets/{dataset['id']}/download")
    assert download.content == (tmp_path / "data.csv").read_bytes()

"""The whole path once: create → upload → get → preview → stats → download."""

from __future__ import annotations

from .helpers import CSV, create, upload


async def test_create_upload_preview_download(client, alice):
    d = await create(client, alice, "tomography", "csv", tags=["qml"], task_categories=["classification"])
    assert d["versions"] == [] and d["latest_version"] is None and d["format"] == "csv"
    v = await upload(client, alice, d["id"], "data.csv", CSV, "first")
    assert v["version_number"] == 1 and v["total_rows"] == 3 and v["file_size"] == len(CSV)
    got = await (await client.get(f"/datasets/{d['id']}")).json()
    assert [x["version_number"] for x in got["versions"]] == [1]
    prev = await client.get(f"/datasets/{d['id']}/preview", params={"rows": 2})
    body = await prev.json()
    assert prev.status == 200, body
    assert body["columns"] == ["qubit_0", "qubit_1", "label"]
    assert body["rows"] == [[0.707, 0.293, "bell"], [0.5, 0.5, "ghz"]]
    assert body["total_rows"] == 3
    assert body["dataset_schema"]["label"] == "string"
    dl = await client.get(f"/datasets/{d['id']}/download")
    assert dl.status == 200 and await dl.read() == CSV

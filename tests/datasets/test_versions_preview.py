"""Versions (upload, content sniffing, limits) and previews for every format, with bad input."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from qubithub_lite.db.circuits import Blob, StorageUsage
from qubithub_lite.db.datasets import DatasetVersion

from tests.conftest import make_settings
from .helpers import (
    CSV, create, csv_bytes, form, hdf5_bytes, json_records, jsonl_records, npy_bytes, parquet_bytes, upload,
)

MAX_FILE = 256 * 1024
QUOTA = 600 * 1024


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, storage={"max_file_bytes": MAX_FILE, "user_quota_bytes": QUOTA})


async def preview(client, dataset_id, expect=200, headers=None, **params):
    resp = await client.get(f"/datasets/{dataset_id}/preview", params=params, headers=headers or {})
    body = await resp.json()
    assert resp.status == expect, body
    # Strict JSON: no NaN/Infinity tokens ever reach the client.
    json.loads(json.dumps(body), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    return body


# Each format ------------------------------------------------------------------------------
async def test_csv_semicolon_delimiter_and_header_sniffed(client, alice):
    d = await create(client, alice, "semi", "csv")
    await upload(client, alice, d["id"], "semi.csv", csv_bytes(5, delimiter=";"))
    body = await preview(client, d["id"], rows=2)
    assert body["columns"] == ["bond_distance", "energy", "label"]
    assert body["delimiter"] == ";" and body["has_header"] is True
    assert body["rows"] == [[0.5, -1.1, "s0"], [0.51, -1.099, "s1"]]
    assert body["total_rows"] == 5 and body["version"] == 1 and body["format"] == "csv"
    assert body["dataset_schema"] == {"bond_distance": "float64", "energy": "float64", "label": "string"}


async def test_json_array_of_records_and_json_lines(client, alice):
    d = await create(client, alice, "shots", "json")
    await upload(client, alice, d["id"], "shots.json", json_records(7))
    body = await preview(client, d["id"], rows=3)
    assert body["columns"] == ["shot", "bits", "p"] and body["layout"] == "array"
    assert body["rows"][2] == [2, "10", 0.2] and body["total_rows"] == 7

    await upload(client, alice, d["id"], "shots.jsonl", jsonl_records(4))
    body = await preview(client, d["id"])
    assert body["layout"] == "lines" and body["total_rows"] == 4 and body["version"] == 2
    assert body["rows"][3] == [3, "11"]
    old = await preview(client, d["id"], version=1, rows=1)
    assert old["version"] == 1 and old["total_rows"] == 7


async def test_npy_one_two_and_three_dimensions(client, alice):
    d = await create(client, alice, "arrays", "npy")
    await upload(client, alice, d["id"], "a.npy", npy_bytes(np.arange(6, dtype=np.int32)))
    one = await preview(client, d["id"], rows=4)
    assert one["total_rows"] == 6 and len(one["columns"]) == 1 and [r[0] for r in one["rows"]] == [0, 1, 2, 3]

    await upload(client, alice, d["id"], "b.npy", npy_bytes(np.array([[1.0, math.nan], [math.inf, 4.0]])))
    two = await preview(client, d["id"])
    assert two["total_rows"] == 2 and len(two["columns"]) == 2 and two["shape"] == [2, 2]
    assert two["rows"][0][0] == 1.0 and two["rows"][0][1] is None or isinstance(two["rows"][0][1], str)

    await upload(client, alice, d["id"], "c.npy", npy_bytes(np.arange(24, dtype=np.float32).reshape(2, 3, 4)))
    three = await preview(client, d["id"])
    assert three["total_rows"] == 2 and three["shape"] == [2, 3, 4]
    assert len(three["columns"]) == 12 and len(three["rows"][0]) == 12  # trailing axes flattened


async def test_hdf5_first_table_like_dataset_and_its_path(client, alice, tmp_path):
    d = await create(client, alice, "tomo-h5", "hdf5")
    await upload(client, alice, d["id"], "tomo.h5", hdf5_bytes(tmp_path))
    body = await preview(client, d["id"], rows=3)
    assert body["hdf5_path"] == "/experiment/shots"
    assert body["total_rows"] == 10 and body["rows"] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


async def test_parquet(client, alice):
    d = await create(client, alice, "pq", "parquet")
    await upload(client, alice, d["id"], "data.parquet", parquet_bytes(50))
    body = await preview(client, d["id"], rows=2)
    assert body["columns"] == ["qubit_0", "label", "shots"]
    assert body["rows"] == [[0.0, "l0", 0], [0.02, "l1", 1]]
    assert body["total_rows"] == 50
    assert body["dataset_schema"] == {"qubit_0": "float64", "label": "string", "shots": "int64"}


async def test_default_rows_is_100_and_max_1000(client, alice):
    d = await create(client, alice, "big", "csv")
    await upload(client, alice, d["id"], "big.csv", csv_bytes(1500))
    assert len((await preview(client, d["id"]))["rows"]) == 100
    body = await preview(client, d["id"], rows=1000)
    assert len(body["rows"]) == 1000 and body["total_rows"] == 1500


# Rows out of range, no versions ---------------------------------------------------------------
@pytest.mark.parametrize("rows", ["0", "5000", "-1", "ten", "1.5"])
async def test_rows_out_of_range_is_400(client, alice, rows):
    d = await create(client, alice, "r", "csv")
    await upload(client, alice, d["id"], "d.csv", CSV)
    body = await preview(client, d["id"], expect=400, rows=rows)
    assert "rows" in body["detail"]


async def test_no_versions_yet_is_a_clear_404(client, alice):
    d = await create(client, alice, "empty", "csv")
    for path in ("preview", "download"):
        resp = await client.get(f"/datasets/{d['id']}/{path}")
        assert resp.status == 404
        assert "no versions yet" in (await resp.json())["detail"]
    resp = await client.get(f"/datasets/{d['id']}/preview", params={"version": 3})
    assert resp.status == 404


async def test_unknown_version_is_404(client, alice):
    d = await create(client, alice, "v", "csv")
    await upload(client, alice, d["id"], "d.csv", CSV)
    resp = await client.get(f"/datasets/{d['id']}/preview", params={"version": "v2"})
    assert resp.status == 404 and "version 2" in (await resp.json())["detail"]
    resp = await client.get(f"/datasets/{d['id']}/preview", params={"version": "latest"})
    assert resp.status == 400


# Bad input: the file must really be of the dataset's format -----------------------------------
async def assert_refused(client, hub, user, dataset_id, name, content, *words):
    resp = await client.post(f"/datasets/{dataset_id}/versions", data=form(name, content), headers=user.headers)
    body = await resp.json()
    assert resp.status == 400, body
    for word in words:
        assert word.lower() in body["detail"].lower(), body
    detail = await (await client.get(f"/datasets/{dataset_id}", headers=user.headers)).json()
    assert detail["versions"] == []  # no version
    assert await hub.db.count(Blob.select()) == 0  # nothing stored
    assert list(hub.blobs.tmp.iterdir()) == []  # no temp file left
    return body


async def test_csv_that_is_really_binary(client, hub, alice):
    d = await create(client, alice, "bin", "csv")
    junk = bytes(range(256)) * 40
    await assert_refused(client, hub, alice, d["id"], "data.csv", junk, "csv")
    # A parquet file named .csv is not CSV either: the content decides, not the extension.
    await assert_refused(client, hub, alice, d["id"], "data.csv", parquet_bytes(5), "csv")


async def test_csv_with_binary_garbage_after_a_clean_head(client, hub, alice):
    d = await create(client, alice, "tail", "csv")
    content = csv_bytes(3000) + b"\x00\xff\xfe" * 100
    await assert_refused(client, hub, alice, d["id"], "data.csv", content, "csv")


async def test_truncated_parquet(client, hub, alice):
    d = await create(client, alice, "trunc", "parquet")
    data = parquet_bytes(100)
    await assert_refused(client, hub, alice, d["id"], "t.parquet", data[: len(data) // 2], "parquet")
    await assert_refused(client, hub, alice, d["id"], "t.parquet", data[:-9], "parquet")


async def test_hdf5_with_no_datasets(client, hub, alice, tmp_path):
    d = await create(client, alice, "nodata", "hdf5")
    await assert_refused(client, hub, alice, d["id"], "e.h5", hdf5_bytes(tmp_path, with_data=False), "hdf5")


class Boom:
    """Unpickling this would create the marker file."""

    marker = None

    def __reduce__(self):
        return (open, (str(Boom.marker), "w"))


async def test_object_dtype_npy_refused_and_never_unpickled(client, hub, alice, tmp_path):
    Boom.marker = tmp_path / "unpickled"
    array = np.empty(2, dtype=object)
    array[0], array[1] = Boom(), {"a": 1}
    data = npy_bytes(array)
    assert b"\x93NUMPY" in data and pickle.PROTO in data  # a real pickled payload inside
    d = await create(client, alice, "pickle", "npy")
    await assert_refused(client, hub, alice, d["id"], "evil.npy", data, "npy")
    assert not Boom.marker.exists()


@pytest.mark.parametrize("content,word", [
    (b"[" * 100_000 + b"]" * 100_000, "deeper"),
    (b'[{"x": 1' + b"0" * 200_000 + b"}]", "digits"),
    (b'[{"x": 1}, {"x": 2}', "truncated"),
])
async def test_json_bombs(client, hub, alice, content, word):
    d = await create(client, alice, "bomb", "json")
    await assert_refused(client, hub, alice, d["id"], "bomb.json", content, word)


async def test_overflowing_float_and_nan_are_json_safe(client, alice):
    d = await create(client, alice, "inf", "json")
    await upload(client, alice, d["id"], "inf.json", b'[{"x": 1e999999999, "y": NaN}, {"x": -1e400, "y": 2}]')
    body = await preview(client, d["id"])
    assert body["rows"] == [[None, None], [None, 2]] and body["total_rows"] == 2


async def test_empty_file_and_missing_file_part(client, hub, alice):
    d = await create(client, alice, "nothing", "csv")
    await assert_refused(client, hub, alice, d["id"], "empty.csv", b"", "empty")
    data = form("x.csv", CSV, field="other")
    resp = await client.post(f"/datasets/{d['id']}/versions", data=data, headers=alice.headers)
    assert resp.status == 400 and "file" in (await resp.json())["detail"]
    resp = await client.post(f"/datasets/{d['id']}/versions", json={"file": "x"}, headers=alice.headers)
    assert resp.status == 400


async def test_two_files_in_one_request_is_400(client, hub, alice):
    d = await create(client, alice, "two", "csv")
    data = form("a.csv", CSV)
    data.add_field("file", CSV, filename="b.csv")
    resp = await client.post(f"/datasets/{d['id']}/versions", data=data, headers=alice.headers)
    assert resp.status == 400 and "exactly one" in (await resp.json())["detail"]
    assert await hub.db.count(DatasetVersion.select()) == 0


# Limits ---------------------------------------------------------------------------------------
async def test_file_over_the_size_limit_is_413(client, hub, alice):
    d = await create(client, alice, "huge", "csv")
    content = csv_bytes(20_000)
    assert len(content) > MAX_FILE
    resp = await client.post(f"/datasets/{d['id']}/versions", data=form("huge.csv", content), headers=alice.headers)
    assert resp.status == 413, await resp.text()
    assert await hub.db.count(DatasetVersion.select()) == 0 and list(hub.blobs.tmp.iterdir()) == []


async def test_quota_is_403_and_keeps_nothing(client, hub, alice):
    d = await create(client, alice, "quota", "csv")
    chunk = csv_bytes(5_000)  # ~120 KiB, under the file limit
    assert len(chunk) < MAX_FILE
    stored = 0
    for i in range(10):
        body = chunk + f"0.1,0.2,extra{i}\n".encode()
        resp = await client.post(f"/datasets/{d['id']}/versions", data=form("q.csv", body), headers=alice.headers)
        if resp.status == 403:
            assert "quota" in (await resp.json())["detail"]
            break
        assert resp.status == 201
        stored += len(body)
    else:
        pytest.fail("the quota was never reached")
    assert stored <= QUOTA
    usage = await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")
    assert usage.bytes_used == stored
    versions = await hub.db.count(DatasetVersion.select())
    assert versions == i


async def test_identical_reupload_is_not_charged_again(client, hub, alice):
    d = await create(client, alice, "same", "csv")
    await upload(client, alice, d["id"], "d.csv", CSV)
    await upload(client, alice, d["id"], "d.csv", CSV, "again")
    usage = await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")
    assert usage.bytes_used == len(CSV)
    blob = await Blob.aget(Blob.sha256 == (await hub.db.first(DatasetVersion.select())).sha256)
    assert blob.ref_count == 2


# Versions -------------------------------------------------------------------------------------
async def test_versions_chain_and_detail(client, alice):
    d = await create(client, alice, "chain", "csv")
    v1 = await upload(client, alice, d["id"], "a.csv", CSV, "Initial dataset")
    v2 = await upload(client, alice, d["id"], "b.csv", csv_bytes(10), "Add 7 rows")
    assert v1["parent_hash"] is None and v2["parent_hash"] == v1["commit_hash"] and len(v2["commit_hash"]) == 64
    assert v2["file_path"] == f"datasets/{d['id']}/v2/b.csv" and v2["commit_message"] == "Add 7 rows"
    detail = await (await client.get(f"/datasets/{d['id']}")).json()
    assert [v["version_number"] for v in detail["versions"]] == [1, 2]
    assert detail["latest_version"]["id"] == v2["id"] and detail["size_bytes"] == v2["file_size"]
    assert detail["storage_bytes"] == v1["file_size"] + v2["file_size"]


async def test_unsafe_file_name_falls_back_to_dataset_name(client, alice):
    d = await create(client, alice, "names", "csv")
    v = await upload(client, alice, d["id"], "../../etc/passwd", CSV)
    assert v["file_name"] == "passwd"
    v = await upload(client, alice, d["id"], "CON", CSV)
    assert v["file_name"] == "names.csv"


async def test_format_cannot_change_once_there_are_versions(client, alice):
    d = await create(client, alice, "fmt", "csv")
    resp = await client.put(f"/datasets/{d['id']}", json={"format": "json"}, headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["format"] == "json"
    await upload(client, alice, d["id"], "a.json", json_records(2))
    resp = await client.put(f"/datasets/{d['id']}", json={"format": "csv"}, headers=alice.headers)
    assert resp.status == 400 and "format" in (await resp.json())["detail"]


async def test_total_rows_counted_once_per_version_not_per_preview(client, alice, monkeypatch):
    from qubithub_lite import formats

    calls = []
    real = formats.count_rows

    def spy(path, fmt):
        calls.append(fmt)
        return real(path, fmt)

    monkeypatch.setattr(formats, "count_rows", spy)
    d = await create(client, alice, "once", "csv")
    await upload(client, alice, d["id"], "a.csv", csv_bytes(40))
    assert calls == ["csv"]
    for rows in (1, 5, 40):
        assert (await preview(client, d["id"], rows=rows))["total_rows"] == 40
    assert calls == ["csv"]
    # The same bytes uploaded to another csv dataset reuse the stored count.
    d2 = await create(client, alice, "again", "csv")
    await upload(client, alice, d2["id"], "a.csv", csv_bytes(40))
    assert calls == ["csv"]


async def test_upload_needs_write_access(client, alice, bob):
    d = await create(client, alice, "mine", "csv")
    resp = await client.post(f"/datasets/{d['id']}/versions", data=form("a.csv", CSV), headers=bob.headers)
    assert resp.status == 403
    resp = await client.post(f"/datasets/{d['id']}/versions", data=form("a.csv", CSV))
    assert resp.status == 401


def test_dataset_modules_import_without_the_data_extra():
    """numpy/pyarrow/h5py are an optional extra: the dataset API must not need them to load."""
    from tests.processes import fresh_python

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'pyarrow', 'h5py'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import qubithub_lite.api.datasets, qubithub_lite.services.datasets\n"
        "assert 'numpy' not in sys.modules\n"
    )
    fresh_python(code)


def test_preview_bounds_match_the_formats_library():
    from qubithub_lite import formats
    from qubithub_lite.schemas import datasets as schemas
    from qubithub_lite.services import datasets as service

    assert (schemas.MIN_PREVIEW_ROWS, schemas.MAX_PREVIEW_ROWS, schemas.DEFAULT_PREVIEW_ROWS) == (
        formats.MIN_PREVIEW_ROWS, formats.MAX_PREVIEW_ROWS, formats.DEFAULT_PREVIEW_ROWS)
    assert service.METADATA_COUNT_FORMATS == formats.METADATA_COUNT_FORMATS
    assert set(schemas.DatasetFormat.__args__) == set(formats.FORMATS)

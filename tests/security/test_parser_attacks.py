"""Hostile dataset files against a real server: every parser that sees user bytes (upload
check and preview of csv/json/npy/hdf5/parquet) must keep /health responsive and the
server's memory bounded, and answer a clear 400/422 (never a 500) when it refuses."""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from . import bombs

MIB = 1 << 20
#: The server's memory may grow at most this much during one attack (over its RSS before it).
MEMORY_BUDGET_MIB = 96
_names = iter(range(1, 1 << 30))


def _dataset(server, user, fmt: str) -> str:
    resp = requests.post(f"{server.url}/datasets", headers=user.headers, timeout=30, json={
        "name": f"ds{next(_names)}", "title": "Attack", "format": fmt, "is_public": True})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _upload(server, user, dataset_id: str, name: str, content: bytes) -> requests.Response:
    return requests.post(f"{server.url}/datasets/{dataset_id}/versions", headers=user.headers, timeout=120,
                         files={"file": (name, content, "application/octet-stream")})


def _previews(server, dataset_id: str, rows: int, count: int = 3) -> list[requests.Response]:
    """``count`` anonymous previews at once (a public dataset: anyone may ask)."""
    url = f"{server.url}/datasets/{dataset_id}/preview"
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: requests.get(url, params={"rows": rows}, timeout=120), range(count)))


def _clear(resp: requests.Response, *allowed: int) -> dict:
    """A JSON answer with one of the allowed statuses (errors: a ``detail``)."""
    assert resp.status_code in allowed, (resp.status_code, resp.text[:500])
    body = resp.json()
    if resp.status_code >= 400:
        assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


@pytest.fixture(autouse=True)
def warm(server, user):
    """Import every format's library in the server once, so the attacks measure parsing, not imports."""
    import numpy as np

    from tests.datasets.helpers import csv_bytes, hdf5_bytes, json_records, npy_bytes, parquet_bytes

    with tempfile.TemporaryDirectory() as tmp:
        files = {"csv": csv_bytes(5), "json": json_records(5), "npy": npy_bytes(np.arange(6.0)),
                 "parquet": parquet_bytes(5), "hdf5": hdf5_bytes(Path(tmp))}
    for fmt, content in files.items():
        ds = _dataset(server, user, fmt)
        assert _upload(server, user, ds, f"warm.{fmt}", content).status_code == 201
        for resp in _previews(server, ds, 5, count=2):
            assert resp.status_code == 200, resp.text


def _attack(server, user, fmt: str, name: str, content: bytes, rows: int = 1000):
    """Upload ``content`` (a new dataset each time) and, when it is accepted, preview it 3x at once."""
    seen: dict = {}

    def attack():
        ds = _dataset(server, user, fmt)
        up = _upload(server, user, ds, name, content)
        seen["upload"] = _clear(up, 201, 400, 413)
        seen["upload_status"] = up.status_code
        if up.status_code == 201:
            seen["previews"] = [(r.status_code, _clear(r, 200, 422)) for r in _previews(server, ds, rows)]
        return seen

    return attack


def _bounded(watch_attack, attack):
    """Run ``attack`` watched: /health stays responsive and the server's memory within budget."""
    report = watch_attack(attack)
    report.assert_responsive()
    report.assert_memory(MEMORY_BUDGET_MIB)
    return report


def _previews_refused(report, why: str) -> None:
    """Every concurrent preview was refused with a 422 that says ``why``."""
    for status, body in report.result["previews"]:
        assert status == 422 and why in body["detail"]


# Refused on upload -----------------------------------------------------------------------
#: (format, file name, the bomb, what the 400 says, whether the server's memory is checked too)
REFUSED_ON_UPLOAD = [
    pytest.param("csv", "quote.csv", bombs.csv_quote_never_closed, "larger than field limit", True, id="csv-quote"),
    pytest.param("json", "deep.json", bombs.json_nested_deep, "nests deeper", False, id="json-nested-deep"),
    pytest.param("json", "spam.json", bombs.json_object_spam, "record larger", True, id="json-object-spam"),
    pytest.param("npy", "header.npy", bombs.npy_huge_header, "header", False, id="npy-huge-header"),
]


@pytest.mark.parametrize("fmt, name, bomb, refusal, bounded", REFUSED_ON_UPLOAD)
def test_a_bomb_is_refused_on_upload(server, user, watch_attack, fmt, name, bomb, refusal, bounded):
    attack = _attack(server, user, fmt, name, bomb())
    report = _bounded(watch_attack, attack) if bounded else watch_attack(attack)
    report.assert_responsive()
    assert report.result["upload_status"] == 400
    assert refusal in report.result["upload"]["detail"]


# CSV -------------------------------------------------------------------------------------
def test_csv_sniffer_quadratic_line(server, user, watch_attack):
    content = bombs.csv_sniffer_bomb()
    report = watch_attack(_attack(server, user, "csv", "sniff.csv", content))
    report.assert_responsive()
    seen = report.result
    assert seen["upload_status"] == 201
    for status, body in seen["previews"]:
        assert status == 200 and body["columns"][:2] == ["a", "b"]


def test_csv_long_numeric_looking_cell(server, user, watch_attack):
    report = watch_attack(_attack(server, user, "csv", "digits.csv", bombs.csv_long_numeric_cell(), rows=5))
    report.assert_responsive()
    seen = report.result
    assert seen["upload_status"] == 201
    for status, body in seen["previews"]:
        assert status == 200 and body["dataset_schema"]["a"] == "string"


def test_csv_one_enormous_line(server, user, watch_attack):
    report = _bounded(watch_attack, _attack(server, user, "csv", "line.csv", bombs.csv_one_enormous_line()))
    seen = report.result
    assert seen["upload_status"] == 201  # counting streams; a preview refuses the line
    for status, body in seen["previews"]:
        assert status == 422 and "line longer" in body["detail"]


def test_csv_many_columns(server, user, watch_attack):
    report = _bounded(watch_attack, _attack(server, user, "csv", "wide.csv", bombs.csv_many_columns()))
    _previews_refused(report, "line longer")


def test_csv_wide_rows_within_the_line_cap(server, user, watch_attack):
    # 100,000 one-character cells per line (200 KB lines), 300 rows: cells are capped.
    line = b",".join(b"7" for _ in range(100_000)) + b"\n"
    report = _bounded(watch_attack, _attack(server, user, "csv", "wide.csv", line * 300))
    for status, body in report.result["previews"]:
        assert status == 200 and len(body["columns"]) == 1024 and body["total_columns"] == 100_000
        assert len(body["rows"]) * len(body["columns"]) <= 100_000 and "rows are shown" in body["truncated"]


def test_csv_one_record_of_many_multiline_fields(server, user, watch_attack):
    content = bombs.csv_many_quoted_fields_one_record()
    report = _bounded(watch_attack, _attack(server, user, "csv", "record.csv", content))
    assert report.result["upload_status"] == 201  # counted by the vectorised pass: one record
    _previews_refused(report, "record longer")


# JSON ------------------------------------------------------------------------------------
def test_json_many_small_records(server, user, watch_attack):
    report = _bounded(watch_attack, _attack(server, user, "json", "many.json", bombs.json_many_small_records()))
    for status, body in report.result.get("previews", []):
        assert status == 200 and len(body["rows"]) <= 1000


# npy -------------------------------------------------------------------------------------
def test_npy_object_dtype_is_never_unpickled(server, user, watch_attack, tmp_path):
    marker = tmp_path / "pickle-ran"
    report = watch_attack(_attack(server, user, "npy", "objects.npy", bombs.npy_object_pickle(marker)))
    assert report.result["upload_status"] == 400
    assert "object" in report.result["upload"]["detail"]
    assert not marker.exists()


def test_npy_huge_elements(server, user, watch_attack):
    report = _bounded(watch_attack, _attack(server, user, "npy", "big.npy", bombs.npy_huge_elements(), rows=8))
    assert report.result["upload_status"] == 201
    for status, body in report.result["previews"]:  # each cell maps only the element's first bytes
        assert status == 200 and len(body["rows"]) == 8
        assert all(row[0].startswith("qqqq") and len(row[0]) <= 1025 for row in body["rows"])


def test_npy_cells_that_escape_to_huge_json(server, user, watch_attack):
    report = _bounded(watch_attack, _attack(server, user, "npy", "escapes.npy", bombs.npy_escaped_cells(), rows=40))
    for status, body in report.result["previews"]:
        assert status == 200 and 1 <= len(body["rows"]) < 40 and "MiB" in body["truncated"]
        assert len(json.dumps(body)) < 12 * MIB


# HDF5 ------------------------------------------------------------------------------------
def test_hdf5_huge_fixed_strings_without_data(server, user, watch_attack, tmp_path):
    content = bombs.hdf5_huge_strings_no_data(tmp_path)
    assert len(content) < 4096
    report = _bounded(watch_attack, _attack(server, user, "hdf5", "strings.h5", content, rows=8))
    assert report.result["upload_status"] == 201  # the check reads metadata only
    _previews_refused(report, "per cell")


def test_hdf5_compressed_chunk_bomb(server, user, watch_attack, tmp_path):
    content = bombs.hdf5_compressed_bomb(tmp_path)
    assert len(content) < 4 * MIB
    report = _bounded(watch_attack, _attack(server, user, "hdf5", "bomb.h5", content, rows=10))
    _previews_refused(report, "chunks of")


def test_hdf5_many_small_chunks_are_read_within_budget(server, user, watch_attack, tmp_path):
    import h5py
    import numpy as np

    path = tmp_path / "wide.h5"
    with h5py.File(path, "w") as f:  # 4 KiB rows, chunks of 64 rows: 1000 rows would read 4 MiB
        f.create_dataset("m", data=np.ones((2000, 512)), chunks=(64, 512), compression="gzip")
    report = _bounded(watch_attack, _attack(server, user, "hdf5", "wide.h5", path.read_bytes()))
    for status, body in report.result["previews"]:
        assert status == 200 and len(body["rows"]) == 195 and "cells" in body["truncated"]


def test_hdf5_external_link_is_not_followed(server, user, watch_attack, tmp_path):
    # The link points at a real HDF5 file on the server's disk (another user's upload would do).
    secret = tmp_path / "secret.h5"
    import h5py
    import numpy as np

    with h5py.File(secret, "w") as f:
        f["grades"] = np.arange(5) + 4242
    content = bombs.hdf5_external_link(tmp_path, str(secret))
    report = watch_attack(_attack(server, user, "hdf5", "link.h5", content))
    report.assert_responsive()
    assert report.result["upload_status"] == 400
    assert "4242" not in str(report.result)


def test_hdf5_external_raw_storage_is_not_read(server, user, watch_attack, tmp_path):
    target = server.data_dir / "secret.key"
    size = target.stat().st_size
    content = bombs.hdf5_external_storage(tmp_path, str(target), size)
    report = watch_attack(_attack(server, user, "hdf5", "ext.h5", content))
    assert report.result["upload_status"] == 400
    assert target.read_bytes()[:8].hex() not in str(report.result)


# Parquet ---------------------------------------------------------------------------------
def test_parquet_one_huge_cell(server, user, watch_attack):
    content = bombs.parquet_one_huge_cell()
    assert len(content) < 64 * 1024
    report = _bounded(watch_attack, _attack(server, user, "parquet", "cell.parquet", content))
    assert report.result["upload_status"] == 201  # valid; checked by its metadata only
    _previews_refused(report, "column 'blob'")


def test_parquet_huge_dictionary_page(server, user, watch_attack):
    content = bombs.parquet_huge_dictionary()
    report = _bounded(watch_attack, _attack(server, user, "parquet", "dict.parquet", content))
    _previews_refused(report, "column 'v'")


def test_parquet_long_strings(server, user, watch_attack):
    content = bombs.parquet_long_strings()
    report = _bounded(watch_attack, _attack(server, user, "parquet", "strings.parquet", content))
    for status, body in report.result["previews"]:
        assert status == 200 and body["rows"] and all(len(row[0]) == 1025 for row in body["rows"])
        assert len(body["rows"]) < 1000 and "pages" in body["truncated"]


@pytest.mark.parametrize("groups", [100_000, 25_000])
def test_parquet_many_row_groups(server, user, watch_attack, groups):
    # 100,000 row groups: a 13 MiB footer (refused); 25,000: just under the footer cap
    # (accepted; three concurrent previews must not parse it three times at once).
    content = bombs.parquet_many_row_groups(groups)
    report = _bounded(watch_attack, _attack(server, user, "parquet", "groups.parquet", content))
    if groups > 50_000:
        assert report.result["upload_status"] == 400 and "footer" in report.result["upload"]["detail"]
    else:
        for status, body in report.result["previews"]:
            assert status == 200 and len(body["rows"]) == 1000


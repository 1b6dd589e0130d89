from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qubithub_lite.formats import FormatError, count_rows, preview, sniff

from .conftest import assert_json_safe, assert_refused


def _table(n: int) -> pa.Table:
    return pa.table(
        {
            "qubit_0": pa.array([i / n for i in range(n)], pa.float64()),
            "shots": pa.array(range(n), pa.int32()),
            "label": pa.array([f"s{i}" for i in range(n)]),
        }
    )


def test_multi_row_group_file(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(_table(1000), path, row_group_size=64)
    sniff(path, "parquet")
    body = assert_json_safe(preview(path, "parquet", 100))  # spans two row groups
    assert body["columns"] == ["qubit_0", "shots", "label"]
    assert len(body["rows"]) == 100
    assert body["rows"][99] == [0.099, 99, "s99"]
    assert body["dataset_schema"] == {"qubit_0": "float64", "shots": "int32", "label": "string"}
    assert body["total_rows"] == 1000
    assert count_rows(path, "parquet") == 1000
    # total_rows comes from the metadata even when a caller passes something else
    assert preview(path, "parquet", 1, total_rows=5).total_rows == 1000


def test_rich_types_are_json_safe(tmp_path):
    path = tmp_path / "rich.parquet"
    utc = dt.timezone.utc
    table = pa.table(
        {
            "x": pa.array([1.5, float("nan"), None]),
            "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc)] * 3, pa.timestamp("us", tz="UTC")),
            "day": pa.array([dt.date(2024, 1, 2), None, dt.date(1999, 12, 31)], pa.date32()),
            "amount": pa.array([Decimal("1.25"), Decimal("-3.50"), None], pa.decimal128(10, 2)),
            "blob": pa.array([b"\x00\xff", b"text", None], pa.binary()),
            "counts": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
            "meta": pa.array([{"k": 1}, {"k": 2}, None], pa.struct([("k", pa.int8())])),
            "cat": pa.array(["u", "v", "u"]).dictionary_encode(),
            "flag": pa.array([True, False, None]),
        }
    )
    pq.write_table(table, path)
    body = assert_json_safe(preview(path, "parquet", 10))
    assert body["rows"] == [
        [1.5, "2024-01-02T03:04:05+00:00", "2024-01-02", 1.25, "AP8=", [1, 2], {"k": 1}, "u", True],
        [None, "2024-01-02T03:04:05+00:00", None, -3.5, "text", [], {"k": 2}, "v", False],
        [None, "2024-01-02T03:04:05+00:00", "1999-12-31", None, None, None, None, "u", None],
    ]
    assert body["dataset_schema"] == {
        "x": "float64",
        "ts": "datetime",
        "day": "date",
        "amount": "decimal",
        "blob": "binary",
        "counts": "list",
        "meta": "struct",
        "cat": "string",
        "flag": "bool",
    }


def test_empty_table(tmp_path):
    path = tmp_path / "empty_rows.parquet"
    pq.write_table(_table(0), path)
    p = preview(path, "parquet", 5)
    assert p.rows == [] and p.total_rows == 0 and p.columns == ["qubit_0", "shots", "label"]


def test_truncated_parquet_is_refused(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(_table(5000), path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 200, len(data) // 2, 11):
        path.write_bytes(data[:cut])
        assert_refused(path, "parquet", "truncated|too small")


def test_corrupt_footer_with_both_magics_is_refused(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(_table(100), path)
    data = bytearray(path.read_bytes())
    footer_len = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_len
    data[start : start + footer_len] = b"\x17" * footer_len  # garbage metadata, magics intact
    path.write_bytes(bytes(data))
    assert_refused(path, "parquet", "metadata")


def test_foreign_and_empty_files(tmp_path):
    csv_file = tmp_path / "x.parquet"
    csv_file.write_text("a,b\n1,2\n" * 10)
    assert_refused(csv_file, "parquet", "not a Parquet file")
    empty = tmp_path / "e.parquet"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        preview(empty, "parquet", 5)

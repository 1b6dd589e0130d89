from __future__ import annotations

import json

import numpy as np
import pytest

from qubithub_lite.formats import (
    FORMATS,
    MAX_PREVIEW_ROWS,
    FormatError,
    count_rows,
    preview,
    sniff,
    validate_rows,
)


def test_formats_of_the_reference():
    assert set(FORMATS) == {"csv", "npy", "hdf5", "json", "parquet"}


@pytest.mark.parametrize("rows", [0, -1, 1001, 5000, 2.5, "10", True, None])
def test_rows_out_of_bounds_raise_value_error(tmp_path, rows):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ValueError, match="rows"):
        preview(path, "csv", rows)


def test_rows_bounds_are_inclusive(tmp_path):
    assert validate_rows(1) == 1 and validate_rows(MAX_PREVIEW_ROWS) == 1000
    path = tmp_path / "a.npy"
    np.save(path, np.arange(2000))
    assert len(preview(path, "npy", 1000).rows) == 1000
    assert preview(path, "npy", 1).rows == [[0]]


def test_unknown_format_is_a_value_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ValueError, match="unsupported dataset format"):
        sniff(path, "xlsx")
    with pytest.raises(ValueError):
        count_rows(path, "CSV ")


def test_format_error_is_not_a_value_error():
    assert not issubclass(FormatError, ValueError)


@pytest.mark.parametrize("fmt", sorted({"csv", "npy", "hdf5", "json", "parquet"}))
def test_empty_file_is_refused_for_every_format(tmp_path, fmt):
    path = tmp_path / f"empty.{fmt}"
    path.write_bytes(b"")
    for call in (lambda: sniff(path, fmt), lambda: preview(path, fmt, 5), lambda: count_rows(path, fmt)):
        with pytest.raises(FormatError, match="empty"):
            call()


def test_each_format_refuses_the_others(tmp_path):
    """Content decides, not the extension: a file of one format fails every other sniff."""
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {
        "npy": tmp_path / "f.npy",
        "hdf5": tmp_path / "f.h5",
        "parquet": tmp_path / "f.parquet",
        "json": tmp_path / "f.json",
    }
    np.save(files["npy"], np.arange(10.0))
    with h5py.File(files["hdf5"], "w") as f:
        f.create_dataset("x", data=np.arange(10.0))
    pq.write_table(pa.table({"x": list(range(10))}), files["parquet"])
    files["json"].write_text(json.dumps([{"x": i} for i in range(10)]))
    for actual, path in files.items():
        sniff(path, actual)
        for claimed in FORMATS:
            if claimed == actual or (actual == "json" and claimed == "csv"):
                continue  # JSON text is also (one-column) CSV text
            with pytest.raises(FormatError):
                sniff(path, claimed)


def test_preview_to_dict_has_reference_keys(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("qubit_0,label\n0.7,bell\n")
    body = preview(path, "csv").to_dict()
    assert {"columns", "rows", "total_rows", "dataset_schema"} <= set(body)
    assert body == {
        "columns": ["qubit_0", "label"],
        "rows": [[0.7, "bell"]],
        "total_rows": 1,
        "dataset_schema": {"qubit_0": "float64", "label": "string"},
        "total_columns": 2,
        "delimiter": ",",
        "has_header": True,
    }

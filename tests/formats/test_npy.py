from __future__ import annotations

import pickle

import numpy as np
import pytest

from qubithub_lite.formats import MAX_PREVIEW_COLUMNS, FormatError, count_rows, preview, sniff

from .conftest import assert_json_safe, assert_refused


def _save(tmp_path, array, name="a.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def test_1d(tmp_path):
    path = _save(tmp_path, np.linspace(0.0, 1.0, 11))
    sniff(path, "npy")
    body = assert_json_safe(preview(path, "npy", 3))
    assert body["columns"] == ["value"]
    assert body["rows"] == [[0.0], [0.1], [0.2]]
    assert body["total_rows"] == 11 and body["shape"] == [11]
    assert body["dataset_schema"] == {"value": "float64"}
    assert count_rows(path, "npy") == 11


def test_2d_with_nan_and_inf(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    data[1, 1] = np.nan
    data[2, 0] = np.inf
    path = _save(tmp_path, data)
    body = assert_json_safe(preview(path, "npy", 3))
    assert body["columns"] == ["col_0", "col_1", "col_2"]
    assert body["rows"] == [[0.0, 1.0, 2.0], [3.0, None, 5.0], [None, 7.0, 8.0]]
    assert body["dataset_schema"]["col_0"] == "float32"
    assert body["total_rows"] == 4


def test_3d_is_flattened_per_row(tmp_path):
    path = _save(tmp_path, np.arange(2 * 2 * 3, dtype=np.int16).reshape(2, 2, 3))
    p = preview(path, "npy", 5)
    assert p.columns == ["col_0_0", "col_0_1", "col_0_2", "col_1_0", "col_1_1", "col_1_2"]
    assert p.rows == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert p.total_rows == 2 and p.shape == [2, 2, 3]
    assert p.dataset_schema["col_1_2"] == "int16"


def test_wide_arrays_are_capped_in_columns(tmp_path):
    path = _save(tmp_path, np.arange(3 * 5000, dtype=np.int64).reshape(3, 5000))
    p = preview(path, "npy", 2)
    assert len(p.columns) == MAX_PREVIEW_COLUMNS and p.total_columns == 5000
    assert p.rows[1][:3] == [5000, 5001, 5002]
    deep = _save(tmp_path, np.arange(2 * 3 * 700, dtype=np.int64).reshape(2, 3, 700), "deep.npy")
    p = preview(deep, "npy", 2)
    assert len(p.columns) == MAX_PREVIEW_COLUMNS and p.total_columns == 2100
    assert p.columns[700] == "col_1_0" and p.rows[1][700] == 2100 + 700


def test_fortran_order(tmp_path):
    data = np.asfortranarray(np.arange(6).reshape(2, 3))
    path = _save(tmp_path, data)
    assert preview(path, "npy", 5).rows == [[0, 1, 2], [3, 4, 5]]


def test_structured_dtype_gives_named_columns(tmp_path):
    dtype = np.dtype([("shot", "i4"), ("p0", "f8"), ("bits", "S4"), ("when", "M8[s]"), ("amp", "c16")])
    data = np.array(
        [(1, 0.25, b"0101", "2024-05-01T12:00:00", 1 + 2j), (2, np.nan, b"\xff\xfe", "NaT", 0j)],
        dtype=dtype,
    )
    path = _save(tmp_path, data)
    body = assert_json_safe(preview(path, "npy", 10))
    assert body["columns"] == ["shot", "p0", "bits", "when", "amp"]
    assert body["rows"] == [
        [1, 0.25, "0101", "2024-05-01T12:00:00", [1.0, 2.0]],
        [2, None, "//4=", None, [0.0, 0.0]],  # non-UTF-8 bytes → base64
    ]
    assert body["dataset_schema"] == {
        "shot": "int32",
        "p0": "float64",
        "bits": "binary",
        "when": "datetime",
        "amp": "complex128",
    }


def test_scalar_and_empty_arrays(tmp_path):
    scalar = _save(tmp_path, np.array(7.5), "s.npy")
    p = preview(scalar, "npy", 5)
    assert p.rows == [[7.5]] and p.total_rows == 1
    empty = _save(tmp_path, np.zeros((0, 4)), "e.npy")
    p = preview(empty, "npy", 5)
    assert p.rows == [] and p.total_rows == 0 and len(p.columns) == 4


def test_object_dtype_is_refused_and_never_unpickled(tmp_path):
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    path = tmp_path / "evil.npy"
    np.save(path, np.array([Evil(), 1], dtype=object), allow_pickle=True)
    assert b"pwned" in path.read_bytes()  # the payload really is in the file
    assert_refused(path, "npy", "object dtype")
    with pytest.raises(FormatError, match="object dtype"):
        preview(path, "npy", 5)
    with pytest.raises(FormatError, match="object dtype"):
        count_rows(path, "npy")
    assert not sentinel.exists()


def test_structured_with_object_field_is_refused(tmp_path):
    path = tmp_path / "obj_field.npy"
    np.save(path, np.array([(1, "x")], dtype=[("a", "i4"), ("b", "O")]), allow_pickle=True)
    with pytest.raises(FormatError, match="object dtype"):
        preview(path, "npy", 5)


def test_truncated_and_foreign_files(tmp_path):
    path = _save(tmp_path, np.arange(1000, dtype=np.float64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_refused(path, "npy", "truncated")
    pickled = tmp_path / "p.npy"
    pickled.write_bytes(pickle.dumps([1, 2, 3]))
    assert_refused(pickled, "npy", "magic")
    bad_header = tmp_path / "h.npy"
    bad_header.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': __import__('os')}")
    assert_refused(bad_header, "npy", "header")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert_refused(empty, "npy", "empty")

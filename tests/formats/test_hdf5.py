from __future__ import annotations

import h5py
import numpy as np
import pytest

from qubithub_lite.formats import FormatError, count_rows, preview, sniff

from .conftest import assert_json_safe, assert_refused


def test_first_table_like_dataset_with_compound_dtype(tmp_path):
    path = tmp_path / "runs.h5"
    dtype = np.dtype([("energy", "f8"), ("label", h5py.string_dtype()), ("code", "S3")])
    with h5py.File(path, "w") as f:
        f.create_dataset("a_scalar", data=1.0)  # scalar: not table-like, skipped
        group = f.create_group("b_results")
        data = np.array([(-1.1, "bell", b"abc"), (np.inf, "ghz", b"xyz"), (0.5, "w", b"q")], dtype=dtype)
        group.create_dataset("table", data=data, chunks=True, compression="gzip")
        f.create_dataset("c_other", data=np.arange(5))
    sniff(path, "hdf5")
    body = assert_json_safe(preview(path, "hdf5", 2))
    assert body["hdf5_path"] == "/b_results/table"
    assert body["columns"] == ["energy", "label", "code"]
    assert body["rows"] == [[-1.1, "bell", "abc"], [None, "ghz", "xyz"]]
    assert body["dataset_schema"] == {"energy": "float64", "label": "string", "code": "string"}
    assert body["total_rows"] == 3
    assert count_rows(path, "hdf5") == 3


def test_2d_dataset_reads_only_leading_rows(tmp_path):
    path = tmp_path / "matrix.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("m", data=np.arange(20_000, dtype=np.int32).reshape(5000, 4), chunks=(100, 4))
    p = preview(path, "hdf5", 2)
    assert p.hdf5_path == "/m"
    assert p.columns == ["col_0", "col_1", "col_2", "col_3"]
    assert p.rows == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert p.total_rows == 5000 and p.shape == [5000, 4]
    assert p.dataset_schema["col_0"] == "int32"


def test_only_scalar_dataset_is_previewed_as_one_row(tmp_path):
    path = tmp_path / "scalar.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("fidelity", data=0.97)
    p = preview(path, "hdf5", 5)
    assert p.rows == [[0.97]] and p.total_rows == 1 and p.hdf5_path == "/fidelity"


def test_file_without_datasets_is_refused(tmp_path):
    path = tmp_path / "groups.h5"
    with h5py.File(path, "w") as f:
        f.create_group("a").create_group("b")
        f.attrs["note"] = "attributes are not datasets"
    assert_refused(path, "hdf5", "no readable datasets", counting_too=True)


def test_external_storage_is_never_read(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype="<i8").tobytes())
    path = tmp_path / "external.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("leak", shape=(4,), dtype="<i8", external=[(str(secret), 0, 32)])
    with pytest.raises(FormatError, match="no readable datasets"):
        preview(path, "hdf5", 5)


def test_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(10_000.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    assert_refused(path, "hdf5", "truncated or corrupt")
    csv_file = tmp_path / "x.h5"
    csv_file.write_text("a,b\n1,2\n")
    assert_refused(csv_file, "hdf5", "not an HDF5 file")
    empty = tmp_path / "e.h5"
    empty.write_bytes(b"")
    assert_refused(empty, "hdf5", "empty")

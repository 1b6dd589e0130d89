"""HDF5: the first table-like dataset found by a bounded ``visititems`` walk (lexicographic
order; soft and external links are not followed) is previewed through h5py slicing, so
only its leading rows are read. Datasets whose raw data lives in other files (external
storage, virtual datasets) are never read: they could point at arbitrary server files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from .arrays import numpy_type_name, tabulate
from .errors import FormatError
from .model import Preview
from .textio import require_nonempty

LABEL = "HDF5"
SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: The superblock may follow a user block of 512, 1024, 2048… bytes.
_SIGNATURE_OFFSETS = (0,) + tuple(512 << i for i in range(12))
#: At most this many objects are visited looking for a dataset.
MAX_VISITED = 10_000

_STOP = object()


def h5_type_name(dtype: np.dtype) -> str:
    if h5py.check_string_dtype(dtype) is not None:
        return "string"
    if h5py.check_vlen_dtype(dtype) is not None:
        return "list"
    if h5py.check_ref_dtype(dtype) is not None:
        return "reference"
    return numpy_type_name(dtype)


def _has_signature(path: Path, size: int) -> bool:
    with path.open("rb") as fp:
        for offset in _SIGNATURE_OFFSETS:
            if offset + len(SIGNATURE) > size:
                break
            fp.seek(offset)
            if fp.read(len(SIGNATURE)) == SIGNATURE:
                return True
    return False


@contextmanager
def open_file(path: Path) -> Iterator[h5py.File]:
    size = require_nonempty(path, LABEL)
    if not _has_signature(path, size):
        raise FormatError("the file is not an HDF5 file (no HDF5 signature)")
    try:
        handle = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise FormatError(f"the HDF5 file cannot be opened (truncated or corrupt?): {exc}") from None
    try:
        yield handle
    except (OSError, KeyError, RuntimeError, TypeError) as exc:
        raise FormatError(f"the HDF5 file cannot be read (corrupt?): {exc}") from None
    finally:
        handle.close()


def _readable(dataset: h5py.Dataset) -> bool:
    return not dataset.is_virtual and dataset.external is None


def find_dataset(handle: h5py.File) -> tuple[str, h5py.Dataset]:
    """The first dataset with at least one dimension (else the first scalar dataset)."""
    visited = 0
    scalar: str | None = None

    def visit(name: str, obj: object) -> object:
        nonlocal visited, scalar
        visited += 1
        if visited > MAX_VISITED:
            return _STOP
        if isinstance(obj, h5py.Dataset) and _readable(obj):
            if obj.ndim >= 1:
                return name
            if scalar is None:
                scalar = name
        return None

    found = handle.visititems(visit)
    name = found if isinstance(found, str) else scalar
    if name is None:
        more = f" among the first {MAX_VISITED} objects" if found is _STOP else ""
        raise FormatError(f"the HDF5 file contains no readable datasets{more}")
    return "/" + name, handle[name]


def sniff(path: Path) -> None:
    with open_file(path) as handle:
        find_dataset(handle)


def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    with open_file(path) as handle:
        name, dataset = find_dataset(handle)
        table = tabulate(dataset, rows, h5_type_name)
        shape = [int(d) for d in dataset.shape]
    return Preview(
        columns=table.columns,
        rows=table.rows,
        total_rows=table.total_rows,
        dataset_schema=table.schema,
        total_columns=table.total_columns,
        hdf5_path=name,
        shape=shape,
    )


def count_rows(path: Path) -> int:
    with open_file(path) as handle:
        _, dataset = find_dataset(handle)
        if dataset.ndim == 0:
            return 1
        if dataset.dtype.names and dataset.ndim > 1:
            return int(dataset.size)
        return int(dataset.shape[0])

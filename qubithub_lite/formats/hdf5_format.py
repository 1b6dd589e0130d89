"""HDF5: the first table-like dataset found by a bounded ``visititems`` walk (lexicographic
order; soft and external links are not followed) is previewed through h5py slicing, so
only its leading rows are read. Datasets whose raw data lives in other files (external
storage, virtual datasets) are never read: they could point at arbitrary server files.

Memory budgets come from the metadata, before any read: element sizes (a cell larger than
a preview may read is refused), whole chunks (a read decompresses each chunk it touches:
chunks larger than the read budget are refused, rows are cut so the chunks touched fit),
and for variable-length data (sizes not in the metadata) rows are read in small batches
until the budget is used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from .arrays import budget_array_rows, check_cell_size, numpy_type_name, tabulate
from .errors import FormatError
from .model import READ_BUDGET_BYTES, Preview
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


def _has_vlen(dtype: np.dtype) -> bool:
    if dtype.names:
        return any(_has_vlen(dtype.fields[n][0]) for n in dtype.names)
    return dtype.kind == "O"


def _vlen_bytes(value: object) -> int:
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, np.ndarray):
        return sum(_vlen_bytes(v) for v in value.flat) if value.dtype.kind == "O" else value.nbytes
    if isinstance(value, (tuple, np.void)):
        return sum(_vlen_bytes(v) for v in value)
    return 8


def _budget_vlen_rows(dataset: h5py.Dataset, rows: int) -> tuple[int, str | None]:
    """Variable-length data: read the leading rows in small batches, stop at the budget."""
    if dataset.ndim != 1:
        return rows, None
    used = got = 0
    step = 16
    while got < min(rows, dataset.shape[0]):
        batch = dataset[got:min(got + step, rows)]
        for value in batch:
            used += _vlen_bytes(value) + 16
            if used > READ_BUDGET_BYTES:
                if got == 0:
                    raise FormatError(
                        f"the first row of the HDF5 dataset is larger than {READ_BUDGET_BYTES >> 20} MiB; "
                        "it cannot be previewed")
                return got, (f"the HDF5 dataset's rows are large; a preview reads at most "
                             f"{READ_BUDGET_BYTES >> 20} MiB, so only the first {got} rows are shown")
            got += 1
        del batch
    return rows, None


def budget_rows(dataset: h5py.Dataset, rows: int) -> tuple[int, str | None]:
    dtype = dataset.dtype
    what = "HDF5 dataset"
    check_cell_size(dtype, what)
    shape = tuple(int(d) for d in dataset.shape)
    chunks = tuple(int(c) for c in dataset.chunks) if dataset.chunks else None
    rows, why = budget_array_rows(shape, dtype, rows, what, chunks)
    if _has_vlen(dtype):
        rows, vlen_why = _budget_vlen_rows(dataset, rows)
        why = vlen_why or why
    return rows, why


def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    with open_file(path) as handle:
        name, dataset = find_dataset(handle)
        rows, truncated = budget_rows(dataset, rows)
        table = tabulate(dataset, rows, h5_type_name)
        shape = [int(d) for d in dataset.shape]
    return table.preview(hdf5_path=name, shape=shape, truncated=truncated)


def count_rows(path: Path) -> int:
    with open_file(path) as handle:
        _, dataset = find_dataset(handle)
        if dataset.ndim == 0:
            return 1
        if dataset.dtype.names and dataset.ndim > 1:
            return int(dataset.size)
        return int(dataset.shape[0])

"""NumPy ``.npy``: the header is parsed (``numpy.lib.format``, bounded, literal-eval only)
and checked *before* any data is touched; object dtypes (pickles) are refused and never
loaded; data is read through a read-only memory map, so a preview touches only the
leading rows. Memory budgets come from the header: rows beyond the read budget are left
out, and of byte/text elements larger than a cell may be only their first bytes are mapped
(a view with a clipped dtype), so a 64 MiB string costs a page, not 64 MiB."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from .arrays import budget_array_rows, check_cell_size, tabulate
from .errors import FormatError
from .model import MAX_CELL_BYTES, MAX_CELL_CHARS, Preview
from .textio import require_nonempty

LABEL = "NumPy .npy"
MAGIC = b"\x93NUMPY"
#: numpy's own default; larger headers are refused.
MAX_HEADER_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class NpyHeader:
    version: tuple[int, int]
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_offset: int

    @property
    def total_rows(self) -> int:
        if not self.shape:
            return 1
        if self.dtype.names and len(self.shape) > 1:
            return math.prod(self.shape)  # structured n-d arrays are flattened into rows
        return self.shape[0]


def read_header(path: Path) -> NpyHeader:
    """Parse and validate the header; raise FormatError for anything unsafe or broken."""
    size = require_nonempty(path, LABEL)
    with path.open("rb") as fp:
        if fp.read(len(MAGIC)) != MAGIC:
            raise FormatError("the file is not a NumPy .npy file (missing \\x93NUMPY magic)")
        fp.seek(0)
        try:
            version = npformat.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(fp, max_header_size=MAX_HEADER_SIZE)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(fp, max_header_size=MAX_HEADER_SIZE)
            elif version == (3, 0) and hasattr(npformat, "_read_array_header"):
                # 3.0 only differs by allowing UTF-8 field names; numpy has no public reader.
                shape, fortran, dtype = npformat._read_array_header(
                    fp, version, max_header_size=MAX_HEADER_SIZE
                )
            else:
                raise FormatError(f"unsupported .npy format version {version[0]}.{version[1]}")
        except FormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, TokenError, …
            raise FormatError(f"the .npy header is invalid: {exc}") from None
        offset = fp.tell()
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise FormatError(
            "the .npy file holds Python objects (object dtype, stored as a pickle); "
            "such files are refused because loading them can run arbitrary code"
        )
    header = NpyHeader(version, tuple(int(d) for d in shape), bool(fortran), dtype, offset)
    expected = offset + math.prod(header.shape) * dtype.itemsize
    if size < expected:
        raise FormatError(
            f"the .npy file is truncated: the header announces {expected} bytes, the file has {size}"
        )
    return header


def open_array(path: Path, header: NpyHeader, dtype: np.dtype | None = None) -> np.ndarray:
    """A read-only memory map of the data (no pickle path exists here); ``dtype``: another
    dtype of the same item size to map it with (see :func:`clipped_dtype`)."""
    dtype = header.dtype if dtype is None else dtype
    if math.prod(header.shape) == 0:
        return np.empty(header.shape, dtype=dtype)
    return np.memmap(
        path,
        dtype=dtype,
        mode="r",
        offset=header.data_offset,
        shape=header.shape,
        order="F" if header.fortran_order else "C",
    )


def clipped_dtype(dtype: np.dtype) -> np.dtype | None:
    """For plain byte/text/void elements larger than a cell may be: a structured dtype of the
    same item size whose one field ``v`` is the element's first bytes (enough for a cell)."""
    if dtype.names or dtype.subdtype is not None or dtype.itemsize <= MAX_CELL_BYTES:
        return None
    if dtype.kind == "S":
        head = np.dtype(f"S{MAX_CELL_CHARS * 4}")
    elif dtype.kind == "U":
        head = np.dtype(f"{dtype.byteorder if dtype.byteorder in '<>' else '='}U{MAX_CELL_CHARS + 1}")
    elif dtype.kind == "V":
        head = np.dtype(f"V{MAX_CELL_CHARS * 4}")
    else:
        return None
    return np.dtype({"names": ["v"], "formats": [head], "offsets": [0], "itemsize": dtype.itemsize})


def sniff(path: Path) -> None:
    read_header(path)


def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    header = read_header(path)
    clipped = clipped_dtype(header.dtype)
    cell_dtype = header.dtype if clipped is None else clipped.fields["v"][0]
    check_cell_size(cell_dtype, ".npy array")
    rows, truncated = budget_array_rows(header.shape, cell_dtype, rows, ".npy array")
    array = open_array(path, header, clipped)
    try:
        table = tabulate(array if clipped is None else array["v"], rows)
    finally:
        del array
    return table.preview(shape=list(header.shape), truncated=truncated)


def count_rows(path: Path) -> int:
    return read_header(path).total_rows

"""Shared tabulation of n-d arrays (``.npy`` memmaps and HDF5 datasets).

Rules: the first axis gives the rows; a 1-D array is one column ``value``; a 2-D array
has columns ``col_0 …``; higher dimensions are flattened per row in C order into
``col_i_j…`` (index along each trailing axis); a structured/compound dtype gives one
column per field (structured arrays with more than one dimension are flattened into
rows). Only the needed leading block of the array is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .errors import FormatError
from .model import (
    MAX_CELL_BYTES, MAX_CELL_CHARS, MAX_PREVIEW_CELLS, MAX_PREVIEW_COLUMNS, MAX_RESPONSE_BYTES, READ_BUDGET_BYTES,
    Preview, unique_names,
)
from .values import to_jsonable


class ArrayLike(Protocol):
    shape: tuple[int, ...]
    dtype: np.dtype

    def __getitem__(self, key: Any) -> Any: ...


@dataclass(slots=True)
class Table:
    columns: list[str]
    rows: list[list[Any]]
    schema: dict[str, str]
    total_rows: int
    total_columns: int

    def preview(self, **details: Any) -> Preview:
        """The table as a ``Preview``, with the format's own ``details`` (shape, truncated, …)."""
        return Preview(columns=self.columns, rows=self.rows, total_rows=self.total_rows, dataset_schema=self.schema,
                       total_columns=self.total_columns, **details)


def numpy_type_name(dtype: np.dtype) -> str:
    """Schema type name of a (non-structured) numpy dtype."""
    if dtype.subdtype is not None:
        return "list"
    kind = dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iufc":
        return dtype.name
    if kind == "U":
        return "string"
    if kind == "S":
        return "binary"
    if kind == "M":
        return "datetime"
    if kind == "m":
        return "timedelta"
    if kind == "V":
        return "struct" if dtype.names else "binary"
    return "object"


def jsonable_array(values: np.ndarray) -> list[Any]:
    """An n-d array → nested lists of JSON-safe values (NaN/Inf → None, NaT → None)."""
    kind = values.dtype.kind
    if kind == "M":
        text = np.datetime_as_string(values)
        return _map(np.where(np.isnat(values), None, text).tolist(), lambda v: v)
    if kind == "m":
        return _map(np.where(np.isnat(values), None, values.astype(str)).tolist(), lambda v: v)
    if kind in "biu" and values.dtype.subdtype is None:
        return values.tolist()
    if kind == "f" and values.dtype.itemsize <= 8 and bool(np.isfinite(values).all()):
        return values.tolist()
    return _map(values.tolist(), to_jsonable)


def _map(nested: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(nested, list):
        return [_map(v, fn) for v in nested]
    return fn(nested)


def leading_slices(shape: tuple[int, ...], count: int) -> tuple[slice, ...]:
    """Slices selecting a block whose C-order flattening starts with the first ``count``
    elements of an array of ``shape``, and holds fewer than ``2 * count`` + one
    trailing block of elements."""
    slices: list[slice] = []
    for axis, dim in enumerate(shape):
        inner = math.prod(shape[axis + 1 :])
        need = min(dim, max(1, math.ceil(count / inner))) if inner else dim
        slices.append(slice(0, need))
        if need > 1:
            slices.extend(slice(None) for _ in shape[axis + 1 :])
            break
    return tuple(slices)


def read_prefix(array: ArrayLike, count: int) -> np.ndarray:
    """The first ``count`` elements of ``array`` in C order, as a 1-D numpy array."""
    block = np.asarray(array[leading_slices(tuple(array.shape), count)])
    return block.reshape(-1)[:count]


def tabulate(array: ArrayLike, rows: int, type_name: Callable[[np.dtype], str] = numpy_type_name) -> Table:
    shape = tuple(int(d) for d in array.shape)
    dtype = array.dtype
    if dtype.names:
        return _tabulate_structured(array, shape, rows, type_name)
    if len(shape) == 0:
        value = np.asarray(array[()])
        return Table(["value"], [[jsonable_array(value.reshape(1))[0]]], {"value": type_name(dtype)}, 1, 1)
    n = min(rows, shape[0])
    if len(shape) == 1:
        values = read_prefix(array, n) if n else np.empty(0, dtype)
        return Table(
            ["value"], [[v] for v in jsonable_array(values)], {"value": type_name(dtype)}, shape[0], 1
        )
    inner = shape[1:]
    width = math.prod(inner)
    shown = min(width, MAX_PREVIEW_COLUMNS)
    if len(inner) == 1:
        columns = [f"col_{i}" for i in range(shown)]
    else:
        index = np.unravel_index(np.arange(shown), inner)
        columns = ["col_" + "_".join(str(int(ix[c])) for ix in index) for c in range(shown)]
    if n and shown:
        block = np.asarray(array[(slice(0, n),) + leading_slices(inner, shown)])
        table = jsonable_array(block.reshape(n, -1)[:, :shown])
    else:
        table = [[] for _ in range(n)]
    kind = type_name(dtype)
    return Table(columns, table, dict.fromkeys(columns, kind), shape[0], width)


def _tabulate_structured(
    array: ArrayLike, shape: tuple[int, ...], rows: int, type_name: Callable[[np.dtype], str]
) -> Table:
    dtype = array.dtype
    names = list(dtype.names or ())
    total = math.prod(shape)
    n = min(rows, total)
    values = read_prefix(array, n) if n else np.empty(0, dtype)
    shown = names[:MAX_PREVIEW_COLUMNS]
    columns = unique_names(shown)
    per_field = [jsonable_array(values[name]) if n else [] for name in shown]
    table = [list(cells) for cells in zip(*per_field)] if n else []
    schema = {col: type_name(dtype.fields[name][0]) for col, name in zip(columns, shown)}
    return Table(columns, table, schema, total, len(names))


# Memory budgets (before reading) ---------------------------------------------------------
def read_block(shape: tuple[int, ...], rows: int, structured: bool) -> tuple[int, ...]:
    """Shape of the block :func:`tabulate` reads for ``rows`` rows of an array of ``shape``."""
    if not shape:
        return ()
    if structured or len(shape) == 1:
        slices = leading_slices(shape, min(rows, math.prod(shape) if structured else shape[0]))
    else:
        inner = shape[1:]
        slices = (slice(0, min(rows, shape[0])),) + leading_slices(inner, min(math.prod(inner), MAX_PREVIEW_COLUMNS))
    block = tuple(len(range(*s.indices(d))) for s, d in zip(slices, shape))
    return block + shape[len(block):]


def largest_field(dtype: np.dtype) -> int:
    """Bytes of the largest single cell of ``dtype`` (a field of a structured dtype)."""
    if dtype.names:
        return max((largest_field(dtype.fields[n][0]) for n in dtype.names), default=0)
    return dtype.itemsize


def check_cell_size(dtype: np.dtype, what: str) -> None:
    size = largest_field(dtype)
    if size > MAX_CELL_BYTES:
        raise FormatError(
            f"the {what} has elements of {size} bytes; a preview reads at most "
            f"{MAX_CELL_BYTES >> 20} MiB per cell, so it cannot be previewed"
        )


def budget_array_rows(shape: tuple[int, ...], dtype: np.dtype, rows: int, what: str,
                      chunks: tuple[int, ...] | None = None) -> tuple[int, str | None]:
    """How many rows :func:`tabulate` may read within READ_BUDGET_BYTES and MAX_PREVIEW_CELLS,
    from metadata only: element sizes, and for chunked (HDF5) data the whole chunks that a
    read decompresses. Raises FormatError when not even one row fits."""
    structured = bool(dtype.names)
    if not shape:
        return rows, None
    itemsize = max(1, dtype.itemsize)

    def cost(n: int) -> int:
        block = read_block(shape, n, structured)
        if chunks is None:
            return math.prod(block) * itemsize
        touched = math.prod(-(-b // c) for b, c in zip(block, chunks))
        return touched * math.prod(chunks) * itemsize

    if chunks is not None and math.prod(chunks) * itemsize > READ_BUDGET_BYTES:
        raise FormatError(
            f"the {what} is stored in chunks of {math.prod(chunks) * itemsize} bytes (uncompressed); a "
            f"preview decompresses at most {READ_BUDGET_BYTES >> 20} MiB, so it cannot be previewed"
        )
    total = math.prod(shape) if structured else shape[0]
    want = min(rows, total)
    if want == 0 or cost(want) <= READ_BUDGET_BYTES:
        fit, why = want, None
    else:
        lo, hi = 0, want  # cost(lo) fits, cost(hi) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cost(mid) <= READ_BUDGET_BYTES:
                lo = mid
            else:
                hi = mid
        if lo == 0:
            raise FormatError(
                f"one row of the {what} needs {cost(1)} bytes to read; a preview reads at most "
                f"{READ_BUDGET_BYTES >> 20} MiB, so it cannot be previewed"
            )
        fit = lo
        why = (f"the {what} needs {cost(want)} bytes to read {want} rows; a preview reads at most "
               f"{READ_BUDGET_BYTES >> 20} MiB, so only the first {fit} rows are shown")
    columns = len(dtype.names) if structured else (math.prod(shape[1:]) if len(shape) > 1 else 1)
    columns = min(columns, MAX_PREVIEW_COLUMNS)
    # What the shown cells take as Python values / JSON (a cell shows at most MAX_CELL_CHARS).
    row_out = max(8, min(itemsize, 4 * MAX_CELL_CHARS) if not structured else itemsize) * columns
    if fit * row_out > MAX_RESPONSE_BYTES and fit > 1:
        fit = max(1, MAX_RESPONSE_BYTES // row_out)
        why = (f"the {what}'s rows take about {row_out} bytes each to show; a preview answers at most "
               f"{MAX_RESPONSE_BYTES >> 20} MiB, so only the first {fit} rows are shown")
    if fit * columns > MAX_PREVIEW_CELLS:
        fit = max(1, MAX_PREVIEW_CELLS // columns)
        why = (f"a preview shows at most {MAX_PREVIEW_CELLS} cells; with {columns} columns only the "
               f"first {fit} rows are shown")
    return fit, why

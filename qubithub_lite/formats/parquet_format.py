"""Parquet: magic at both ends, footer length and footer metadata are checked; a preview
streams only the first record batch(es) (``ParquetFile.iter_batches``) and takes
``total_rows`` from the footer metadata.

Memory budget, before decoding anything: the page headers of every column chunk a read
will touch are walked (:mod:`.parquet_pages`: compressed and uncompressed page sizes,
dictionary pages included), and only as many rows are decoded as fit in
:data:`~.model.READ_BUDGET_BYTES`; a first row that does not fit is refused (preview) or
left undecoded (upload check).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import FormatError
from .model import MAX_CELL_CHARS, MAX_PREVIEW_CELLS, MAX_PREVIEW_COLUMNS, READ_BUDGET_BYTES, Preview, unique_names
from .parquet_pages import walk_chunk
from .textio import require_nonempty
from .values import to_jsonable

LABEL = "Parquet"
MAGIC = b"PAR1"
ENCRYPTED_MAGIC = b"PARE"
#: Refuse footers (metadata) larger than this: parsed, a footer takes ~15x its size
#: (a 13 MiB footer of 100,000 row groups took 190 MiB).
MAX_FOOTER_BYTES = 4 << 20
#: Footers larger than this are parsed one at a time (across every preview and upload check).
LARGE_FOOTER_BYTES = 256 << 10
_LARGE_FOOTERS = threading.Lock()
#: Rows decoded by ``sniff`` to check that the data pages are readable too.
SNIFF_ROWS = 10
#: I/O buffer for column chunks; without pre-buffering only the pages needed are read.
BUFFER_SIZE = 64 << 10


#: Arrow type families whose schema type name differs from the family's.
_TEMPORAL_NAMES = {"timestamp": "datetime", "duration": "timedelta"}


def arrow_type_name(t: pa.DataType) -> str:
    """Schema type name of an Arrow type."""
    types = pa.types
    if types.is_dictionary(t):
        return arrow_type_name(t.value_type)
    if types.is_boolean(t):
        return "bool"
    if types.is_integer(t):
        return str(t)  # int8 … uint64
    if types.is_floating(t):
        return {16: "float16", 32: "float32"}.get(t.bit_width, "float64")
    if types.is_string(t) or types.is_large_string(t) or getattr(types, "is_string_view", _no)(t):
        return "string"
    if (
        types.is_binary(t)
        or types.is_large_binary(t)
        or types.is_fixed_size_binary(t)
        or getattr(types, "is_binary_view", _no)(t)
    ):
        return "binary"
    for name in ("timestamp", "date", "time", "duration", "decimal", "map"):
        if getattr(types, f"is_{name}")(t):
            return _TEMPORAL_NAMES.get(name, name)
    if types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t):
        return "list"
    if getattr(types, "is_list_view", _no)(t) or getattr(types, "is_large_list_view", _no)(t):
        return "list"
    if types.is_struct(t):
        return "struct"
    if types.is_null(t):
        return "null"
    return str(t)


def _no(_: Any) -> bool:
    return False


def _check_frame(path: Path) -> int:
    size = require_nonempty(path, LABEL)
    if size < 12:
        raise FormatError(f"the file is too small ({size} bytes) to be a Parquet file")
    with path.open("rb") as fp:
        head = fp.read(4)
        fp.seek(size - 8)
        tail = fp.read(8)
    if head != MAGIC:
        raise FormatError("the file is not a Parquet file (missing PAR1 magic at the start)")
    if tail[4:] == ENCRYPTED_MAGIC:
        raise FormatError("encrypted Parquet files are not supported")
    if tail[4:] != MAGIC:
        raise FormatError("the Parquet file is truncated or corrupt (missing PAR1 magic at the end)")
    footer = int.from_bytes(tail[:4], "little")
    if footer + 12 > size:
        raise FormatError("the Parquet file is truncated or corrupt (footer length out of range)")
    if footer > MAX_FOOTER_BYTES:
        raise FormatError(
            f"the Parquet footer (metadata) is larger than {MAX_FOOTER_BYTES >> 20} MiB "
            "(too many row groups or columns?)")
    return footer


def open_file(path: Path) -> pq.ParquetFile:
    """Open after the frame checks; the footer metadata and schema must parse."""
    _check_frame(path)
    try:
        handle = pq.ParquetFile(path, pre_buffer=False, buffer_size=BUFFER_SIZE)
        handle.metadata  # noqa: B018 - force parsing
        handle.schema_arrow  # noqa: B018
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(f"the Parquet metadata cannot be read (corrupt?): {exc}") from None
    return handle


def _release_memory() -> None:
    """Give freed heap back to the system: parsed footers are many small C++ allocations,
    spread over the malloc arenas of whichever worker threads parsed them."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc
        pass


def _one_large_footer_at_a_time(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Files with a large footer are handled by one caller at a time (across every preview
    and upload check), and their parsed metadata is given back to the system afterwards,
    so concurrent requests cannot multiply its memory."""

    @functools.wraps(fn)
    def wrapper(path: Path, *args: Any) -> Any:
        if _check_frame(path) <= LARGE_FOOTER_BYTES:
            return fn(path, *args)
        with _LARGE_FOOTERS:
            try:
                return fn(path, *args)
            finally:
                _release_memory()

    return wrapper


def _has_lists(t: pa.DataType) -> bool:
    """Does a column of type ``t`` have repeated (list/map) values (Parquet repetition levels)?"""
    types = pa.types
    if types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t) or types.is_map(t):
        return True
    if types.is_struct(t):
        return any(_has_lists(t.field(i).type) for i in range(t.num_fields))
    if types.is_dictionary(t):
        return _has_lists(t.value_type)
    return False


def budget_rows(path: Path, handle: pq.ParquetFile, rows: int, columns: list[str] | None) -> tuple[int, str | None]:
    """How many leading rows can be decoded within READ_BUDGET_BYTES (page headers walked)
    and MAX_PREVIEW_CELLS, and why fewer than ``rows`` (else None). 0 when not even the first
    row fits: the message says which column."""
    meta = handle.metadata  # (never meta.schema: it is a reference cycle that keeps the footer alive)
    if meta.num_row_groups == 0:
        return rows, None
    first = meta.row_group(0)
    names = [first.column(i).path_in_schema for i in range(meta.num_columns)]
    tops = [n.split(".")[0] for n in names]
    repeated = {f.name: _has_lists(f.type) for f in handle.schema_arrow}
    wanted = set(columns) if columns is not None else None
    leaves = [i for i, top in enumerate(tops) if wanted is None or top in wanted]
    flat = {i: not repeated.get(tops[i], True) for i in leaves}
    shown_columns = len(columns) if columns is not None else len(set(tops))
    if shown_columns and rows * shown_columns > MAX_PREVIEW_CELLS:
        rows = max(1, MAX_PREVIEW_CELLS // shown_columns)
        cells_why = (f"a preview shows at most {MAX_PREVIEW_CELLS} cells; with {shown_columns} columns only the "
                     f"first {rows} rows are shown")
    else:
        cells_why = None
    used = done = 0
    with path.open("rb") as fp:
        for g in range(meta.num_row_groups):
            if done >= rows:
                break
            group = meta.row_group(g)
            take = min(rows - done, group.num_rows)
            if take <= 0:
                continue
            walks = {}
            for i in leaves:
                col = group.column(i)
                start = col.data_page_offset
                if col.has_dictionary_page and col.dictionary_page_offset is not None and 0 < col.dictionary_page_offset < start:
                    start = col.dictionary_page_offset
                walks[i] = walk_chunk(fp, start, col.total_compressed_size, take, group.num_rows, flat[i],
                                      READ_BUDGET_BYTES - used)
            candidates = sorted({take} | {c for w in walks.values() for c, _ in w.points if 0 < c < take},
                                reverse=True)
            for n in candidates:
                costs = [w.cost(n) for w in walks.values()]
                if all(c is not None for c in costs) and used + sum(costs) <= READ_BUDGET_BYTES:
                    break
            else:
                n = 0
            if n == 0:
                if done == 0:
                    worst = max(walks, key=lambda i: walks[i].points[0][1] if walks[i].points else 0)
                    return 0, (f"the first row of column {names[worst]!r} needs more than "
                               f"{READ_BUDGET_BYTES >> 20} MiB to decode (page sizes); a preview decodes at most that")
                return done, (f"a preview decodes at most {READ_BUDGET_BYTES >> 20} MiB of pages; only the first "
                              f"{done} rows are shown")
            used += sum(w.cost(n) or 0 for w in walks.values())
            done += n
            if n < take:
                return done, (f"a preview decodes at most {READ_BUDGET_BYTES >> 20} MiB of pages; only the first "
                              f"{done} rows are shown")
    return min(rows, done) if meta.num_row_groups else rows, cells_why


def _first_rows(handle: pq.ParquetFile, rows: int, columns: list[str] | None) -> pa.Table:
    batches: list[pa.RecordBatch] = []
    got = 0
    try:
        if rows > 0:
            for batch in handle.iter_batches(batch_size=rows, columns=columns, use_threads=False):
                batches.append(batch)
                got += batch.num_rows
                if got >= rows:
                    break
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(f"the Parquet data cannot be read (corrupt?): {exc}") from None
    schema = batches[0].schema if batches else handle.schema_arrow
    if columns is not None and not batches:
        schema = pa.schema([schema.field(name) for name in columns])
    return pa.Table.from_batches(batches, schema=schema).slice(0, rows)


def _budget(path: Path, handle: pq.ParquetFile, rows: int, columns: list[str] | None) -> tuple[int, str | None]:
    try:
        return budget_rows(path, handle, rows, columns)
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        raise FormatError(f"the Parquet metadata cannot be read (corrupt?): {exc}") from None


@_one_large_footer_at_a_time
def sniff(path: Path) -> None:
    """The footer must parse, and the first rows that fit the read budget must decode
    (a file whose first row alone is over the budget is checked by its metadata only)."""
    with open_file(path) as handle:
        names = list(handle.schema_arrow.names)
        columns = names[:MAX_PREVIEW_COLUMNS] if len(names) > MAX_PREVIEW_COLUMNS and len(set(names)) == len(names) \
            else None
        rows, _ = _budget(path, handle, SNIFF_ROWS, columns)
        _first_rows(handle, rows, columns)


def _clip(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cut long strings/binaries in Arrow, before they become Python objects (a cell shows at
    most MAX_CELL_CHARS characters anyway)."""
    t = column.type
    types = pa.types
    try:
        if types.is_string(t) or types.is_large_string(t):
            return pc.utf8_slice_codeunits(column, 0, MAX_CELL_CHARS + 1)
        if types.is_binary(t) or types.is_large_binary(t):
            return pc.binary_slice(column, 0, MAX_CELL_CHARS * 4 + 1)
    except (pa.ArrowException, AttributeError):  # older pyarrow: no binary_slice
        pass
    return column


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    column = _clip(column)
    try:
        values = column.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):
        values = column.cast(pa.string()).to_pylist()  # e.g. timestamps beyond year 9999
    return [to_jsonable(v) for v in values]


@_one_large_footer_at_a_time
def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    with open_file(path) as handle:
        schema = handle.schema_arrow
        names = list(schema.names)
        shown = names[:MAX_PREVIEW_COLUMNS]
        selected = shown if len(shown) == len(set(shown)) and len(shown) < len(names) else None
        rows, truncated = _budget(path, handle, rows, selected)
        if rows == 0 and truncated:
            raise FormatError(f"the Parquet file cannot be previewed: {truncated}")
        table = _first_rows(handle, rows, selected)
        total = handle.metadata.num_rows
    columns = unique_names(table.column_names[:MAX_PREVIEW_COLUMNS])
    values = [_column_values(table.column(i)) for i in range(len(columns))]
    return Preview(
        columns=columns,
        rows=[list(cells) for cells in zip(*values)] if values else [],
        total_rows=total,
        dataset_schema={
            name: arrow_type_name(table.schema.field(i).type) for i, name in enumerate(columns)
        },
        total_columns=len(names),
        truncated=truncated,
    )


@_one_large_footer_at_a_time
def count_rows(path: Path) -> int:
    with open_file(path) as handle:
        return int(handle.metadata.num_rows)

"""Parquet: magic at both ends, footer length and footer metadata are checked; a preview
streams only the first record batch(es) (``ParquetFile.iter_batches``) and takes
``total_rows`` from the footer metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import FormatError
from .model import MAX_PREVIEW_COLUMNS, Preview, unique_names
from .textio import require_nonempty
from .values import to_jsonable

LABEL = "Parquet"
MAGIC = b"PAR1"
ENCRYPTED_MAGIC = b"PARE"
#: Refuse footers (metadata) larger than this.
MAX_FOOTER_BYTES = 64 << 20
#: Rows decoded by ``sniff`` to check that the data pages are readable too.
SNIFF_ROWS = 10
#: I/O buffer for column chunks; without pre-buffering only the pages needed are read.
BUFFER_SIZE = 64 << 10


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
    if types.is_timestamp(t):
        return "datetime"
    if types.is_date(t):
        return "date"
    if types.is_time(t):
        return "time"
    if types.is_duration(t):
        return "timedelta"
    if types.is_decimal(t):
        return "decimal"
    if types.is_map(t):
        return "map"
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


def _check_frame(path: Path) -> None:
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
        raise FormatError(f"the Parquet footer is larger than {MAX_FOOTER_BYTES >> 20} MiB")


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


def _first_rows(handle: pq.ParquetFile, rows: int, columns: list[str] | None) -> pa.Table:
    batches: list[pa.RecordBatch] = []
    got = 0
    try:
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


def sniff(path: Path) -> None:
    with open_file(path) as handle:
        _first_rows(handle, SNIFF_ROWS, None)


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    try:
        values = column.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):
        values = column.cast(pa.string()).to_pylist()  # e.g. timestamps beyond year 9999
    return [to_jsonable(v) for v in values]


def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    with open_file(path) as handle:
        schema = handle.schema_arrow
        names = list(schema.names)
        shown = names[:MAX_PREVIEW_COLUMNS]
        selected = shown if len(shown) == len(set(shown)) and len(shown) < len(names) else None
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
    )


def count_rows(path: Path) -> int:
    with open_file(path) as handle:
        return int(handle.metadata.num_rows)

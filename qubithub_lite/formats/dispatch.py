"""Route ``sniff``/``preview``/``count_rows`` to the module of each format.

Format modules are imported on first use, so e.g. h5py is only loaded for HDF5 files.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

from .model import DEFAULT_PREVIEW_ROWS, MAX_RESPONSE_BYTES, Preview, validate_rows

#: The dataset formats of the API reference → implementing module.
_MODULES: dict[str, str] = {
    "csv": "csv_format",
    "npy": "npy_format",
    "hdf5": "hdf5_format",
    "json": "json_format",
    "parquet": "parquet_format",
}
FORMATS: tuple[str, ...] = tuple(_MODULES)
#: Formats whose row count is in the file's metadata (``count_rows`` is O(1) for them);
#: for the others it is a streaming pass over the whole file.
METADATA_COUNT_FORMATS: frozenset[str] = frozenset({"npy", "hdf5", "parquet"})


def _module(fmt: str) -> ModuleType:
    try:
        name = _MODULES[fmt]
    except (KeyError, TypeError):
        raise ValueError(
            f"unsupported dataset format {fmt!r}; expected one of {', '.join(FORMATS)}"
        ) from None
    return importlib.import_module(f"{__package__}.{name}")


def sniff(path: Path, fmt: str) -> None:
    """Raise :class:`FormatError` unless ``path`` really is a ``fmt`` file.

    Content-based and bounded: only the head (text formats), the header (npy), the
    footer and first rows (parquet) or the object tree walk (hdf5) are read.
    """
    _module(fmt).sniff(Path(path))


def preview(
    path: Path, fmt: str, rows: int = DEFAULT_PREVIEW_ROWS, *, total_rows: int | None = None
) -> Preview:
    """The first ``rows`` rows (1 ≤ rows ≤ 1000, else ``ValueError``).

    ``total_rows``: a count computed earlier with :func:`count_rows` (stored per version);
    it is used for csv/json, whose files carry no row count. Without it, csv/json
    previews report ``total_rows=None`` unless the preview reached the end of the file.
    npy/hdf5/parquet always report the count from their metadata.
    """
    rows = validate_rows(rows)
    if total_rows is not None and (isinstance(total_rows, bool) or total_rows < 0):
        raise ValueError(f"total_rows must be a non-negative integer, got {total_rows!r}")
    return fit_response(_module(fmt).preview(Path(path), rows, total_rows))


def fit_response(result: Preview) -> Preview:
    """Leave out the rows beyond MAX_RESPONSE_BYTES of JSON (measured row by row, ASCII-escaped:
    an upper bound of the UTF-8 body); the first row always stays (cells are capped)."""
    used = 0
    for i, row in enumerate(result.rows):
        used += len(json.dumps(row, default=str)) + 1
        if used > MAX_RESPONSE_BYTES and i > 0:
            result.rows = result.rows[:i]
            result.truncated = (f"a preview answers at most {MAX_RESPONSE_BYTES >> 20} MiB of JSON; only the "
                                f"first {i} rows are shown")
            break
    return result


def count_rows(path: Path, fmt: str) -> int:
    """Number of data rows: from metadata for npy/hdf5/parquet; a streaming pass in
    bounded memory for csv (header excluded, quoted newlines handled) and json. The csv
    and json passes also validate the whole file (UTF-8, no NUL bytes; every array
    element for JSON arrays) and raise :class:`FormatError` on bad content."""
    return int(_module(fmt).count_rows(Path(path)))

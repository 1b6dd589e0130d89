"""Dataset file formats: content sniffing, bounded previews and row counting.

Pure, synchronous and server-independent (call it from a worker thread)::

    from qubithub_lite.formats import FormatError, sniff, preview, count_rows

    sniff(path, "parquet")                 # FormatError if not really parquet
    total = count_rows(path, "csv")        # once per version; store it
    p = preview(path, "csv", 100, total_rows=total)
    body = p.to_dict()                     # {columns, rows, total_rows, dataset_schema, …}

Formats: ``csv | npy | hdf5 | json | parquet`` (:data:`FORMATS`). Bad files raise
:class:`FormatError` (human message); bad arguments raise ``ValueError``.
"""

from .dispatch import FORMATS, METADATA_COUNT_FORMATS, count_rows, preview, sniff
from .errors import FormatError
from .model import (
    DEFAULT_PREVIEW_ROWS,
    MAX_PREVIEW_COLUMNS,
    MAX_PREVIEW_ROWS,
    MIN_PREVIEW_ROWS,
    Preview,
    validate_rows,
)
from .values import to_jsonable

__all__ = [
    "DEFAULT_PREVIEW_ROWS",
    "FORMATS",
    "METADATA_COUNT_FORMATS",
    "MAX_PREVIEW_COLUMNS",
    "MAX_PREVIEW_ROWS",
    "MIN_PREVIEW_ROWS",
    "FormatError",
    "Preview",
    "count_rows",
    "preview",
    "sniff",
    "to_jsonable",
    "validate_rows",
]

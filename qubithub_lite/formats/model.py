"""The preview result and the limits shared by every format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Inclusive bounds for the ``rows`` argument of :func:`preview`.
MIN_PREVIEW_ROWS = 1
MAX_PREVIEW_ROWS = 1000
DEFAULT_PREVIEW_ROWS = 100

#: At most this many columns are returned (the rest are counted in ``total_columns``).
MAX_PREVIEW_COLUMNS = 1024
#: Cell caps so one preview stays small: longer strings/bytes are cut, longer lists too.
MAX_CELL_CHARS = 1024
MAX_CELL_ITEMS = 100
MAX_CELL_DEPTH = 16


@dataclass(slots=True)
class Preview:
    """The first rows of a dataset file, JSON-safe.

    ``columns`` are unique names; each row has ``len(columns)`` JSON-safe values;
    ``dataset_schema`` maps every column to a type name (``int64``, ``float64``,
    ``string``, ``bool``, ``datetime``, ``date``, ``binary``, ``list``, ``object``, …).
    ``total_rows`` is the number of data rows in the whole file when it is known
    (from metadata, from a caller-supplied count, or because the preview reached the
    end of the file), else ``None``.
    """

    columns: list[str]
    rows: list[list[Any]]
    total_rows: int | None
    dataset_schema: dict[str, str]
    #: How many columns the file really has (``> len(columns)`` when capped).
    total_columns: int = 0
    #: Format-specific details; ``None`` means "not applicable".
    hdf5_path: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None
    #: ``"array"``/``"lines"``/``"document"`` for JSON.
    layout: str | None = None
    #: Array shape for ``npy``/``hdf5``.
    shape: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The API body: the four reference keys plus the details that apply."""
        out: dict[str, Any] = {
            "columns": list(self.columns),
            "rows": self.rows,
            "total_rows": self.total_rows,
            "dataset_schema": dict(self.dataset_schema),
            "total_columns": self.total_columns,
        }
        for key in ("hdf5_path", "delimiter", "has_header", "layout", "shape"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


def unique_names(names: list[str], *, prefix: str = "col") -> list[str]:
    """Make column names non-empty and unique (``a, a`` → ``a, a_1``)."""
    seen: set[str] = set()
    out: list[str] = []
    for i, raw in enumerate(names):
        base = str(raw).strip() if raw is not None else ""
        if not base:
            base = f"{prefix}_{i}"
        name, n = base, 1
        while name in seen:
            name = f"{base}_{n}"
            n += 1
        seen.add(name)
        out.append(name)
    return out


def validate_rows(rows: object) -> int:
    """Return ``rows`` if it is an int in [1, 1000], else raise ``ValueError``."""
    if isinstance(rows, bool) or not isinstance(rows, int):
        raise ValueError(f"rows must be an integer, got {type(rows).__name__}")
    if not MIN_PREVIEW_ROWS <= rows <= MAX_PREVIEW_ROWS:
        raise ValueError(
            f"rows must be between {MIN_PREVIEW_ROWS} and {MAX_PREVIEW_ROWS}, got {rows}"
        )
    return rows

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

#: Memory budgets of one preview, enforced before reading: at most this many bytes of
#: array elements / decoded pages are read, no single cell larger than MAX_CELL_BYTES is
#: read whole, and at most MAX_PREVIEW_CELLS cells are returned. Rows beyond a budget are
#: left out (``Preview.truncated`` says so); a cell too large to read at all is refused.
READ_BUDGET_BYTES = 16 << 20
MAX_CELL_BYTES = 1 << 20
MAX_PREVIEW_CELLS = 100_000
#: A preview's JSON body is at most about this big (rows beyond it are left out).
MAX_RESPONSE_BYTES = 4 << 20


def budget_rows(rows: int, row_bytes: int, columns: int, what: str) -> tuple[int, str | None]:
    """How many of ``rows`` fit the budgets when one row needs ``row_bytes`` to read and has
    ``columns`` cells; with the message that says why fewer are shown (else None)."""
    fit = rows
    why = None
    if row_bytes > 0 and rows * row_bytes > READ_BUDGET_BYTES:
        fit = max(1, READ_BUDGET_BYTES // row_bytes)
        why = (f"{what} rows need {row_bytes} bytes each to read; a preview reads at most "
               f"{READ_BUDGET_BYTES >> 20} MiB, so only the first {fit} rows are shown")
    if columns > 0 and fit * columns > MAX_PREVIEW_CELLS:
        fit = max(1, MAX_PREVIEW_CELLS // columns)
        why = (f"a preview shows at most {MAX_PREVIEW_CELLS} cells; with {columns} columns "
               f"only the first {fit} rows are shown")
    return min(fit, rows), why if fit < rows else None


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
    #: Why fewer rows than asked for are shown (a memory budget), else ``None``.
    truncated: str | None = None
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
        for key in ("hdf5_path", "delimiter", "has_header", "layout", "shape", "truncated"):
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

"""Turn values read from data files into JSON-safe Python values.

Rules: NaN/±Inf → ``None``; numpy scalars → Python scalars; complex → ``[real, imag]``;
bytes → UTF-8 text when they decode, else base64; dates/datetimes/times → ISO 8601
strings; ``Decimal`` → float when it has at most 15 significant digits, else its exact
string; containers recursively. Long strings/bytes and long containers are cut to the
preview cell caps of :mod:`.model`.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from .model import MAX_CELL_CHARS, MAX_CELL_DEPTH, MAX_CELL_ITEMS

_ELLIPSIS = "…"


def _text(value: str) -> str:
    if len(value) > MAX_CELL_CHARS:
        return value[:MAX_CELL_CHARS] + _ELLIPSIS
    return value


def _bytes(value: bytes) -> str:
    cut = value[: MAX_CELL_CHARS * 4]
    try:
        return _text(cut.decode("utf-8"))
    except UnicodeDecodeError:
        raw = value[: (MAX_CELL_CHARS // 4) * 3]
        out = base64.b64encode(raw).decode("ascii")
        return out + _ELLIPSIS if len(value) > len(raw) else out


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _datetime64(value: np.datetime64) -> str | None:
    if np.isnat(value):
        return None
    return str(np.datetime_as_string(value))


def _timedelta64(value: np.timedelta64) -> str | None:
    if np.isnat(value):
        return None
    return str(value)


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Return a JSON-serialisable (``json.dumps(..., allow_nan=False)``-safe) value."""
    if isinstance(value, np.generic):  # before float/str: np.float64 subclasses float
        return _numpy_scalar(value, _depth)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(bytes(value))
    if isinstance(value, complex):
        return [_float(value.real), _float(value.imag)]
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if _depth >= MAX_CELL_DEPTH:
        return _text(repr(value))
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return to_jsonable(value[()], _depth)
        return _sequence(value[: MAX_CELL_ITEMS + 1], _depth, len(value))
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_CELL_ITEMS:
                out[_ELLIPSIS] = f"{len(value) - MAX_CELL_ITEMS} more"
                break
            out[_text(str(k))] = to_jsonable(v, _depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return _sequence(list(value)[: MAX_CELL_ITEMS + 1], _depth, len(value))
    if _is_null_like(value):
        return None
    iso = getattr(value, "isoformat", None)
    if callable(iso):  # pandas.Timestamp and friends
        return iso()
    if isinstance(value, Iterable):
        return _text(repr(value))
    return _text(str(value))


def _sequence(items: Any, depth: int, length: int) -> list[Any]:
    out = [to_jsonable(v, depth + 1) for v in list(items)[:MAX_CELL_ITEMS]]
    if length > MAX_CELL_ITEMS:
        out.append(_ELLIPSIS)
    return out


def _decimal(value: Decimal) -> float | str | None:
    if not value.is_finite():
        return None
    if len(value.as_tuple().digits) <= 15:
        return float(value)
    return str(value)


def _is_null_like(value: Any) -> bool:
    try:
        return bool(value != value)  # NaT, pandas.NA-like
    except Exception:  # noqa: BLE001 - ambiguous truth values etc.
        return False


def _numpy_scalar(value: np.generic, depth: int) -> Any:
    if isinstance(value, np.datetime64):
        return _datetime64(value)
    if isinstance(value, np.timedelta64):
        return _timedelta64(value)
    if isinstance(value, np.void):
        if value.dtype.names:
            return {name: to_jsonable(value[name], depth + 1) for name in value.dtype.names}
        return _bytes(value.tobytes())
    return to_jsonable(value.item(), depth)


# --- type names for values that carry no declared type (CSV cells, JSON values) ---


def python_type_name(value: Any) -> str | None:
    """Type name of one decoded value; ``None`` for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64" if -(2**63) <= value < 2**63 else "string"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return "string"


def merge_type_names(names: Iterable[str | None]) -> str:
    """One type name for a column from the names of its non-null values."""
    kinds = {n for n in names if n is not None}
    if not kinds:
        return "null"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds <= {"int64", "float64"}:
        return "float64"
    if kinds <= {"date", "datetime"}:
        return "datetime"
    return "mixed"

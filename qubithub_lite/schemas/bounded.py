"""Bounds for untrusted nested data: JSON request bodies and free-form objects.

Every check here is iterative (no recursion, so no ``RecursionError``) and linear in the
size of the input. :func:`load_json` parses a request body; :data:`FreeForm` is the one
pydantic type for user-defined objects (``extra_metadata``, run ``options``, a manifest's
``[extra]``): nesting depth, node count, key/string length and serialized size are bounded
at validation, so nothing that cannot be stored and served again is ever accepted.
"""

from __future__ import annotations

import array
import datetime as dt
import itertools
import json
import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

#: A request body nested deeper than this is refused before validation.
MAX_BODY_DEPTH = 32
#: Free-form objects: at most this many levels below the field itself ...
FREE_FORM_DEPTH = 10
#: ... this many values in all (containers and leaves) ...
FREE_FORM_NODES = 5_000
#: ... keys and strings this long ...
FREE_FORM_KEY_CHARS = 200
FREE_FORM_STR_CHARS = 10_000
#: ... and at most this many bytes once serialized as JSON.
FREE_FORM_BYTES = 64 * 1024
#: Integers in free-form objects fit a signed 64-bit integer (SQLite's, most clients').
INT_LIMIT = 2**63
#: JSON numbers longer than this are refused by the parser (Python refuses > 4300 digits
#: with a ValueError anyway; nothing legitimate is this long).
MAX_NUMBER_CHARS = 400

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: ``\u0000`` in a JSON text (a NUL character, or text that spells it: the exact walk decides).
_NUL_ESCAPE = b"\\u0000"


class JsonInputError(ValueError):
    """The body is not JSON that this server accepts; the message says why."""


#: A JSON string (the document is known to be valid JSON when this is used).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
#: Opening brackets to +1, closing ones to -1 (as signed bytes).
_DELTAS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether valid JSON text nests lists/objects deeper than ``limit``.

    Linear and mostly C-speed: strings are cut out, only brackets are kept, and the
    running sum of +1/-1 per bracket is the nesting depth."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    deltas = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_DELTAS)
    return max(itertools.accumulate(array.array("b", deltas)), default=0) > limit


def _strict_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonInputError("number too long")
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"number {text[:40]} is out of range")
    return value


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonInputError("number too long")
    return int(text)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonInputError(f"duplicate key {key[:60]!r}")
            seen.add(key)
    return out


def _check_text(value: Any) -> None:
    """Refuse lone surrogates (``"\\ud800"``): they cannot be stored or sent as UTF-8; and NUL
    characters (``"\\u0000"``): PostgreSQL cannot store them in text or JSON."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise JsonInputError("strings must not contain unpaired surrogates") from None
            if "\x00" in node:
                raise JsonInputError("strings must not contain NUL characters (\\u0000)")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def load_json(raw: bytes, max_depth: int = MAX_BODY_DEPTH) -> Any:
    """Parse a JSON document strictly: UTF-8, no NaN/Infinity, no duplicate keys, bounded
    numbers and nesting. Raises :class:`JsonInputError` with a clear message."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_strict_constant, parse_float=_parse_float, parse_int=_parse_int,
                           object_pairs_hook=_unique_pairs)
    except JsonInputError:
        raise
    except RecursionError:
        raise JsonInputError(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError and int() refusals
        raise JsonInputError("malformed JSON body") from None
    # Far deeper input already stopped the parser above with a RecursionError.
    if json_depth_exceeds(raw, max_depth):
        raise JsonInputError(f"JSON nested deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(raw) or _NUL_ESCAPE in raw:
        _check_text(value)
    return value


# Free-form objects ------------------------------------------------------------------
def check_free_form(value: dict[str, Any]) -> dict[str, Any]:
    """Bound a user-defined object; raises ``ValueError`` naming the first problem."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > FREE_FORM_NODES:
            raise ValueError(f"at most {FREE_FORM_NODES} values in all")
        if isinstance(node, dict):
            if depth > FREE_FORM_DEPTH:
                raise ValueError(f"nested deeper than {FREE_FORM_DEPTH} levels")
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ValueError("keys must be strings")
                if len(key) > FREE_FORM_KEY_CHARS:
                    raise ValueError(f"keys must be at most {FREE_FORM_KEY_CHARS} characters")
                _check_str(key)
                stack.append((child, depth + 1))
        elif isinstance(node, (list, tuple)):
            if depth > FREE_FORM_DEPTH:
                raise ValueError(f"nested deeper than {FREE_FORM_DEPTH} levels")
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str):
            if len(node) > FREE_FORM_STR_CHARS:
                raise ValueError(f"strings must be at most {FREE_FORM_STR_CHARS} characters")
            _check_str(node)
        elif isinstance(node, bool) or node is None:
            pass
        elif isinstance(node, int):
            if not -INT_LIMIT <= node < INT_LIMIT:
                raise ValueError("integers must fit in 64 bits")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError("numbers must be finite")
        elif isinstance(node, (dt.date, dt.time)):  # TOML dates and times (stored as ISO 8601)
            pass
        else:
            raise ValueError(f"unsupported value of type {type(node).__name__}")
    size = len(json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode())
    if size > FREE_FORM_BYTES:
        raise ValueError(f"at most {FREE_FORM_BYTES // 1024} KiB as JSON")
    return value


def _check_str(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings must not contain unpaired surrogates") from None


#: A user-defined JSON object of bounded depth and size (see the module docstring).
FreeForm = Annotated[
    dict[str, Any],
    AfterValidator(check_free_form),
    Field(
        description=f"Free-form JSON object: at most {FREE_FORM_DEPTH} levels deep, {FREE_FORM_NODES} values, "
        f"{FREE_FORM_BYTES // 1024} KiB as JSON; keys up to {FREE_FORM_KEY_CHARS} characters.",
        json_schema_extra={"maxProperties": FREE_FORM_NODES},
    ),
]

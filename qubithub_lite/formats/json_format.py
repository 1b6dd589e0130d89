"""JSON datasets: a top-level array of records (or of arrays/scalars), or JSON Lines.

The file is never loaded whole: values are decoded one at a time from a bounded text
window (``json.JSONDecoder.raw_decode``), and each decoded record is checked against
bomb limits (nesting depth, number length, record size).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import FormatError
from .model import MAX_PREVIEW_COLUMNS, Preview, budget_rows, unique_names
from .textio import CHUNK_BYTES, Utf8Validator, read_text_head, require_nonempty
from .values import merge_type_names, python_type_name, to_jsonable

LABEL = "JSON"
#: Deepest nesting accepted in one record (the record itself is depth 1).
MAX_DEPTH = 64
#: Longest number literal accepted (digits, sign, exponent…).
MAX_NUMBER_CHARS = 100
#: Largest single record (array element or line), in characters (as Python objects a
#: record can take ~20x its text: ``[{},{},…]``).
MAX_RECORD_CHARS = 1 << 20
#: A preview decodes at most about this many characters (and shows at most MAX_PREVIEW_CELLS cells).
PREVIEW_BUDGET_CHARS = 2 << 20
#: A file that is one pretty-printed object is read whole only up to this size (it is one record).
MAX_DOCUMENT_BYTES = MAX_RECORD_CHARS
#: Records checked by ``sniff``.
SNIFF_RECORDS = 100
_READ_CHARS = 1 << 20

_WS = re.compile(r"[ \t\n\r]*")


# ---------------------------------------------------------------- bounded decoding


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise FormatError(f"the JSON file has a number with more than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise FormatError(f"the JSON file has a number longer than {MAX_NUMBER_CHARS} characters")
    return float(text)


#: Strict decoder for sniff/preview; the default (C-speed) one for counting.
STRICT_DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_float=_bounded_float)
FAST_DECODER = json.JSONDecoder()


def check_depth(value: Any) -> None:
    """Raise FormatError when ``value`` nests deeper than MAX_DEPTH (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise FormatError(f"the JSON file nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


class _Stop:
    """Stops a reader once ``budget`` characters/bytes were consumed (``None``: never)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.hit = False

    def exceeded(self, position: int) -> bool:
        if self.budget is not None and position > self.budget:
            self.hit = True
        return self.hit


class _Window:
    """A sliding window of decoded text over a binary file."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.text = ""
        self.pos = 0
        self.eof = False
        self.consumed = 0  # characters dropped from the front so far

    def more(self) -> bool:
        """Append the next piece of the file; False at end of file."""
        if self.eof:
            return False
        data = self._fp.read(_READ_CHARS)
        if b"\x00" in data:
            raise FormatError("the JSON file contains NUL bytes; it looks binary, not text")
        try:
            piece = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise FormatError("the JSON file is not UTF-8 text; is it a binary file?") from None
        self.consumed += self.pos
        self.text = self.text[self.pos :] + piece
        self.pos = 0
        if not data:
            self.eof = True
        return bool(data)

    def peek(self) -> str:
        """The next non-whitespace character ('' at end of file)."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def value(self, decoder: json.JSONDecoder) -> Any:
        """Decode the value starting at ``pos``, reading more text as needed."""
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self._grow():
                    continue
                raise FormatError(f"the JSON file is not valid JSON: {exc.msg} "
                                  f"(character {self.consumed + exc.pos})") from None
            except RecursionError:
                raise FormatError(f"the JSON file nests deeper than {MAX_DEPTH} levels") from None
            except ValueError as exc:  # e.g. int digit limit with the fast decoder
                raise FormatError(f"the JSON file has an unacceptable value: {exc}") from None
            if end == len(self.text) and self._grow():
                continue  # a number may go on in the next piece
            self.pos = end
            return value

    def _grow(self) -> bool:
        if self.eof:
            return False
        if len(self.text) - self.pos > MAX_RECORD_CHARS:
            raise FormatError(
                f"the JSON file has a record larger than {MAX_RECORD_CHARS // (1 << 20)} MiB"
            )
        self.more()
        return True


def _iter_array(window: _Window, decoder: json.JSONDecoder, stop: _Stop) -> Iterator[Any]:
    """Elements of the top-level array; validates separators and trailing content."""
    if window.peek() != "[":
        raise FormatError("the JSON file does not start with '['")
    window.pos += 1
    if window.peek() == "]":
        window.pos += 1
    else:
        while True:
            yield window.value(decoder)
            if stop.exceeded(window.consumed + window.pos):
                return
            ch = window.peek()
            window.pos += 1
            if ch == "]":
                break
            if ch != ",":
                raise FormatError(
                    "the JSON file is not valid JSON: expected ',' or ']' after an array element"
                    if ch else "the JSON file ends inside the top-level array (truncated?)"
                )
            nxt = window.peek()
            if nxt == "]":
                raise FormatError("the JSON file is not valid JSON: trailing comma in array")
            if nxt == "":
                raise FormatError("the JSON file ends inside the top-level array (truncated?)")
    if window.peek() != "":
        raise FormatError("the JSON file has extra data after the top-level array")


def _iter_lines(fp: BinaryIO, decoder: json.JSONDecoder, stop: _Stop) -> Iterator[Any]:
    """One JSON value per non-blank line (JSON Lines)."""
    number = 0
    first = True
    while True:
        if stop.exceeded(fp.tell()):
            return
        raw = fp.readline(MAX_RECORD_CHARS + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_RECORD_CHARS:
            raise FormatError(f"the JSON Lines file has a line (line {number}) that is too long")
        if b"\x00" in raw:
            raise FormatError("the JSON file contains NUL bytes; it looks binary, not text")
        try:
            line = raw.decode("utf-8-sig" if first else "utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"the JSON Lines file is not UTF-8 text (line {number})") from None
        first = False
        if not line.strip():
            continue
        try:
            yield decoder.decode(line)
        except json.JSONDecodeError as exc:
            raise FormatError(f"the JSON Lines file has invalid JSON on line {number}: {exc.msg}") from None
        except RecursionError:
            raise FormatError(f"the JSON file nests deeper than {MAX_DEPTH} levels") from None
        except ValueError as exc:
            raise FormatError(f"the JSON file has an unacceptable value: {exc}") from None


# ---------------------------------------------------------------- layout


def detect_layout(path: Path) -> str:
    """``"array"`` (one top-level array), ``"lines"`` (JSON Lines) or ``"document"``
    (a single multi-line value, e.g. one pretty-printed object)."""
    head, eof = read_text_head(path, LABEL)
    text = head.lstrip(" \t\r\n")
    newline = text.find("\n")
    first_line = text if newline < 0 else text[:newline]
    rest = "" if newline < 0 else text[newline + 1 :]
    first_is_value = _is_complete_value(first_line)
    if text.startswith("["):
        if first_is_value and (rest.strip() or not eof and newline >= 0):
            return "lines"  # JSON Lines whose records are arrays
        return "array"
    if first_is_value:
        return "lines"
    return "document"


def _is_complete_value(text: str) -> bool:
    text = text.strip()
    if not text:
        return False
    try:
        _, end = FAST_DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return False
    return end == len(text)


def iter_records(
    path: Path, layout: str, *, strict: bool = True, stop: _Stop | None = None
) -> Iterator[Any]:
    """Records of the file in order; with ``strict`` every record is checked against the
    bomb limits (depth, number length). With ``stop``, reading ends (``stop.hit``) once
    its budget of characters has been consumed."""
    decoder = STRICT_DECODER if strict else FAST_DECODER
    stop = stop or _Stop(None)
    with path.open("rb") as fp:
        if layout == "array":
            records = _iter_array(_Window(fp), decoder, stop)
        elif layout == "lines":
            records = _iter_lines(fp, decoder, stop)
        else:
            records = iter(_read_document(path, decoder))
        for record in records:
            if strict:
                check_depth(record)
            yield record


def _read_document(path: Path, decoder: json.JSONDecoder) -> list[Any]:
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise FormatError(
            "the JSON file is neither a top-level array nor JSON Lines (one value per line), "
            f"and is too large (> {MAX_DOCUMENT_BYTES >> 20} MiB) to read as one document"
        )
    with path.open("rb") as fp:
        window = _Window(fp)
        window.peek()
        value = window.value(decoder)
        if window.peek() != "":
            raise FormatError(
                "the JSON file is not valid JSON Lines: a record spans several lines "
                "or there is extra data after the first value"
            )
    return [value]


# ---------------------------------------------------------------- public


def sniff(path: Path) -> None:
    layout = detect_layout(path)
    for i, _ in enumerate(iter_records(path, layout), start=1):
        if i >= SNIFF_RECORDS:
            break


def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    layout = detect_layout(path)
    records: list[Any] = []
    reached_end = True
    stop = _Stop(PREVIEW_BUDGET_CHARS)
    for record in iter_records(path, layout, stop=stop):
        if len(records) == rows:
            reached_end = False
            break
        records.append(record)
    truncated = None
    if stop.hit:
        reached_end = False
        if len(records) < rows:
            truncated = (f"a preview reads at most {PREVIEW_BUDGET_CHARS >> 20} MiB of JSON text; only the "
                         f"first {len(records)} rows are shown")
    if reached_end and total_rows is None:
        total_rows = len(records)
    columns, table, total_columns = _tabulate(records)
    fit, why = budget_rows(len(table), 0, len(columns), "JSON")
    if fit < len(table):
        table, truncated = table[:fit], why
    schema = {
        name: merge_type_names(python_type_name(row[i]) for row in table)
        for i, name in enumerate(columns)
    }
    return Preview(
        columns=columns,
        rows=[[to_jsonable(v) for v in row] for row in table],
        total_rows=total_rows,
        dataset_schema=schema,
        total_columns=total_columns,
        layout=layout,
        truncated=truncated,
    )


def _tabulate(records: list[Any]) -> tuple[list[str], list[list[Any]], int]:
    """Records → (columns, rows, total number of columns)."""
    if records and all(isinstance(r, dict) for r in records):
        keys: dict[str, None] = {}
        for record in records:
            keys.update(dict.fromkeys(record))
        all_keys = list(keys)
        shown = all_keys[:MAX_PREVIEW_COLUMNS]
        names = unique_names(shown)
        return names, [[r.get(k) for k in shown] for r in records], len(all_keys)
    if records and all(isinstance(r, list) for r in records):
        width = max(len(r) for r in records)
        shown_width = min(width, MAX_PREVIEW_COLUMNS)
        table = [[r[i] if i < len(r) else None for i in range(shown_width)] for r in records]
        return [f"col_{i}" for i in range(shown_width)], table, width
    if not records:
        return [], [], 0
    return ["value"], [[r] for r in records], 1


def count_rows(path: Path) -> int:
    """Number of records, in one streaming pass (bounded memory)."""
    require_nonempty(path, LABEL)
    layout = detect_layout(path)
    if layout == "lines":
        return _count_nonblank_lines(path)
    return sum(1 for _ in iter_records(path, layout, strict=False))


def _count_nonblank_lines(path: Path) -> int:
    validator = Utf8Validator(LABEL)
    lines = blanks = 0
    carry = np.array([10, 10], dtype=np.uint8)
    last = 10
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK_BYTES):
            validator.feed(chunk)
            a = np.frombuffer(chunk, dtype=np.uint8)
            idx = np.flatnonzero(a == 10)
            ext = np.concatenate((carry, a))
            before = ext[idx + 1]
            blank = (before == 10) | ((before == 13) & (ext[idx] == 10))
            lines += len(idx)
            blanks += int(np.count_nonzero(blank))
            carry = ext[-2:].copy()
            last = int(a[-1])
    validator.feed(b"", final=True)
    if last != 10:
        lines += 1
    return lines - blanks

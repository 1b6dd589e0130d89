"""CSV: UTF-8 text; the delimiter is detected in linear time from a bounded sample (each
candidate parsed once by ``csv.reader``, the most consistent field count wins), quoting is
RFC 4180 (``"``, doubled), the header is guessed.

Only a bounded head of the file is read for ``sniff`` and ``preview``; ``count_rows``
makes one streaming pass (vectorised quote-aware record counting, exact ``csv.reader``
fallback for files that are not RFC 4180-clean).

Memory and time are bounded for any input: physical lines and records are capped in
characters, a preview keeps at most :data:`MAX_PREVIEW_COLUMNS` cells of a record and
reads at most :data:`PREVIEW_BUDGET_CHARS`; cell typing looks only at short cells (no
regular expression ever runs over a long one). ``csv.Sniffer`` is not used: its regular
expressions are quadratic.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FormatError
from .model import MAX_PREVIEW_CELLS, MAX_PREVIEW_COLUMNS, Preview, unique_names
from .textio import CHUNK_BYTES, HEAD_BYTES, Utf8Validator, read_text_head, require_nonempty
from .values import merge_type_names

LABEL = "CSV"
#: Sample used to detect the delimiter and the header (cut back to a whole line).
SNIFF_SAMPLE_CHARS = 32 << 10
#: Head read (and checked for binary content) by ``preview``; ``sniff`` checks 1 MiB.
PREVIEW_HEAD_BYTES = 64 << 10
#: Candidate delimiters, in order of preference on ties.
DELIMITERS = ",;\t|"
#: A preview reads at most this many characters; no physical line and no record (a record
#: may span lines inside quotes) may be longer than these.
PREVIEW_BUDGET_CHARS = 8 << 20
MAX_LINE_CHARS = 1 << 20
MAX_RECORD_CHARS = 1 << 20
#: Cells longer than this are strings: numbers and dates are short, and the typing regular
#: expressions must never run over long text.
MAX_TYPED_CELL_CHARS = 64
#: Rows used to guess the header.
HEADER_PROBE_ROWS = 20


@dataclass(frozen=True, slots=True)
class CsvLayout:
    delimiter: str
    quotechar: str | None
    doublequote: bool
    escapechar: str | None
    skipinitialspace: bool
    has_header: bool
    #: The byte that ends records: "\n" (also for "\r\n" files) or "\r" (old Mac files).
    terminator: str

    def reader_options(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quotechar,
            "doublequote": self.doublequote,
            "escapechar": self.escapechar,
            "skipinitialspace": self.skipinitialspace,
            "quoting": csv.QUOTE_MINIMAL if self.quotechar else csv.QUOTE_NONE,
            "strict": False,
        }


# ---------------------------------------------------------------- cell typing

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(
    r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|nan|inf|infinity)", re.IGNORECASE
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
_BOOLS = {"true": True, "false": False}


def cell_kind(text: str) -> str | None:
    """The kind of one CSV cell: None (empty), bool, int64, float64, date, datetime, string."""
    s = text.strip()
    if not s:
        return None
    if len(s) > MAX_TYPED_CELL_CHARS:
        return "string"
    if s.lower() in _BOOLS:
        return "bool"
    if _INT_RE.fullmatch(s):
        return "int64" if len(s) <= 20 and -(2**63) <= int(s) < 2**63 else "string"
    if _FLOAT_RE.fullmatch(s):
        return "float64"
    if _DATE_RE.fullmatch(s):
        return "date" if _parse(dt.date.fromisoformat, s) is not None else "string"
    if _DATETIME_RE.fullmatch(s):
        return "datetime" if _parse(dt.datetime.fromisoformat, s) is not None else "string"
    return "string"


def _parse(fn: Any, s: str) -> Any:
    try:
        return fn(s)
    except ValueError:
        return None


def column_type(kinds: list[str | None]) -> str:
    """A CSV column's type: as for any column, but text when the cells are empty or disagree."""
    merged = merge_type_names(kinds)
    return "string" if merged in ("null", "mixed") else merged


def convert_cell(text: str, kind: str) -> Any:
    """Convert one cell to its column's type (JSON-safe)."""
    s = text.strip()
    if not s:
        return None if kind != "string" else (text or None)
    if kind == "int64":
        return int(s)
    if kind == "float64":
        value = float(s)
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if kind == "bool":
        return _BOOLS[s.lower()]
    if kind == "date":
        return dt.date.fromisoformat(s).isoformat()
    if kind == "datetime":
        parsed = _parse(dt.datetime.fromisoformat, s) or dt.datetime.combine(
            dt.date.fromisoformat(s), dt.time()
        )
        return parsed.isoformat()
    return text


# ---------------------------------------------------------------- layout detection


def _sample(text: str) -> str:
    sample = text[:SNIFF_SAMPLE_CHARS]
    if len(text) > len(sample):
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[: cut + 1]
    return sample


def _guess_header(rows: list[list[str]]) -> bool:
    """Does the first row look like a header? Typed columns vote; text-only tables say yes
    when the first row is all non-empty, non-numeric text (csv.Sniffer.has_header answers
    "no" for all-text tables, which is wrong for most dataset files)."""
    first = rows[0]
    first_kinds = [cell_kind(c) for c in first]
    votes = 0
    for col, kind0 in enumerate(first_kinds):
        below = [cell_kind(r[col]) for r in rows[1:] if col < len(r)]
        below_kinds = [k for k in below if k is not None]
        if not below_kinds:
            continue
        majority = Counter(below_kinds).most_common(1)[0][0]
        if kind0 in (None, "string") and majority != "string":
            votes += 1
        elif kind0 == majority and majority != "string":
            votes -= 1
    if votes:
        return votes > 0
    names = [c.strip() for c in first]
    return all(names) and all(k == "string" for k in first_kinds)


def _delimiter_score(sample: str, delimiter: str) -> tuple[float, int]:
    """(share of records with the most common field count, that count) with ``delimiter``;
    one ``csv.reader`` pass over the sample (linear)."""
    try:
        widths = [len(r) for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter,
                                              quotechar='"', doublequote=True, strict=False) if r]
    except csv.Error:
        return 0.0, 0
    if not widths:
        return 0.0, 0
    width, count = Counter(widths).most_common(1)[0]
    if width < 2:
        return 0.0, width
    return count / len(widths), width


def detect_layout(text: str) -> CsvLayout:
    """Detect the delimiter and the header from the decoded head of the file (linear time)."""
    sample = _sample(text)
    terminator = "\n" if "\n" in sample or "\r" not in sample else "\r"
    delimiter, best = ",", 0.0
    for candidate in DELIMITERS:  # in order of preference: a later one must be strictly better
        if candidate not in sample:
            continue
        score, _ = _delimiter_score(sample, candidate)
        if score > best:
            delimiter, best = candidate, score
    quotechar, doublequote, escapechar = '"', True, None
    after = sample.count(delimiter + " ")
    skip = best > 0 and after > 0 and after * 2 >= sample.count(delimiter)
    options = {
        "delimiter": delimiter,
        "quotechar": quotechar,
        "doublequote": doublequote,
        "escapechar": escapechar,
        "skipinitialspace": skip,
        "strict": False,
    }
    try:
        records = csv.reader(io.StringIO(sample, newline=""), **options)
        probe = list(itertools.islice((r[:MAX_PREVIEW_COLUMNS] for r in records if r), HEADER_PROBE_ROWS + 1))
    except csv.Error as exc:
        raise FormatError(f"the CSV file cannot be parsed: {exc}") from None
    if not probe:
        raise FormatError("the CSV file has no rows")
    return CsvLayout(
        delimiter=delimiter,
        quotechar=quotechar,
        doublequote=doublequote,
        escapechar=escapechar,
        skipinitialspace=skip,
        has_header=_guess_header(probe),
        terminator=terminator,
    )


def layout_of(path: Path, head_bytes: int = HEAD_BYTES) -> CsvLayout:
    text, _ = read_text_head(path, LABEL, head_bytes)
    return detect_layout(text)


# ---------------------------------------------------------------- sniff / preview


def sniff(path: Path) -> None:
    """Raise FormatError unless the head of ``path`` is UTF-8 CSV text with a row."""
    layout_of(path)


class _LineSource:
    """Physical lines for csv.reader, each at most MAX_LINE_CHARS, in total at most
    ``budget`` characters (then it stops and sets ``truncated``). The reader's caller calls
    :meth:`record_done` after each record; one record may not use more than
    MAX_RECORD_CHARS characters (a quote never closed, many multi-line fields)."""

    def __init__(self, fp: io.TextIOBase, budget: int | None) -> None:
        self._fp = fp
        self._budget = budget
        self._used = 0
        self._record = 0
        self.truncated = False

    def record_done(self) -> None:
        self._record = 0

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                line = self._fp.readline(MAX_LINE_CHARS + 1)
            except UnicodeDecodeError as exc:
                raise FormatError(f"the CSV file is not UTF-8 text ({exc.reason})") from None
            if not line:
                return
            if len(line) > MAX_LINE_CHARS:
                raise FormatError(
                    f"the CSV file has a line longer than {MAX_LINE_CHARS} characters"
                )
            if "\x00" in line:
                raise FormatError("the CSV file contains NUL bytes; it looks binary, not text")
            self._used += len(line)
            self._record += len(line)
            if self._record > MAX_RECORD_CHARS:
                raise FormatError(
                    f"the CSV file has a record longer than {MAX_RECORD_CHARS} characters "
                    "(a quote that is never closed?)"
                )
            if self._budget is not None and self._used > self._budget:
                self.truncated = True
                return
            yield line


def preview(path: Path, rows: int, total_rows: int | None = None) -> Preview:
    layout = layout_of(path, PREVIEW_HEAD_BYTES)
    header: list[str] | None = None
    data: list[list[str]] = []
    reached_end = False
    widest = cells = 0
    truncated: str | None = None
    with path.open("r", encoding="utf-8-sig", newline="") as fp:
        source = _LineSource(fp, PREVIEW_BUDGET_CHARS)
        reader = csv.reader(source, **layout.reader_options())
        try:
            for record in reader:
                source.record_done()
                if not record:
                    continue
                if len(record) > MAX_PREVIEW_COLUMNS:  # keep what is shown, count the rest
                    widest = max(widest, len(record))
                    record = record[:MAX_PREVIEW_COLUMNS]
                if layout.has_header and header is None:
                    header = record
                    continue
                if len(data) == rows:
                    break  # one row more than needed: the file goes on
                if data and (cells := cells + len(record)) > MAX_PREVIEW_CELLS:
                    truncated = (f"a preview shows at most {MAX_PREVIEW_CELLS} cells; only the first "
                                 f"{len(data)} rows are shown")
                    break
                data.append(record)
            else:
                reached_end = not source.truncated
                if source.truncated and len(data) < rows:
                    truncated = (f"a preview reads at most {PREVIEW_BUDGET_CHARS >> 20} MiB of text; only the "
                                 f"first {len(data)} rows are shown")
        except csv.Error as exc:
            raise FormatError(f"the CSV file cannot be parsed: {exc}") from None
    if not data and header is None:
        raise FormatError("the CSV file has no rows")
    if reached_end and total_rows is None:
        total_rows = len(data)
    width = max([len(header or []), widest] + [len(r) for r in data])
    names = list(header or []) + [f"col_{i}" for i in range(len(header or []), width)]
    columns = unique_names(names)[:MAX_PREVIEW_COLUMNS]
    kinds = [column_type([cell_kind(r[i]) for r in data if i < len(r)]) for i in range(len(columns))]
    out_rows = [
        [convert_cell(r[i], kinds[i]) if i < len(r) else None for i in range(len(columns))]
        for r in data
    ]
    return Preview(
        columns=columns,
        rows=out_rows,
        total_rows=total_rows,
        dataset_schema=dict(zip(columns, kinds)),
        total_columns=width,
        delimiter=layout.delimiter,
        has_header=layout.has_header,
        truncated=truncated,
    )


# ---------------------------------------------------------------- counting


def count_rows(path: Path) -> int:
    """Number of data rows (non-empty records, header excluded) in one streaming pass.

    Also validates the whole file as NUL-free UTF-8 (raises FormatError otherwise).
    """
    require_nonempty(path, LABEL)
    layout = layout_of(path)
    records = _count_records_fast(path, layout)
    if records is None:
        records = _count_records_exact(path, layout)
    if layout.has_header and records:
        records -= 1
    return records


def _count_records_fast(path: Path, layout: CsvLayout) -> int | None:
    """Vectorised count of non-empty records, or None when the file is not RFC 4180-clean
    (a quote character outside a field start/end, escape characters, unbalanced quotes),
    in which case only csv.reader gives the right answer.

    A record ends at a terminator outside quotes; with doubled-quote escaping the
    quote state before a byte is the parity of the quote characters before it.
    """
    if layout.escapechar is not None:
        return None
    term = ord(layout.terminator)
    quote = ord(layout.quotechar) if layout.quotechar else None
    ok_prev = np.zeros(256, dtype=bool)  # bytes allowed before an opening quote
    ok_next = np.zeros(256, dtype=bool)  # bytes allowed after a closing quote
    for ch in (layout.delimiter, "\n", "\r") + ((" ",) if layout.skipinitialspace else ()):
        ok_prev[ord(ch)] = True
        ok_next[ord(ch)] = True
    if quote is not None:
        ok_prev[quote] = ok_next[quote] = True
    validator = Utf8Validator(LABEL)
    in_quote = False
    carry = np.array([term, term], dtype=np.uint8)  # the two bytes before this chunk
    pending_close = False  # the previous chunk ended with a closing quote
    records = blanks = 0
    last = term
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK_BYTES):
            validator.feed(chunk)
            a = np.frombuffer(chunk, dtype=np.uint8)
            if pending_close and not ok_next[a[0]]:
                return None
            pending_close = False
            term_idx = np.flatnonzero(a == term)
            if quote is not None and (in_quote or chunk.find(bytes([quote])) >= 0):
                q_idx = np.flatnonzero(a == quote)
                # state after the k-th quote: inside iff (in_quote + k + 1) is odd
                opening = ((np.arange(len(q_idx)) + 1 + in_quote) & 1).astype(bool)
                before = np.where(q_idx > 0, a[np.maximum(q_idx - 1, 0)], carry[1])
                after_pos = q_idx + 1
                at_end = after_pos >= len(a)
                after = a[np.minimum(after_pos, len(a) - 1)]
                if np.any(opening & ~ok_prev[before]):
                    return None
                closing = ~opening
                if np.any(closing & ~at_end & ~ok_next[after]):
                    return None
                pending_close = bool(len(q_idx) and closing[-1] and at_end[-1])
                quotes_before = np.searchsorted(q_idx, term_idx)
                term_idx = term_idx[((quotes_before + in_quote) & 1) == 0]
                in_quote = bool((len(q_idx) + in_quote) & 1)
            records += len(term_idx)
            ext = np.concatenate((carry, a))
            b1 = ext[term_idx + 1]
            blank = b1 == term
            if term == 10:
                blank |= (b1 == 13) & (ext[term_idx] == term)
            blanks += int(np.count_nonzero(blank))
            carry = ext[-2:].copy()
            last = int(a[-1])
    validator.feed(b"", final=True)
    if in_quote:
        return None
    if last not in (10, 13):
        records += 1  # final record without a line break
    return records - blanks


def _count_records_exact(path: Path, layout: CsvLayout) -> int:
    count = 0
    with path.open("r", encoding="utf-8-sig", newline="") as fp:
        source = _LineSource(fp, None)
        try:
            for record in csv.reader(source, **layout.reader_options()):
                source.record_done()
                if record:
                    count += 1
        except csv.Error as exc:
            raise FormatError(f"the CSV file cannot be parsed: {exc}") from None
    return count

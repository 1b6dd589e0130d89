"""Helpers for the text formats (CSV, JSON): bounded head reads and binary checks."""

from __future__ import annotations

import codecs
from pathlib import Path

from .errors import FormatError

#: How much of a text file ``sniff`` inspects.
HEAD_BYTES = 1 << 20
#: Streaming chunk size for full passes (vectorised passes hold ~10 index arrays of a chunk).
CHUNK_BYTES = 2 << 20

#: C0 control bytes that do not occur in text (everything below 0x20 but \t \n \f \r).
_SUSPICIOUS_CONTROLS = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def file_size(path: Path) -> int:
    return path.stat().st_size


def require_nonempty(path: Path, label: str) -> int:
    size = file_size(path)
    if size == 0:
        raise FormatError(f"the {label} file is empty")
    return size


def decode_utf8(data: bytes, *, final: bool, label: str, offset: int = 0) -> str:
    """Decode UTF-8 (a leading BOM is dropped); a cut multi-byte tail is fine unless final."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    try:
        return decoder.decode(data, final=final)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"the {label} file is not UTF-8 text (invalid byte at offset {offset + exc.start}); "
            "is it a binary file?"
        ) from None


def check_text_chunk(data: bytes, *, label: str, offset: int = 0) -> None:
    """Refuse chunks that look binary: NUL bytes or many control characters."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FormatError(
            f"the {label} file contains NUL bytes (offset {offset + nul}); it looks binary, not text"
        )
    controls = len(data) - len(data.translate(None, _SUSPICIOUS_CONTROLS))
    if data and controls * 100 > len(data):
        raise FormatError(f"the {label} file has many control characters; it looks binary, not text")


def read_text_head(path: Path, label: str, limit: int = HEAD_BYTES) -> tuple[str, bool]:
    """Return (decoded head, reached_eof) after the emptiness and binary checks."""
    require_nonempty(path, label)
    with path.open("rb") as fp:
        data = fp.read(limit + 1)
    eof = len(data) <= limit
    data = data[:limit]
    check_text_chunk(data, label=label)
    text = decode_utf8(data, final=eof, label=label)
    if not text.strip():
        raise FormatError(f"the {label} file contains only whitespace")
    return text, eof


class Utf8Validator:
    """Validates a byte stream chunk by chunk (for full streaming passes)."""

    def __init__(self, label: str) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._label = label
        self._offset = 0

    def feed(self, data: bytes, *, final: bool = False) -> None:
        check_text_chunk(data, label=self._label, offset=self._offset)
        try:
            self._decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"the {self._label} file is not UTF-8 text (invalid byte near offset "
                f"{self._offset + exc.start}); is it a binary file?"
            ) from None
        self._offset += len(data)

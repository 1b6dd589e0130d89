"""Parquet page headers, read without decoding any page: what a read will decompress.

A Parquet column chunk is a sequence of pages, each preceded by a Thrift (compact protocol)
``PageHeader`` that gives its type, its compressed and uncompressed sizes and its number of
values (rows for v2 data pages). The footer's column-chunk sizes are only a claim; the page
headers are what a reader allocates from, so the memory budget is decided on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .errors import FormatError

#: A page header larger than this is refused (statistics included; writers cap them at a few KiB).
MAX_HEADER_BYTES = 64 << 10
_MAX_NESTING = 16

DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class PageHeader:
    type: int
    uncompressed_size: int
    compressed_size: int
    num_values: int
    num_rows: int | None  # v2 data pages only
    header_size: int


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise EOFError
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, ftype: int, depth: int = 0) -> None:
        if depth > _MAX_NESTING:
            raise ValueError("nested too deeply")
        if ftype in (1, 2):  # bool (value in the type)
            return
        if ftype == 3:
            self.byte()
        elif ftype in (4, 5, 6):
            self.varint()
        elif ftype == 7:
            self.advance(8)
        elif ftype == 8:
            self.advance(self.varint())
        elif ftype in (9, 10):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.skip(etype, depth + 1)
        elif ftype == 11:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.skip(kv >> 4, depth + 1)
                    self.skip(kv & 0x0F, depth + 1)
        elif ftype == 12:
            self.struct(lambda fid, t: self.skip(t, depth + 1))
        else:
            raise ValueError(f"unknown thrift type {ftype}")

    def advance(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise EOFError
        self.pos += n

    def struct(self, on_field) -> None:
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            delta, ftype = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            last = fid
            on_field(fid, ftype)


def _i32(r: _Reader, ftype: int) -> int:
    if ftype != 5:
        raise ValueError("expected an i32")
    return r.zigzag()


def parse_page_header(buf: bytes) -> PageHeader:
    """Parse the PageHeader at the start of ``buf``; EOFError when ``buf`` is too short."""
    r = _Reader(buf)
    out = {"type": None, "u": None, "c": None, "values": 0, "rows": None}

    def sub_header(kind: str):
        def on(fid: int, ftype: int) -> None:
            if fid == 1 and ftype == 5:
                out["values"] = r.zigzag()
            elif kind == "v2" and fid == 3 and ftype == 5:
                out["rows"] = r.zigzag()
            else:
                r.skip(ftype, 1)
        return on

    def on_field(fid: int, ftype: int) -> None:
        if fid == 1:
            out["type"] = _i32(r, ftype)
        elif fid == 2:
            out["u"] = _i32(r, ftype)
        elif fid == 3:
            out["c"] = _i32(r, ftype)
        elif fid in (5, 7, 8) and ftype == 12:
            r.struct(sub_header({5: "v1", 7: "dict", 8: "v2"}[fid]))
        else:
            r.skip(ftype, 1)

    try:
        r.struct(on_field)
    except ValueError as exc:
        raise FormatError(f"the Parquet file has a corrupt page header ({exc})") from None
    if out["type"] is None or out["u"] is None or out["c"] is None or out["u"] < 0 or out["c"] < 0:
        raise FormatError("the Parquet file has a corrupt page header (sizes missing)")
    return PageHeader(out["type"], out["u"], out["c"], max(0, out["values"]), out["rows"], r.pos)


def read_page_header(fp: BinaryIO, offset: int, limit: int) -> PageHeader:
    """The page header at ``offset`` (reading at most MAX_HEADER_BYTES, never past ``limit``)."""
    size = 256
    while True:
        fp.seek(offset)
        buf = fp.read(min(size, max(0, limit - offset)))
        try:
            return parse_page_header(buf)
        except EOFError:
            if len(buf) < size or size >= MAX_HEADER_BYTES:
                if size >= MAX_HEADER_BYTES and len(buf) >= size:
                    raise FormatError(
                        f"the Parquet file has a page header larger than {MAX_HEADER_BYTES >> 10} KiB") from None
                raise FormatError("the Parquet file has a truncated page header") from None
            size = min(size * 8, MAX_HEADER_BYTES)


@dataclass
class ChunkWalk:
    """Pages of one column chunk, as (rows covered after the page, bytes needed after it)."""
    points: list[tuple[int, int]]
    complete: bool  # every page of the chunk was walked

    def cost(self, rows: int) -> int | None:
        """Bytes a reader needs to produce the first ``rows`` rows (None: more than walked)."""
        for covered, needed in self.points:
            if covered >= rows:
                return needed
        return None


def walk_chunk(fp: BinaryIO, start: int, length: int, rows_wanted: int, chunk_rows: int, flat: bool,
               budget: int) -> ChunkWalk:
    """Walk the page headers of a column chunk (``start``, ``length`` from the footer) until
    ``rows_wanted`` rows are covered or ``budget`` bytes would be needed.

    Bytes needed by a page: its compressed size plus twice its uncompressed size (the
    compressed and decompressed buffers, and the decoded values the reader builds from
    them); a dictionary page stays needed for the whole chunk. Rows covered:
    ``num_values`` of a v1 page of a flat column, ``num_rows`` of a v2 page; a v1 page of a
    nested column is counted as covering no row until the chunk's last page (conservative).
    """
    end = start + length
    pos = start
    covered = needed = 0
    points: list[tuple[int, int]] = []
    while pos < end:
        header = read_page_header(fp, pos, end)
        pos += header.header_size + header.compressed_size
        needed += 2 * header.uncompressed_size + header.compressed_size
        if header.type == DATA_PAGE:
            covered += header.num_values if flat else 0
        elif header.type == DATA_PAGE_V2:
            covered += header.num_rows if header.num_rows is not None else (header.num_values if flat else 0)
        if pos >= end:
            covered = max(covered, chunk_rows)
        points.append((min(covered, chunk_rows), needed))
        if covered >= rows_wanted or needed > budget:
            return ChunkWalk(points, pos >= end)
    return ChunkWalk(points or [(chunk_rows, 0)], True)

"""HTTP helpers for stored files, shared by circuits, datasets and spaces.

- :class:`BlobResponse` serves one blob with a strong ``ETag`` (its sha256),
  ``If-None-Match`` (304), ``If-Match`` (412), ``Range``/``If-Range`` (206,
  416) and ``HEAD``, using ``sendfile`` (zero-copy) with a chunked fallback.
- :func:`iter_multipart_files` streams the file parts of a multipart upload
  (never ``request.post()``: a whole file is never held in memory).
- :func:`drain_body` reads and discards what is left of a request body so
  that an early 4xx reaches the client instead of a connection reset.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import AsyncIterator, Iterable
from urllib.parse import quote, unquote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BodyPartReader

from ..errors import BadRequest, NotFound

READ_CHUNK = 256 * 1024
FALLBACK_CHUNK = 1024 * 1024

TEXT_TYPES = {
    ".py": "text/x-python",
    ".md": "text/markdown",
    ".toml": "application/toml",
    ".json": "application/json",
    ".qasm": "text/plain",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
BINARY_TYPES = {
    ".qpy": "application/octet-stream",
    ".parquet": "application/vnd.apache.parquet",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".npy": "application/octet-stream",
    ".zip": "application/zip",
}


def content_type_for(name: str) -> str:
    """A content type by extension (text types carry ``charset=utf-8``)."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in TEXT_TYPES:
        ctype = TEXT_TYPES[suffix]
        return ctype if ctype == "application/json" else f"{ctype}; charset=utf-8"
    return BINARY_TYPES.get(suffix, "application/octet-stream")


class BlobResponse(web.StreamResponse):
    """A stored, immutable file. ``etag`` is the content hash (sent quoted, strong)."""

    def __init__(self, path: Path, *, etag: str, content_type: str, filename: str | None = None,
                 cache_control: str = "public, no-cache", inline: bool = True):
        super().__init__()
        self._path = Path(path)
        self._etag_value = etag
        self._ctype = content_type
        self._filename = filename
        self._cache_control = cache_control
        self._inline = inline

    def _matches(self, header: str | None, *, weak: bool) -> bool:
        if header is None:
            return False
        for raw in header.split(","):
            tag = raw.strip()
            if tag == "*":
                return True
            is_weak = tag.startswith("W/")
            if is_weak and not weak:
                continue
            if tag.removeprefix("W/").strip('"') == self._etag_value:
                return True
        return False

    @classmethod
    async def open(cls, path: Path, **options) -> "BlobResponse":
        """Open the file now (404 if it is missing), so errors happen in the handler."""
        response = cls(path, **options)
        try:
            response._opened = await asyncio.to_thread(_open_regular, response._path)
        except OSError:
            raise NotFound("file content is missing from storage") from None
        return response

    async def prepare(self, request: web.BaseRequest):
        if self.prepared:
            return await super().prepare(request)
        opened = getattr(self, "_opened", None)
        if opened is None:
            try:
                opened = await asyncio.to_thread(_open_regular, self._path)
            except OSError:
                self.set_status(404)
                self.content_length = 0
                return await super().prepare(request)
        self._opened = None
        fobj, st = opened
        try:
            return await self._send(request, fobj, st)
        finally:
            await asyncio.to_thread(fobj.close)

    async def _send(self, request: web.BaseRequest, fobj, st: os.stat_result):
        size = st.st_size
        self.headers[hdrs.ETAG] = f'"{self._etag_value}"'
        self.headers[hdrs.ACCEPT_RANGES] = "bytes"
        self.headers[hdrs.CACHE_CONTROL] = self._cache_control
        self.headers[hdrs.LAST_MODIFIED] = formatdate(st.st_mtime, usegmt=True)
        self.headers["X-Content-Type-Options"] = "nosniff"
        if self._filename:
            disposition = "inline" if self._inline else "attachment"
            self.headers[hdrs.CONTENT_DISPOSITION] = f"{disposition}; filename*=UTF-8''{quote(self._filename, safe='')}"

        if_match = request.headers.get(hdrs.IF_MATCH)
        if if_match is not None and not self._matches(if_match, weak=False):
            self.set_status(412)
            self.content_length = 0
            return await super().prepare(request)
        if self._matches(request.headers.get(hdrs.IF_NONE_MATCH), weak=True):
            self.set_status(304)
            self._length_check = False
            return await super().prepare(request)

        start, count = 0, size
        range_header = request.headers.get(hdrs.RANGE)
        if range_header and self._if_range_ok(request.headers.get(hdrs.IF_RANGE), st):
            try:
                rng = request.http_range
            except ValueError:
                return await self._unsatisfiable(request, size)
            if rng.start is not None or rng.stop is not None:
                first, stop = rng.start, rng.stop
                if first is None:
                    first = 0
                if first < 0:  # suffix range: the last N bytes
                    first = max(0, size + first)
                    stop = size
                stop = size if stop is None else min(stop, size)
                if first >= size or stop <= first:
                    return await self._unsatisfiable(request, size)
                start, count = first, stop - first
                self.set_status(206)
                self.headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{start + count - 1}/{size}"

        self.content_type = self._ctype.split(";")[0]
        if "charset=" in self._ctype:
            self.charset = self._ctype.split("charset=", 1)[1].strip()
        self.content_length = count
        writer = await super().prepare(request)
        if request.method == hdrs.METH_HEAD or count == 0:
            await super().write_eof()
            return writer
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        try:
            await asyncio.get_running_loop().sendfile(transport, fobj, start, count)
        except NotImplementedError:
            await self._copy(writer, fobj, start, count)
        await super().write_eof()
        return writer

    async def _copy(self, writer, fobj, start: int, count: int) -> None:
        await asyncio.to_thread(fobj.seek, start)
        while count > 0:
            chunk = await asyncio.to_thread(fobj.read, min(FALLBACK_CHUNK, count))
            if not chunk:
                break
            await writer.write(chunk)
            count -= len(chunk)
        await writer.drain()

    def _if_range_ok(self, if_range: str | None, st: os.stat_result) -> bool:
        if if_range is None:
            return True
        value = if_range.strip()
        if value.startswith('"') or value.startswith("W/"):
            return value == f'"{self._etag_value}"'  # strong comparison only
        try:
            return parsedate_to_datetime(value).timestamp() >= int(st.st_mtime)
        except (TypeError, ValueError):
            return False

    async def _unsatisfiable(self, request: web.BaseRequest, size: int):
        self.set_status(416)
        self.headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
        self.content_length = 0
        return await super().prepare(request)


def _open_regular(path: Path):
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        import stat as _stat

        if not _stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


# Uploads ------------------------------------------------------------------------------
@dataclass
class IncomingFile:
    """One file part of a multipart upload; read ``chunks`` before the next part."""

    field: str
    filename: str
    content_type: str | None
    chunks: AsyncIterator[bytes]


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await part.read_chunk(READ_CHUNK)
        except (ValueError, AssertionError, HttpProcessingError) as exc:
            raise BadRequest(f"malformed multipart body: {exc}") from None
        if not chunk:
            return
        yield chunk


#: Parts of one multipart body (files and skipped fields alike).
MAX_MULTIPART_PARTS = 1000


async def iter_multipart_files(request: web.BaseRequest, fields: Iterable[str]) -> AsyncIterator[IncomingFile]:
    """Yield the file parts named in ``fields``; other parts are skipped."""
    wanted = set(fields)
    if request.content_type != "multipart/form-data":
        raise BadRequest("expected a multipart/form-data body")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError) as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    parts = 0
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, HttpProcessingError) as exc:
            raise BadRequest(f"malformed multipart body: {exc}") from None
        if part is None:
            return
        parts += 1
        if parts > MAX_MULTIPART_PARTS:
            raise BadRequest(f"at most {MAX_MULTIPART_PARTS} parts in a multipart body")
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not supported")
        if part.name not in wanted:
            await part.release()
            continue
        if part.filename is None:
            await part.release()
            raise BadRequest(f"multipart field '{part.name}' must be a file (with a filename)")
        filename = _decode_filename(part.filename)
        if _ABSOLUTE_FILENAME.search(part.headers.get(hdrs.CONTENT_DISPOSITION, "")):
            filename = "/" + filename  # aiohttp strips leading slashes; keep the name absolute so it is refused
        yield IncomingFile(part.name, filename, part.headers.get(hdrs.CONTENT_TYPE), _part_chunks(part))


_ABSOLUTE_FILENAME = re.compile(r'(?i)(?:^|;)\s*filename\s*=\s*"?[\\/]')


def _decode_filename(name: str) -> str:
    """Undo percent-encoding (aiohttp clients send ``sub%2Fx.py``; browsers encode ``"``/CR/LF).

    The result is still checked by :func:`~.paths.safe_relative_path`."""
    return unquote(name) if "%" in name else name


async def drain_body(request: web.BaseRequest, limit: int = 64 * 1024 * 1024) -> None:
    """Discard the unread rest of the body (up to ``limit`` bytes) so the client sees our answer."""
    remaining = request.content_length
    if remaining is not None and remaining > limit * 4:
        return  # too much to read: let the connection close instead
    read = 0
    try:
        while read < limit:
            chunk = await request.content.readany()
            if not chunk:
                return
            read += len(chunk)
    except Exception:
        return

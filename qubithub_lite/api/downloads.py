"""Serving stored files over HTTP, shared by circuits, datasets, spaces and the HF routes.

- :class:`BlobResponse` serves one blob with a strong ``ETag`` (its sha256),
  ``If-None-Match`` (304), ``If-Match`` (412), ``Range``/``If-Range`` (206,
  416) and ``HEAD``, using ``sendfile`` (zero-copy) with a chunked fallback.
- :func:`content_type_for`: the content type of a file name.

Uploads (multipart streaming, draining a body) are :mod:`.uploads`.
"""

from __future__ import annotations

import asyncio
import os
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import hdrs, web

from ..errors import NotFound

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

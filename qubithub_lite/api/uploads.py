"""Reading uploads over HTTP, shared by circuits, datasets, spaces, admin and the web UI.

- :func:`iter_multipart_files` streams the file parts of a multipart upload
  (never ``request.post()``: a whole file is never held in memory).
- :func:`drain_body` reads and discards what is left of a request body so
  that an early 4xx reaches the client instead of a connection reset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AsyncIterator, Iterable
from urllib.parse import unquote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BodyPartReader

from ..errors import BadRequest

READ_CHUNK = 256 * 1024


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

    The result is still checked by :func:`qubithub_lite.storage.paths.safe_relative_path`."""
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

"""Safe relative file names for anything users upload (circuit files, dataset
files, space files).

:func:`safe_relative_path` accepts ``a/b/c.py`` style names and rejects
absolute paths, drive letters, ``.``/``..`` segments, empty segments,
backslashes, NUL and other control characters (and undecodable bytes), names that
become one of these under Unicode compatibility folding (fullwidth `．．`), Windows device names
(``CON``, ``nul.txt``, ``COM1``…), trailing dots/spaces and over-long names.
Uploaded names only ever become keys in a tree: the bytes live in the
content-addressed store, so no user-chosen name (or link) ever reaches the
file system.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import BadRequest

#: A stored object's name: its sha256 in lower-case hex.
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_PATH_CHARS = 255
MAX_SEGMENT_CHARS = 100
MAX_DEPTH = 8

_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$"}
    | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
    | {f"com{c}" for c in "¹²³"} | {f"lpt{c}" for c in "¹²³"}
)
_DRIVE = re.compile(r"^[A-Za-z]:")
_FORBIDDEN_CHARS = set('\\<>:"|?*')


class UnsafePath(BadRequest):
    """A rejected file name (400)."""


def _problem(name: str) -> str | None:
    if not isinstance(name, str) or not name:
        return "file name is empty"
    if len(name) > MAX_PATH_CHARS:
        return f"file name longer than {MAX_PATH_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
        return "file name contains a NUL, control character or undecodable byte"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute paths are not allowed"
    if "\\" in name:
        return "use '/' as the path separator"
    bad = _FORBIDDEN_CHARS & set(name)
    if bad:
        return f"file name contains a forbidden character {''.join(sorted(bad))!r}"
    segments = name.split("/")
    if len(segments) > MAX_DEPTH:
        return f"file name is nested deeper than {MAX_DEPTH} folders"
    for seg in segments:
        if seg == "":
            return "file name has an empty path segment"
        if seg in (".", ".."):
            return "'.' and '..' path segments are not allowed"
        if len(seg) > MAX_SEGMENT_CHARS:
            return f"path segment longer than {MAX_SEGMENT_CHARS} characters"
        if seg.startswith(".") or seg.startswith("~"):
            return f"hidden or special file names are not allowed ({seg!r})"
        if seg.endswith((".", " ")) or seg.startswith(" "):
            return f"path segment {seg!r} starts or ends with a space or dot"
        if seg.split(".", 1)[0].lower().rstrip() in _DEVICE_NAMES:
            return f"{seg!r} is a reserved device name"
    return None


def safe_relative_path(name: str) -> str:
    """``name`` normalised (NFC) if it is a safe relative path, else :class:`UnsafePath`."""
    problem = _problem(name)
    if problem is None:
        normalised = unicodedata.normalize("NFC", name)
        problem = _problem(normalised)
        if problem is None:
            # Look-alikes (fullwidth '．．', '／', '＼') must not become a traversal for a
            # client that folds compatibility characters.
            compat = _problem(unicodedata.normalize("NFKC", name))
            if compat is None:
                return normalised
            problem = f"{compat} (after Unicode compatibility normalisation)"
    raise UnsafePath(f"invalid file name {name[:80]!r}: {problem}")


def is_safe_relative_path(name: str) -> bool:
    return _problem(name) is None

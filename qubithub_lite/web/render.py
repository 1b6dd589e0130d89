"""Turning user content into safe HTML: Markdown (markdown-it-py, raw HTML off) cleaned by nh3,
source highlighted by Pygments (CSS classes only: the page's CSP allows no inline style),
unified diffs, and histogram geometry for a plain SVG drawn by the template."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

#: Bigger inputs are shown as plain text (or not at all): rendering stays bounded.
MAX_MARKDOWN = 200_000
MAX_HIGHLIGHT = 256_000
MAX_DIFF = 200_000

_SOURCELESS_IMG = re.compile(r'<img(?![^>]*\ssrc=)(?:[^>]*?\salt="([^"]*)")?[^>]*>')
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$")


@functools.cache
def _markdown_it():
    """Imported on first use: an idle server does not carry the renderers."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


@functools.cache
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass="hl", wrapcode=True)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        # No request may leave the server, and the CSP allows only same-origin and data: images.
        return value if _DATA_IMAGE.match(value) else None
    if attr == "href" and (value.startswith("//") or value.lower().startswith("data:")):
        return None
    return value


def markdown(text: str) -> str:
    """README Markdown to sanitized HTML (no script can survive: markdown-it has raw HTML off,
    nh3 drops anything but a safe tag/attribute allow-list, and the CSP forbids inline script)."""
    import nh3

    html = _markdown_it().render(text[:MAX_MARKDOWN])
    clean = nh3.clean(html, tags=set(nh3.ALLOWED_TAGS), attribute_filter=_attribute_filter,
                      link_rel="noopener noreferrer nofollow", url_schemes={"http", "https", "mailto", "data"})
    # An image whose source was dropped (another host: no request may leave the server) is
    # shown as its alt text (already escaped by nh3) rather than as a broken picture.
    return _SOURCELESS_IMG.sub(lambda m: f"[{m.group(1) or 'image'}]", clean)


def pygments_css() -> str:
    return _formatter().get_style_defs(".hl")


def highlight(source: str, filename: str) -> str:
    from pygments import highlight as _highlight
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    if len(source) > MAX_HIGHLIGHT:
        lexer = TextLexer()
        source = source[:MAX_HIGHLIGHT]
    else:
        try:
            lexer = get_lexer_for_filename(filename, stripnl=False)
        except ClassNotFound:
            lexer = TextLexer()
    return _highlight(source, lexer, _formatter())


@dataclass
class DiffLine:
    kind: str  # add | del | hunk | ctx | file
    text: str


def unified_diff(old: dict[str, str], new: dict[str, str], old_label: str, new_label: str) -> list[DiffLine]:
    """Line diff of two file trees ({path: text}); binary or oversized files are named only."""
    out: list[DiffLine] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        if (a is not None and len(a) > MAX_DIFF) or (b is not None and len(b) > MAX_DIFF):
            out.append(DiffLine("file", f"{path}: changed (too large to show)"))
            continue
        lines = list(difflib.unified_diff(
            (a or "").splitlines(), (b or "").splitlines(),
            f"{old_label}/{path}" if a is not None else "/dev/null",
            f"{new_label}/{path}" if b is not None else "/dev/null", lineterm="", n=3,
        ))
        for line in lines:
            if line.startswith(("---", "+++")):
                kind = "file"
            elif line.startswith("@@"):
                kind = "hunk"
            elif line.startswith("+"):
                kind = "add"
            elif line.startswith("-"):
                kind = "del"
            else:
                kind = "ctx"
            out.append(DiffLine(kind, line))
    return out


@dataclass
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    expected: bool


def histogram_width(n: int) -> int:
    return min(640, max(160, n * 44))


def histogram(counts: dict[str, int] | None, expected: list[str] | None = None, *, height: int = 200,
              max_bars: int = 32) -> list[Bar]:
    """Bars for the counts (bitstrings in Qiskit order, qubit 0 rightmost), sorted by bitstring;
    with many outcomes only the ``max_bars`` most frequent are drawn."""
    if not counts:
        return []
    items = sorted(counts.items(), key=lambda kv: -kv[1])[:max_bars]
    items.sort(key=lambda kv: kv[0])
    top = max(v for _, v in items) or 1
    slot = histogram_width(len(items)) / len(items)
    wanted = set(expected or [])
    return [Bar(k, v, i * slot + slot * 0.1, height - v / top * height, slot * 0.8, v / top * height, k in wanted)
            for i, (k, v) in enumerate(items)]


def expected_check(counts: dict[str, int] | None, expected: dict | None) -> dict | None:
    """Whether the dominant states of the manifest's ``expected_output`` hold the expected share."""
    if not counts or not expected or not expected.get("dominant_states"):
        return None
    total = sum(counts.values()) or 1
    share = sum(counts.get(s, 0) for s in expected["dominant_states"]) / total
    lo, hi = (expected.get("probability_range") or (0.5, 1.0))
    return {"states": expected["dominant_states"], "share": share, "low": lo, "high": hi, "ok": lo <= share <= hi}

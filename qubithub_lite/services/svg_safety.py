"""Is this SVG safe to hand to a browser? (diagrams produced by user code)

The document is parsed with the standard library's expat, hardened the way
defusedxml does it: no DTD internal subset, no entity declarations or
references, no external entities, no processing instructions. Then it is
walked, and refused when it has a script-capable element (``script``,
``foreignObject``, animation elements that can rewrite attributes, …), an
event-handler attribute (``on*``), a ``javascript:``/``vbscript:`` URL, or a
reference to anything outside the document (``href``/``src`` that is not a
``#fragment`` or an inline raster ``data:image``, ``url(...)`` in styles that
is not a fragment, ``@import``, ``xml:base``). The root must be an SVG
``<svg>`` element.
"""

from __future__ import annotations

import re
import xml.parsers.expat

SVG_NS = "http://www.w3.org/2000/svg"
XML_NS = "http://www.w3.org/XML/1998/namespace"

FORBIDDEN_ELEMENTS = frozenset({
    "script", "foreignobject", "iframe", "embed", "object", "applet", "frame", "frameset", "handler", "listener",
    "set", "animate", "animatemotion", "animatetransform", "animatecolor", "discard", "audio", "video", "canvas",
    "base", "link", "meta", "form", "input", "button", "textarea",
})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href"})
_SAFE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_CSS_URL = re.compile(r"url\s*\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f]+")


class UnsafeSvg(ValueError):
    """Why an SVG document was refused."""


def _squash(value: str) -> str:
    """Lower-cased, with whitespace and control characters removed (as browsers read URLs)."""
    return _INVISIBLE.sub("", value).lower()


def _check_text(value: str, where: str) -> None:
    squashed = _squash(value)
    for scheme in ("javascript:", "vbscript:", "data:text/html", "livescript:"):
        if scheme in squashed:
            raise UnsafeSvg(f"{where} contains a {scheme} URL")
    if "@import" in squashed:
        raise UnsafeSvg(f"{where} imports an external stylesheet")
    if "expression(" in squashed or "-moz-binding" in squashed or "behavior:" in squashed:
        raise UnsafeSvg(f"{where} contains a scripted CSS value")
    for _, target in _CSS_URL.findall(value):
        if not target.strip().startswith("#"):
            raise UnsafeSvg(f"{where} references an external resource url({target.strip()[:60]})")


def _check_reference(value: str, where: str) -> None:
    target = value.strip()
    if target.startswith("#") or _SAFE_DATA_URL.match(target):
        return
    raise UnsafeSvg(f"{where} references something outside the document ({target[:60]!r})")


def check_svg(data: bytes, *, max_bytes: int = 8 * 1024 * 1024) -> None:
    """Raise :class:`UnsafeSvg` unless ``data`` is a well-formed, self-contained SVG without scripts."""
    if len(data) > max_bytes:
        raise UnsafeSvg(f"the SVG is larger than {max_bytes} bytes")
    if not data.strip():
        raise UnsafeSvg("the SVG is empty")
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    seen_root = False
    style_depth: list[int] = []
    style_text: list[str] = []

    def refuse(why: str):
        def handler(*_args):
            raise UnsafeSvg(why)
        return handler

    def doctype(_name, _sysid, _pubid, has_internal_subset):
        if has_internal_subset:
            raise UnsafeSvg("a DOCTYPE with an internal subset (entity declarations) is not allowed")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, seen_root
        uri, _, local = name.rpartition(" ")
        lname = local.lower()
        if not seen_root:
            seen_root = True
            if uri != SVG_NS or local != "svg":
                raise UnsafeSvg("the root element is not an SVG <svg> element")
        if lname in FORBIDDEN_ELEMENTS:
            raise UnsafeSvg(f"<{local}> elements are not allowed")
        for raw_name, value in attrs.items():
            a_uri, _, a_local = raw_name.rpartition(" ")
            a_lname = a_local.lower()
            where = f"attribute {a_local!r} of <{local}>"
            if a_lname.startswith("on"):
                raise UnsafeSvg(f"event-handler {where} is not allowed")
            if a_uri == XML_NS and a_lname == "base":
                raise UnsafeSvg("xml:base is not allowed")
            if a_lname in _URL_ATTRS:
                _check_reference(value, where)
            _check_text(value, where)
        if lname == "style":
            style_depth.append(depth)
        depth += 1

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1
        if style_depth and style_depth[-1] == depth:
            style_depth.pop()
            _check_text("".join(style_text), "a <style> element")
            style_text.clear()

    def chars(text: str) -> None:
        if style_depth:
            style_text.append(text)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = refuse("entity declarations are not allowed")
    parser.UnparsedEntityDeclHandler = refuse("entity declarations are not allowed")
    parser.NotationDeclHandler = refuse("notation declarations are not allowed")
    parser.ExternalEntityRefHandler = refuse("external entities are not allowed")
    parser.SkippedEntityHandler = refuse("entity references are not allowed")
    parser.ProcessingInstructionHandler = refuse("processing instructions are not allowed")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise UnsafeSvg(f"not well-formed XML: {exc}") from None
    if not seen_root:
        raise UnsafeSvg("no root element")

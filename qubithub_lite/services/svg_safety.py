"""Is this SVG safe to hand to a browser? (diagrams produced by user code)

Decided by parsing, against an allowlist, never by pattern:

- The XML is parsed by the standard library's expat, hardened the way defusedxml does
  it: no DTD internal subset, no entity declarations or references (so no billion
  laughs, no external entities), no processing instructions (``xml-stylesheet``); the
  external DTD is never loaded. Parsing is linear in the input and never recursive;
  nesting deeper than :data:`MAX_DEPTH` is refused; the input is capped in size.
- The root is ``<svg>`` in the SVG namespace. Every element must be an SVG element of
  :data:`ALLOWED_ELEMENTS` (shapes, text, groups, gradients, clip paths, masks, markers,
  filters without ``feImage``; no ``script``, ``foreignObject``, ``a``, animation, ``iframe``
  …); inside ``<metadata>`` only inert RDF / Dublin Core / Creative Commons elements.
- Every attribute must be in :data:`ALLOWED_ATTRIBUTES` (no ``on*`` handlers, no
  ``xml:base``, no ``cursor``, …). ``href`` / ``xlink:href`` must be a ``#fragment`` (an
  ``<image>`` may also hold an inline PNG/JPEG/GIF/WebP ``data:`` URL).
- CSS — ``<style>`` sheets, ``style`` attributes, and every other attribute value that
  contains a ``(`` (the only way to write a CSS function or ``url``) — is tokenized by
  tinycss2, which resolves CSS escapes (``@\\69mport`` *is* ``@import``, ``\\75rl(`` *is*
  ``url(``). Sheets may hold only plain style rules (no at-rule at all); declarations
  only properties of :data:`ALLOWED_PROPERTIES`; values only idents, numbers, colours,
  strings and the functions of :data:`ALLOWED_FUNCTIONS` (colours, ``calc``, transforms),
  and ``url(#fragment)``. Anything else (``image-set(``, ``url(http:…)``, ``var(``,
  ``expression(`` …) is refused. Distinct CSS texts are capped in total size.

:func:`check_svg` is synchronous and CPU-bound: call it from a worker thread.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from typing import Any

import tinycss2

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
#: Namespaces of the inert document metadata matplotlib writes (never rendered, never fetched).
METADATA_NAMESPACES = frozenset({
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://purl.org/dc/elements/1.1/",
    "http://purl.org/dc/terms/",
    "http://creativecommons.org/ns#",
})

MAX_DEPTH = 256
#: Total size of the distinct CSS texts of one document that tinycss2 tokenizes (~1 s at most).
MAX_CSS_CHARS = 256 << 10

ALLOWED_ELEMENTS = frozenset({
    "svg", "g", "defs", "desc", "title", "metadata", "symbol", "use", "switch",
    "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "textpath",
    "clippath", "mask", "pattern", "marker", "lineargradient", "radialgradient", "stop",
    "image", "style",
    "filter", "feblend", "fecolormatrix", "fecomponenttransfer", "fecomposite", "feconvolvematrix",
    "fediffuselighting", "fedisplacementmap", "fedistantlight", "fedropshadow", "feflood", "fefunca",
    "fefuncb", "fefuncg", "fefuncr", "fegaussianblur", "femerge", "femergenode", "femorphology",
    "feoffset", "fepointlight", "fespecularlighting", "fespotlight", "fetile", "feturbulence",
})

#: CSS properties allowed in style sheets, ``style`` attributes and as presentation attributes.
ALLOWED_PROPERTIES = frozenset({
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
    "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "stroke-opacity", "opacity",
    "color", "display", "visibility", "overflow", "clip", "clip-path", "clip-rule", "mask", "filter",
    "marker", "marker-start", "marker-mid", "marker-end", "stop-color", "stop-opacity",
    "flood-color", "flood-opacity", "lighting-color", "paint-order", "vector-effect",
    "shape-rendering", "text-rendering", "image-rendering", "color-interpolation",
    "color-interpolation-filters", "color-rendering", "mix-blend-mode", "isolation",
    "font", "font-family", "font-size", "font-size-adjust", "font-stretch", "font-style", "font-variant",
    "font-weight", "font-kerning", "text-anchor", "dominant-baseline", "alignment-baseline",
    "baseline-shift", "letter-spacing", "word-spacing", "text-decoration", "white-space",
    "writing-mode", "direction", "unicode-bidi", "line-height", "transform", "transform-origin",
    "transform-box",
})

#: Attributes allowed on SVG elements besides the presentation attributes above.
ALLOWED_ATTRIBUTES = ALLOWED_PROPERTIES | frozenset({
    "id", "class", "style", "lang", "tabindex", "version", "baseprofile", "width", "height", "x", "y",
    "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr", "d", "points", "viewbox",
    "preserveaspectratio", "pathlength", "dx", "dy", "rotate", "textlength", "lengthadjust",
    "startoffset", "method", "spacing", "side", "offset", "gradientunits", "gradienttransform",
    "spreadmethod", "patternunits", "patterncontentunits", "patterntransform", "clippathunits",
    "maskunits", "maskcontentunits", "markerunits", "markerwidth", "markerheight", "refx", "refy",
    "orient", "filterunits", "primitiveunits", "in", "in2", "result", "stddeviation", "mode", "type",
    "values", "operator", "k1", "k2", "k3", "k4", "tablevalues", "slope", "intercept", "amplitude",
    "exponent", "order", "kernelmatrix", "divisor", "bias", "targetx", "targety", "edgemode",
    "preservealpha", "surfacescale", "diffuseconstant", "specularconstant", "specularexponent",
    "kernelunitlength", "azimuth", "elevation", "z", "pointsatx", "pointsaty", "pointsatz",
    "limitingconeangle", "scale", "xchannelselector", "ychannelselector", "radius", "basefrequency",
    "numoctaves", "seed", "stitchtiles", "requiredfeatures", "requiredextensions", "systemlanguage",
    "media", "href",
})

#: CSS functions allowed in values (colours, arithmetic, transforms).
ALLOWED_FUNCTIONS = frozenset({
    "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color", "calc", "min", "max",
    "clamp", "matrix", "matrix3d", "translate", "translatex", "translatey", "translate3d", "scale",
    "scalex", "scaley", "scale3d", "rotate", "rotatex", "rotatey", "rotatez", "rotate3d", "skew",
    "skewx", "skewy", "perspective",
})
#: Properties whose value may be ``url(#fragment)`` (a reference inside the document).
_FRAGMENT_URL_PROPERTIES = frozenset({
    "fill", "stroke", "clip-path", "mask", "filter", "marker", "marker-start", "marker-mid", "marker-end",
})
_SAFE_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.I)
_FRAGMENT = re.compile(r"#[^\s'\"()\\]*")
#: Declarations without any character that can open a CSS structure (function, block,
#: string, escape, comment, at-rule) tokenize to idents, numbers, hashes and delimiters only:
#: splitting them on ``;`` and ``:`` is exactly what a CSS parser would do.
_PLAIN_DECLARATIONS = re.compile(r"[^()\[\]{}\"'\\@/<>]*")
_PLAIN_NAME = re.compile(r"\s*(-?[A-Za-z_][A-Za-z0-9_-]*)\s*")


class UnsafeSvg(ValueError):
    """Why an SVG document was refused."""


class _CssChecker:
    """Tokenizes CSS with tinycss2 and checks it against the allowlists; distinct texts once."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._chars = 0

    def _budget(self, kind: str, text: str) -> bool:
        key = (kind, text)
        if key in self._seen:
            return False
        self._chars += len(text)
        if self._chars > MAX_CSS_CHARS:
            raise UnsafeSvg(f"the SVG holds more than {MAX_CSS_CHARS} characters of distinct CSS")
        self._seen.add(key)
        return True

    def sheet(self, text: str) -> None:
        if not self._budget("sheet", text):
            return
        try:
            rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
            for rule in rules:
                if rule.type == "error":
                    raise UnsafeSvg(f"a <style> sheet is not valid CSS ({rule.message})")
                if rule.type == "at-rule":
                    raise UnsafeSvg(f"a <style> sheet holds an @{rule.lower_at_keyword} rule")
                self._values(rule.prelude, "a <style> selector", None)
                self._declarations(rule.content, "a <style> rule")
        except RecursionError:
            raise UnsafeSvg("a <style> sheet nests too deeply") from None

    def declarations(self, text: str, where: str) -> None:
        if _PLAIN_DECLARATIONS.fullmatch(text):
            for declaration in text.split(";"):
                name, colon, _ = declaration.partition(":")
                if not colon and not name.strip():
                    continue
                m = _PLAIN_NAME.fullmatch(name)
                if not colon or m is None:
                    raise UnsafeSvg(f"{where} is not valid CSS")
                if m.group(1).lower() not in ALLOWED_PROPERTIES:
                    raise UnsafeSvg(f"{where} sets the CSS property {m.group(1)[:60]!r}, which is not allowed")
            return
        if not self._budget("style", text):
            return
        try:
            self._declarations(tinycss2.parse_component_value_list(text), where)
        except RecursionError:
            raise UnsafeSvg(f"{where} nests too deeply") from None

    def value(self, text: str, prop: str | None, where: str) -> None:
        if not self._budget(f"value:{prop}", text):
            return
        try:
            self._values(tinycss2.parse_component_value_list(text, skip_comments=True), where, prop)
        except RecursionError:
            raise UnsafeSvg(f"{where} nests too deeply") from None

    def _declarations(self, tokens: list[Any], where: str) -> None:
        for item in tinycss2.parse_declaration_list(tokens, skip_comments=True, skip_whitespace=True):
            if item.type == "error":
                raise UnsafeSvg(f"{where} is not valid CSS ({item.message})")
            if item.type != "declaration":
                raise UnsafeSvg(f"{where} holds a nested rule or an at-rule")
            if item.lower_name not in ALLOWED_PROPERTIES:
                raise UnsafeSvg(f"{where} sets the CSS property {item.name[:60]!r}, which is not allowed")
            self._values(item.value, f"{where} ({item.lower_name})", item.lower_name)

    def _values(self, tokens: list[Any], where: str, prop: str | None) -> None:
        stack = [iter(tokens)]
        while stack:
            token = next(stack[-1], None)
            if token is None:
                stack.pop()
                continue
            kind = token.type
            if kind == "url":
                self._url(token.value, where, prop)
            elif kind == "function":
                name = token.lower_name
                if name == "url":
                    args = [t for t in token.arguments if t.type not in ("whitespace", "comment")]
                    if len(args) != 1 or args[0].type != "string":
                        raise UnsafeSvg(f"{where} holds a malformed url()")
                    self._url(args[0].value, where, prop)
                elif name in ALLOWED_FUNCTIONS:
                    stack.append(iter(token.arguments))
                else:
                    raise UnsafeSvg(f"{where} calls the CSS function {token.name[:60]}(), which is not allowed")
            elif kind in ("() block", "[] block", "{} block"):
                if prop is not None and kind != "() block":
                    raise UnsafeSvg(f"{where} holds a block")
                stack.append(iter(token.content))
            elif kind == "at-keyword":
                raise UnsafeSvg(f"{where} holds @{token.lower_value}")
            elif kind == "error":
                raise UnsafeSvg(f"{where} is not valid CSS ({token.message})")

    @staticmethod
    def _url(target: str, where: str, prop: str | None) -> None:
        if prop in _FRAGMENT_URL_PROPERTIES and _FRAGMENT.fullmatch(target.strip()):
            return
        raise UnsafeSvg(f"{where} references a resource (url({target.strip()[:60]!r})); only url(#id) is allowed")


def _check_reference(value: str, where: str, element: str) -> None:
    target = value.strip()
    if _FRAGMENT.fullmatch(target):
        return
    if element == "image" and _SAFE_DATA_URL.fullmatch(target):
        return
    raise UnsafeSvg(f"{where} references something outside the document ({target[:60]!r})")


def check_svg(data: bytes, *, max_bytes: int = 8 * 1024 * 1024) -> None:
    """Raise :class:`UnsafeSvg` unless ``data`` is a well-formed, self-contained SVG made only
    of the allowed elements, attributes and CSS."""
    if len(data) > max_bytes:
        raise UnsafeSvg(f"the SVG is larger than {max_bytes} bytes")
    if not data.strip():
        raise UnsafeSvg("the SVG is empty")
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    css = _CssChecker()
    stack: list[str] = []  # "svg" | "style" | "metadata" (what the open elements are)
    style_text: list[str] = []
    seen_root = False

    def refuse(why: str):
        def handler(*_args):
            raise UnsafeSvg(why)
        return handler

    def doctype(_name, _sysid, _pubid, has_internal_subset):
        if has_internal_subset:
            raise UnsafeSvg("a DOCTYPE with an internal subset (entity declarations) is not allowed")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal seen_root
        uri, _, local = name.rpartition(" ")
        if len(stack) >= MAX_DEPTH:
            raise UnsafeSvg(f"the SVG nests deeper than {MAX_DEPTH} elements")
        if stack and stack[-1] in ("metadata", "rdf"):
            if uri not in METADATA_NAMESPACES:
                raise UnsafeSvg(f"<{local[:60]}> is not allowed inside <metadata>")
            stack.append("rdf")
            return
        if stack and stack[-1] == "style":
            raise UnsafeSvg("elements inside <style> are not allowed")
        if not seen_root:
            seen_root = True
            if uri != SVG_NS or local != "svg":
                raise UnsafeSvg("the root element is not an SVG <svg> element")
        lname = local.lower()
        if uri != SVG_NS or lname not in ALLOWED_ELEMENTS:
            raise UnsafeSvg(f"<{local[:60]}> elements are not allowed")
        for raw_name, value in attrs.items():
            a_uri, _, a_local = raw_name.rpartition(" ")
            a_lname = a_local.lower()
            where = f"attribute {a_local[:60]!r} of <{local}>"
            if a_uri == XLINK_NS and a_lname == "href" or not a_uri and a_lname == "href":
                _check_reference(value, where, lname)
            elif a_uri == XML_NS and a_lname in ("space", "lang"):
                continue
            elif a_uri or a_lname not in ALLOWED_ATTRIBUTES:
                raise UnsafeSvg(f"{where} is not allowed")
            elif a_lname == "style":
                css.declarations(value, f"the style {where}")
            elif "(" in value:
                css.value(value, a_lname if a_lname in ALLOWED_PROPERTIES else None, where)
        stack.append({"style": "style", "metadata": "metadata"}.get(lname, "svg"))

    def end(_name: str) -> None:
        if stack.pop() == "style":
            css.sheet("".join(style_text))
            style_text.clear()

    def chars(text: str) -> None:
        if stack and stack[-1] == "style":
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
        parser.Parse(data, True)  # in one piece: linear even for huge tokens (no re-parsing)
    except xml.parsers.expat.ExpatError as exc:
        raise UnsafeSvg(f"not well-formed XML: {exc}") from None
    if not seen_root:
        raise UnsafeSvg("no root element")

"""The SVG check of ``visualize``: decided by parsing against an allowlist (unit level, one
case per attack), linear in its input, and — through a real server whose sandboxed user
code hands back a hostile diagram — off the event loop: /health stays responsive."""

from __future__ import annotations

import base64
import io
import time

import pytest
import requests

from qubithub_lite.services.svg_safety import UnsafeSvg, check_svg
from tests.spaces.conftest import sandbox_driver  # noqa: F401  (the fixture)

SVG = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">{}</svg>'


def svg(body: str) -> bytes:
    return SVG.format(body).encode()


REFUSED = {
    "billion_laughs": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
                      b'&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                      b'<svg xmlns="http://www.w3.org/2000/svg"><text>&c;</text></svg>',
    "external_entity": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
    "parameter_entity": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY % p SYSTEM "http://evil.lan/x.dtd"> %p;]>'
                        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    "undeclared_entity_with_external_dtd": b'<!DOCTYPE svg SYSTEM "http://evil.lan/x.dtd">'
                                           b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
    "xml_stylesheet_pi": b'<?xml-stylesheet href="http://evil.lan/x.css"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    "script": svg("<script>alert(1)</script>"),
    "script_in_metadata": svg('<metadata><script xmlns="http://www.w3.org/2000/svg">alert(1)</script></metadata>'),
    "xhtml_script": svg('<g><script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script></g>'),
    "foreign_object": svg('<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'),
    "iframe_in_foreign_namespace": svg('<x:iframe xmlns:x="http://www.w3.org/1999/xhtml" src="http://evil.lan"/>'),
    "anchor": svg('<a href="http://evil.lan"><text>click</text></a>'),
    "animate_href": svg('<animate attributeName="href" to="javascript:alert(1)"/>'),
    "set": svg('<set attributeName="onmouseover" to="alert(1)"/>'),
    "event_handler": svg('<rect onload="alert(1)"/>'),
    "event_handler_on_root": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "javascript_href": svg('<use href="javascript:alert(1)"/>'),
    "javascript_href_obfuscated": svg('<use xlink:href=" jav&#x09;ascript:alert(1)"/>'),
    "data_html_href": svg('<image href="data:text/html;base64,PHNjcmlwdD4="/>'),
    "data_svg_image": svg('<image href="data:image/svg+xml;base64,PHN2Zz4="/>'),
    "external_image": svg('<image href="http://evil.lan/track.png"/>'),
    "external_use": svg('<use href="http://evil.lan/sprite.svg#a"/>'),
    "fe_image": svg('<filter id="f"><feImage href="http://evil.lan/x.png"/></filter>'),
    "xml_base": svg('<g xml:base="http://evil.lan/"><use href="#a"/></g>'),
    "style_import": svg('<style>@import "http://evil.lan/x.css";</style>'),
    "style_import_escaped": svg('<style>@\\69mport "http://evil.lan/x.css";</style>'),
    "style_font_face": svg('<style>@font-face { font-family: x; src: url(#a) }</style>'),
    "style_url": svg("<style>rect { fill: url(http://evil.lan/x) }</style>"),
    "style_url_escaped": svg("<style>rect { fill: \\75rl(http://evil.lan/x) }</style>"),
    "style_url_in_string": svg('<style>rect { fill: url("http://evil.lan/x") }</style>'),
    "style_image_set": svg('<style>rect { fill: image-set("http://evil.lan/x.png" 1x) }</style>'),
    "style_webkit_image_set": svg('<style>rect { fill: -webkit-image-set("x.png" 1x) }</style>'),
    "style_expression": svg("<style>rect { width: expression(alert(1)) }</style>"),
    "style_unknown_property": svg("<style>rect { background: red }</style>"),
    "style_escaped_property": svg("<style>rect { b\\61 ckground: \\75rl(http://evil.lan) }</style>"),
    "style_var": svg("<style>rect { fill: var(--x) }</style>"),
    "style_attribute_url": svg('<rect style="fill: url(http://evil.lan/x)"/>'),
    "style_attribute_escaped_url": svg('<rect style="fill: \\75rl(http://evil.lan/x)"/>'),
    "style_attribute_cursor": svg('<rect style="cursor: url(http://evil.lan/c.cur), auto"/>'),
    "presentation_attribute_url": svg('<rect fill="url(http://evil.lan/x)"/>'),
    "presentation_attribute_escaped_url": svg('<rect fill="\\75rl(http://evil.lan/x)"/>'),
    "presentation_attribute_image_set": svg('<rect mask="image-set(\'http://evil.lan/x.png\' 1x)"/>'),
    "cursor_attribute": svg('<rect cursor="url(http://evil.lan/c.cur)"/>'),
    "unknown_attribute": svg('<rect formaction="http://evil.lan"/>'),
    "deep_nesting": svg("<g>" * 100_000 + "</g>" * 100_000),
    "not_svg_root": b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>',
    "svg_root_wrong_namespace": b"<svg><script>alert(1)</script></svg>",
    "too_large": svg("<rect/>" * 2_000_000),
    "quadratic_regex_bomb": svg("<style>" + "url(" * 20_000 + "</style>"),
    "quadratic_regex_bomb_attribute": svg('<rect fill="' + "url(" * 200_000 + '"/>'),
    "css_too_large": svg("".join(f'<rect style="fill: rgb({i % 256},{i // 256 % 256},{i // 65536})"/>'
                                 for i in range(20_000))),
}

ALLOWED = {
    "shapes_and_fragments": svg(
        '<defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient>'
        '<clipPath id="c"><rect width="10" height="10"/></clipPath></defs>'
        '<g clip-path="url(#c)" transform="translate(1, 2) rotate(30)"><rect fill="url(#g)" '
        'style="fill: url( \'#g\' ); stroke: rgb(0, 0, 0); stroke-width: 2"/><use xlink:href="#c"/></g>'),
    "style_sheet": svg("<style type=\"text/css\">*{stroke-linejoin: round; stroke-linecap: butt}"
                       " rect.x { fill: #f00 !important }</style>"),
    "inline_png": svg('<image width="1" height="1" href="data:image/png;base64,iVBORw0KGgo="/>'),
    "metadata_and_doctype": b'<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
                            b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
                            b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
                            b'<svg xmlns="http://www.w3.org/2000/svg"><metadata><rdf:RDF '
                            b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/'
                            b'elements/1.1/"><dc:type rdf:resource="http://purl.org/dc/dcmitype/StillImage"/>'
                            b'</rdf:RDF></metadata><text x="1" font-family="sans\\-serif:style=normal">'
                            b'q_0</text></svg>',
    "huge_path": svg('<path d="' + "L 1 2 " * 500_000 + '"/>'),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_svg_is_refused(name):
    with pytest.raises(UnsafeSvg) as info:
        check_svg(REFUSED[name])
    assert str(info.value)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_safe_svg_is_accepted(name):
    check_svg(ALLOWED[name])


def _drawn() -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import cirq
    from cirq.contrib.svg import circuit_to_svg
    from qiskit import QuantumCircuit
    from qiskit.visualization import circuit_drawer

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.rz(0.5, 2)
    qc.measure_all()
    out = {}
    for fonttype in ("path", "none"):  # glyphs as paths (default) or as <text> with CSS fonts
        with matplotlib.rc_context({"svg.fonttype": fonttype}):
            fig = circuit_drawer(qc, output="mpl")
            buf = io.StringIO()
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        out[f"qiskit_{fonttype}"] = buf.getvalue().encode()
    q = cirq.LineQubit.range(2)
    out["cirq"] = circuit_to_svg(cirq.Circuit([cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.measure(*q)])).encode()
    return out


def test_the_frameworks_drawings_are_accepted():
    drawn = _drawn()
    assert b"<text" in drawn["qiskit_none"] and b"<use" in drawn["qiskit_path"]
    for data in drawn.values():
        check_svg(data)


def _seconds(data: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        try:
            check_svg(data)
        except UnsafeSvg:
            pass
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("unit", ["<style>url(</style>", '<rect fill="url(url("/>', "<g><rect/></g>",
                                  '<rect style="fill: red; stroke: blue"/>'])
def test_check_time_is_linear(unit):
    # 4x the input may take at most ~4x the time (quadratic would be 16x); generous margin.
    small = svg(unit * 20_000)
    large = svg(unit * 80_000)
    ratio = _seconds(large) / max(_seconds(small), 1e-4)
    assert ratio < 8, ratio


# Through a real server: sandboxed user code hands the server a hostile diagram ------------
#: User code that replaces the driver's drawer (it runs in the sandbox as __main__'s code).
HOSTILE_DRAWER = '''
import sys, cirq
PAYLOAD = {payload}
sys.modules["__main__"].draw = lambda obj, fw: PAYLOAD
circuit = cirq.Circuit()
'''

SERVER_ATTACKS = {
    # the regex filter took ~12 s of event loop for an 80 KB document like this one
    "quadratic_style": "'<svg xmlns=\"http://www.w3.org/2000/svg\"><style>' + 'url(' * 20000 + '</style></svg>'",
    "huge_attribute": "'<svg xmlns=\"http://www.w3.org/2000/svg\"><rect id=\"' + 'a' * 7000000 + '\"/><script/></svg>'",
    "deep_nesting": "'<svg xmlns=\"http://www.w3.org/2000/svg\">' + '<g>' * 1000000 + '</g>' * 1000000 + '</svg>'",
    "billion_laughs": "'<!DOCTYPE svg [<!ENTITY a \"' + 'a' * 1000 + '\">' + ''.join("
                      "'<!ENTITY a%d \"%s\">' % (i, '&a;' * 10 if i == 0 else ('&a%d;' % (i - 1)) * 10) "
                      "for i in range(8)) + ']><svg xmlns=\"http://www.w3.org/2000/svg\">&a7;</svg>'",
    "many_distinct_styles": "'<svg xmlns=\"http://www.w3.org/2000/svg\">' + ''.join("
                            "'<rect style=\"fill: rgb(%d,%d,%d)\"/>' % (i % 256, i // 256 % 256, i // 65536) "
                            "for i in range(150000)) + '</svg>'",
}


@pytest.mark.sandbox
@pytest.mark.parametrize("name", sorted(SERVER_ATTACKS))
def test_hostile_diagram_through_visualize(name, sandbox_driver, server, user, watch_attack):
    resp = requests.post(f"{server.url}/spaces", headers=user.headers, timeout=30,
                         json={"name": f"viz-{name}".replace("_", "-"), "title": "Viz", "sdk": "cirq"})
    assert resp.status_code == 201, resp.text
    space = resp.json()["id"]
    code = HOSTILE_DRAWER.format(payload=SERVER_ATTACKS[name])

    def attack():
        r = requests.post(f"{server.url}/spaces/{space}/visualize", headers=user.headers, timeout=300,
                          json={"code": code, "framework": "cirq"})
        assert r.status_code == 200, r.text
        return r.json()

    report = watch_attack(attack, min_attack_probes=1)
    report.assert_responsive()
    report.assert_memory(96)  # the server's own RSS (the sandbox is a child, reported apart)
    body = report.result
    assert body["status"] == "error" and body["diagram"] is None, body
    assert body["error"].startswith("the diagram was refused") or "larger than" in body["error"], body["error"]


@pytest.mark.sandbox
def test_safe_diagram_through_visualize(sandbox_driver, server, user):
    resp = requests.post(f"{server.url}/spaces", headers=user.headers, timeout=30,
                         json={"name": "viz-ok", "title": "Viz", "sdk": "cirq"})
    space = resp.json()["id"]
    code = "import cirq\nq = cirq.LineQubit.range(2)\ncircuit = cirq.Circuit([cirq.H(q[0]), cirq.CNOT(*q)])\n"
    r = requests.post(f"{server.url}/spaces/{space}/visualize", headers=user.headers, timeout=300,
                      json={"code": code, "framework": "cirq"})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", body
    check_svg(base64.b64decode(body["diagram"]))

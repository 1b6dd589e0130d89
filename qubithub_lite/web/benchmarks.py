"""The Benchmarks page: suites, a suite's problems, leaderboards (the signed-in user's rank
highlighted), the volumetric picture per backend (a plain SVG drawn here from the same data as
``GET /benchmarks/volumetric/{backend}``) and a "run this problem" form that makes the same
service call as ``POST /benchmarks/run``."""

from __future__ import annotations

import urllib.parse
from typing import Any

from .common import NAV, NavEntry
from .pages import View, form, page, pages_around, parse, redirect

NAV.append(NavEntry("Benchmarks", "/benchmarks"))

CELL = 44  # px per volumetric cell
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 52, 40, 8


def score_fill(score: float) -> str:
    """Red (0) → amber → green (1), as an SVG presentation attribute (no inline style: CSP)."""
    s = min(1.0, max(0.0, float(score)))
    return f"hsl({round(s * 120)}, 70%, {round(42 + 8 * (1 - abs(s - 0.5) * 2))}%)"


def volumetric_picture(cells: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Geometry of the volumetric plot: qubits (width) across, circuit depth up, one square per
    measured (width, depth) pair coloured by its mean score. Axes are ordinal (the distinct
    widths and depths measured), so a deep quantum-volume circuit does not squash the rest."""
    if not cells:
        return None
    widths = sorted({c["width"] for c in cells})
    depths = sorted({c["depth"] for c in cells})
    xs = {w: MARGIN_LEFT + i * CELL for i, w in enumerate(widths)}
    plot_h = len(depths) * CELL
    ys = {d: MARGIN_TOP + plot_h - (i + 1) * CELL for i, d in enumerate(depths)}
    rects = [{"x": xs[c["width"]] + 2, "y": ys[c["depth"]] + 2, "size": CELL - 4, "fill": score_fill(c["mean_score"]),
              "label": f"{c['mean_score']:.2f}", "dark": 0.25 < c["mean_score"] < 0.85,
              "title": f"{c['width']} qubits, depth {c['depth']}: mean score {c['mean_score']:.3f} over {c['runs']} runs"}
             for c in cells]
    return {
        "width": MARGIN_LEFT + len(widths) * CELL + 8, "height": MARGIN_TOP + plot_h + MARGIN_BOTTOM,
        "plot_bottom": MARGIN_TOP + plot_h, "rects": rects,
        "xticks": [{"x": xs[w] + CELL / 2, "label": w} for w in widths],
        "yticks": [{"y": ys[d] + CELL / 2 + 4, "label": d} for d in depths],
    }


def _link(**params: Any) -> str:
    return "/benchmarks?" + urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})


@page("/benchmarks", exclusive=True)
async def benchmarks_page(v: View):
    from ..schemas.benchmarks import LeaderboardQuery

    service = v.hub.benchmarks
    suites = service.list_suites()["suites"]
    if not suites:
        return v.render("benchmarks.html", suites=[], suite=None)
    suite = service.suite_detail(v.q("suite") or suites[0]["name"])
    problems = suite["problems"]
    problem = next((p for p in problems if p["id"] == v.q("problem")), None) if v.q("problem") else (problems[0] if problems else None)
    if problem is None and v.q("problem"):
        from ..errors import NotFound

        raise NotFound("benchmark problem not found")
    board = mine = None
    if problem is not None:
        q = parse(LeaderboardQuery, {k: v.q(k) for k in ("page", "limit") if v.q(k)})
        board = await service.leaderboard(suite["name"], problem["id"], v.uid, q)
        board["around"] = pages_around(board["page"], board["pages"])
        if v.user is not None:
            mine = await service.my_rank(suite["name"], problem["id"], v.user)
    backends = service.runs.backends()
    pictures = []
    for name in suite["backends"]:
        if name not in backends:
            continue
        data = await service.volumetric(name)
        pictures.append({"backend": name, "cells": data["cells"], "picture": volumetric_picture(data["cells"])})
    base = _link(suite=suite["name"], problem=problem["id"] if problem else None)
    return v.render("benchmarks.html", suites=suites, suite=suite, problem=problem, board=board, mine=mine,
                    pictures=pictures, run_backends=[b for b in suite["backends"] if b in backends],
                    board_base=base + "&", link=_link)


@form("/-/benchmarks/run")
async def run_problem(v: View):
    """The same call as ``POST /benchmarks/run``: one run per chosen backend."""
    from ..schemas.benchmarks import BenchmarkRunQuery

    user = v.need_user()
    fields = {k: (v.form.get(k) or "").strip() for k in ("suite_name", "problem_idx", "circuit_idx", "backend", "circuit_id")}
    q = parse(BenchmarkRunQuery, {k: x for k, x in fields.items() if x})
    result = await v.hub.benchmarks.submit(user, q)
    runs = result["runs"]
    if len(runs) == 1:
        return redirect(f"/runs/{runs[0].id}")
    return redirect("/runs")

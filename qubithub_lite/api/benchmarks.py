"""/benchmarks (reference "Benchmarks"): suites, scored runs, leaderboards, volumetric view, export.
Thin handlers: parse → ``ctx.hub.benchmarks`` → serialise."""

from __future__ import annotations

from ..schemas.benchmarks import (
    BenchmarkRunOut, BenchmarkRunQuery, ExportOut, ExportQuery, FeaturedList, Leaderboard, LeaderboardQuery, MyRank, SuiteDetail,
    SuiteList, Volumetric,
)
from .routing import Ctx, Router

router = Router("benchmarks")


def _uid(ctx: Ctx) -> str | None:
    user = ctx.user_or_none
    return user.id if user else None


@router.get("/benchmarks/suites", response=SuiteList)
async def list_suites(ctx: Ctx):
    """Every benchmark suite with its version, scoring and backends."""
    return ctx.hub.benchmarks.list_suites()


@router.get("/benchmarks/suites/{suite_name}", response=SuiteDetail, errors=(404,))
async def get_suite(ctx: Ctx):
    """A suite's problems (their `index` is `problem_idx`) and circuits."""
    return ctx.hub.benchmarks.suite_detail(ctx.path["suite_name"])


@router.post("/benchmarks/run", query=BenchmarkRunQuery, response=BenchmarkRunOut, status=201, auth="user",
             scope="runs:submit", errors=(400, 403, 404))
async def run_benchmark(ctx: Ctx):
    """Run a suite problem (or your own circuit for it) on a backend, or on every backend of the suite."""
    return await ctx.hub.benchmarks.submit(ctx.user, ctx.query)


@router.get("/benchmarks/leaderboard/featured", response=FeaturedList)
async def featured_leaderboards(ctx: Ctx):
    """The top five of each featured problem."""
    return await ctx.hub.benchmarks.featured(_uid(ctx))


@router.get("/benchmarks/leaderboard/{suite_name}/{problem_id}", query=LeaderboardQuery, response=Leaderboard,
            errors=(400, 404))
async def leaderboard(ctx: Ctx):
    """Best entry per user and backend, ranked by score; overlapping 95 % intervals share a rank."""
    return await ctx.hub.benchmarks.leaderboard(ctx.path["suite_name"], ctx.path["problem_id"], _uid(ctx), ctx.query)


@router.get("/benchmarks/leaderboard/{suite_name}/{problem_id}/my-rank", response=MyRank, auth="user",
            scope="runs:read", errors=(404,))
async def my_rank(ctx: Ctx):
    """The caller's best entry and rank (`rank` null without an entry)."""
    return await ctx.hub.benchmarks.my_rank(ctx.path["suite_name"], ctx.path["problem_id"], ctx.user)


@router.get("/benchmarks/volumetric/{backend}", response=Volumetric, errors=(404,))
async def volumetric(ctx: Ctx):
    """Mean score per (width, depth) cell of a backend's scored runs."""
    return await ctx.hub.benchmarks.volumetric(ctx.path["backend"])


@router.get("/benchmarks/export", query=ExportQuery, response=ExportOut, errors=(400, 404))
async def export(ctx: Ctx):
    """Every scored run (of `suite_name`) in metriq-gym's result record format, oldest first."""
    return await ctx.hub.benchmarks.export(ctx.query.suite_name, ctx.query)

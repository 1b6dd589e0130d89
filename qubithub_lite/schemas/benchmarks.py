"""Benchmarks (reference "Benchmarks"): suites, runs, leaderboards, volumetric view, export."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .benchmark_scores import BenchmarkBlock, CalibrationRef, SupermarqFeatures, TranspiledOut  # noqa: F401
from .common import PageQuery, Schema, Timestamp
from .runs import RunResponse

SUITE_NAME = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")


class SuiteCard(Schema):
    name: str
    title: str
    description: str
    version: str
    scoring: str = Field(description="How a run is scored: the QED-C normalized Hellinger fidelity.")
    problems_count: int
    backends: list[str]


class SuiteList(Schema):
    suites: list[SuiteCard]
    total: int


class SuiteCircuitOut(Schema):
    index: int
    name: str
    qubits: int
    depth: int
    two_qubit_gates: int


class ProblemOut(Schema):
    id: str = Field(description="Stable id, e.g. ghz-n4.")
    index: int = Field(description="`problem_idx` of POST /benchmarks/run.")
    title: str
    qubits: int
    circuits: list[SuiteCircuitOut]


class SuiteDetail(Schema):
    name: str
    title: str
    description: str
    version: str
    scoring: str
    backends: list[str]
    problems: list[ProblemOut]


class BenchmarkRunQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    suite_name: str = SUITE_NAME
    problem_idx: int = Field(0, ge=0, le=10_000)
    circuit_idx: int = Field(0, ge=0, le=10_000)
    circuit_id: str | None = Field(None, max_length=36, description="Your own circuit (one you may see) instead of the suite's.")
    backend: str | None = Field(None, max_length=64, description="Default: every backend of the suite that fits the problem.")


class UserRef(Schema):
    id: str
    username: str


class LeaderboardEntry(Schema):
    rank: int
    user: UserRef
    backend_name: str
    score: float
    score_ci: list[float]
    run_id: str
    circuit_id: str | None = Field(None, description="Hidden when the circuit is private to the viewer.")
    created_at: Timestamp


class LeaderboardQuery(PageQuery):
    pass


class Leaderboard(Schema):
    suite_name: str
    problem_id: str
    entries: list[LeaderboardEntry]
    total: int
    page: int
    pages: int


class MyRank(Schema):
    rank: int | None
    entry: LeaderboardEntry | None
    total_entries: int


class FeaturedBoard(Schema):
    suite_name: str
    problem_id: str
    title: str
    entries: list[LeaderboardEntry]


class FeaturedList(Schema):
    leaderboards: list[FeaturedBoard]


class VolumetricCell(Schema):
    width: int = Field(description="Qubits of the problem.")
    depth: int = Field(description="Depth of the suite circuit.")
    mean_score: float
    runs: int


class Volumetric(Schema):
    backend: str
    cells: list[VolumetricCell]


class ExportQuery(PageQuery):
    suite_name: str | None = Field(None, min_length=1, max_length=64)
    limit: int = Field(100, ge=1, le=1000)


class MetriqPlatform(Schema):
    provider: str
    device: str


class MetriqResults(Schema):
    values: dict[str, float]
    uncertainties: dict[str, float]


class MetriqRecord(Schema):
    """One result in metriq-gym's record format (app_version, timestamp, platform, job_type,
    params, results.values / results.uncertainties)."""

    app_version: str
    timestamp: str
    platform: MetriqPlatform
    job_type: str
    params: dict[str, Any]
    results: MetriqResults


class ExportOut(Schema):
    records: list[MetriqRecord]
    total: int
    page: int
    pages: int


class BenchmarkRunOut(Schema):
    suite_name: str
    problem_id: str
    runs: list[RunResponse] = Field(description="The runs created, as GET /runs/{id} returns them.")

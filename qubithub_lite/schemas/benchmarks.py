"""Benchmarks (reference "Benchmarks"): suites, runs, leaderboards, volumetric view, export."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .common import PageQuery, Schema, Timestamp

SUITE_NAME = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
BACKEND_NAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


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


class SupermarqFeatures(Schema):
    program_communication: float
    critical_depth: float
    entanglement_ratio: float
    parallelism: float
    liveness: float
    measurement: float


class TranspiledOut(Schema):
    hash: str
    depth: int
    two_qubit_gates: int
    features: SupermarqFeatures


class CalibrationRef(Schema):
    hash: str
    calibrated_at: str | None = None
    source: str | None = None


class BenchmarkBlock(Schema):
    suite_name: str
    suite_version: str
    problem_id: str
    score: float = Field(description="QED-C normalized fidelity, clip((HF - floor) / (1 - floor), 0, 1).")
    hellinger_fidelity: float
    score_ci: list[float] = Field(description="95 % percentile bootstrap interval of the score over the shots.")
    transpiled: TranspiledOut
    calibration: CalibrationRef | None = Field(None, description="The emulated device's calibration snapshot.")


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

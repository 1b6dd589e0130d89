"""The ``benchmark`` block of a scored run (``GET /runs/{id}``); a leaf module, so that the
runs schemas can use it and the benchmarks schemas can use the runs'."""

from __future__ import annotations

from pydantic import Field

from .common import Schema


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

"""Runs (reference "Runs", platform-notes §7) and backends."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from .benchmark_scores import BenchmarkBlock
from .bounded import FreeForm
from .common import PageQuery, Request, Schema, Timestamp
from ..run_status import RunStatus as _RunStatus

#: The run states as the OpenAPI document shows them (an inline string enum), from the one type.
RunStatus = Literal[tuple(s.value for s in _RunStatus)]  # type: ignore[valid-type]
ParamValue = int | float | bool | str | list[float] | list[int]


class RunCreate(Request):
    circuit_id: str = Field(max_length=36)
    backend_type: Literal["simulation", "emulation", "hardware"] = "simulation"
    backend_name: str | None = Field(None, max_length=64, description="Default: the framework's default simulator.")
    shots: int = Field(1024, ge=1, le=100_000)
    parameters: dict[str, ParamValue] | None = Field(None, description="Circuit parameters, e.g. {\"theta\": 0.785}.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Simulator seed; recorded so a run can be repeated.")
    options: FreeForm | None = Field(None, description="Backend options, e.g. {\"statevector\": true}.")

    @field_validator("parameters")
    @classmethod
    def _params(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(value) > 100:
            raise ValueError("at most 100 parameters")
        for name, v in value.items():
            if not name.isidentifier() or len(name) > 64:
                raise ValueError(f"parameter name {name!r} is not an identifier")
            items = v if isinstance(v, list) else [v]
            if isinstance(v, list) and len(v) > 10_000:
                raise ValueError(f"parameter {name!r}: list too long")
            for item in items:
                if isinstance(item, float) and not math.isfinite(item):
                    raise ValueError(f"parameter {name!r} must be finite")
                if isinstance(item, str) and len(item) > 200:
                    raise ValueError(f"parameter {name!r} is too long")
        return value


class RunListQuery(PageQuery):
    status: RunStatus | None = None
    circuit_id: str | None = Field(None, max_length=36)


class RunResponse(Schema):
    id: str
    circuit_id: str
    circuit_version_id: str | None = None
    user_id: str
    backend_type: str
    backend_name: str
    status: RunStatus
    shots: int
    parameters: dict[str, Any] | None = None
    seed: int | None = None
    results: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    error_class: str | None = None
    error_message: str | None = None
    queue_position: int | None = Field(None, description="1-based place in the fair queue while queued.")
    circuit_name: str | None = None
    created_at: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    benchmark: BenchmarkBlock | None = Field(None, description="A scored benchmark run's score and circuit features.")


class RunCard(Schema):
    id: str
    circuit_id: str
    circuit_name: str | None = None
    backend_type: str
    backend_name: str
    status: RunStatus
    shots: int
    error_class: str | None = None
    error_message: str | None = None
    created_at: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None


class RunList(Schema):
    runs: list[RunCard]
    total: int
    page: int
    pages: int


class RunStatsResponse(Schema):
    total_runs: int = 0
    pending_runs: int = 0
    queued_runs: int = 0
    running_runs: int = 0
    completed_runs: int = 0
    failed_runs: int = 0
    cancelled_runs: int = 0
    total_shots: int = 0
    total_execution_time: float = 0.0
    avg_execution_time: float = 0.0
    success_rate: float = 0.0


class BackendInfo(Schema):
    id: str
    name: str
    type: str
    status: str
    status_reason: str = ""
    max_qubits: int
    frameworks: list[str]
    description: str = ""
    has_calibration: bool = False
    queue_length: int = 0
    options: list[dict[str, Any]] = []


class BackendList(Schema):
    backends: list[BackendInfo]
    total: int

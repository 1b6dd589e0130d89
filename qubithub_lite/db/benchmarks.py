"""Models of benchmark runs. The schema is owned by ``migrations/m0010_benchmarks.py``.

- ``BenchmarkRun``: one run of the runs engine submitted for a benchmark problem, with the
  score the server computed when it completed (null until then, or if it failed).
- ``BenchmarkCalibration``: calibration snapshots of emulated devices, by content hash; a
  benchmark run on an emulator points at the one it ran with.
"""

from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField

from .circuits import Circuit
from .fields import JSONField, utcnow
from .models import BaseModel, User
from .runs import Run


class BenchmarkCalibration(BaseModel):
    hash = CharField(max_length=64, primary_key=True)
    backend_name = CharField(max_length=64)
    data = JSONField()
    created_at = DateTimeField(default=utcnow)


class BenchmarkRun(BaseModel):
    run = ForeignKeyField(Run, primary_key=True, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    circuit = ForeignKeyField(Circuit, on_delete="CASCADE")
    custom_circuit = BooleanField(default=False)  # the caller's own circuit, not the suite's
    suite_name = CharField(max_length=64)
    suite_version = CharField(max_length=32)
    problem_id = CharField(max_length=64)
    circuit_index = IntegerField(null=True)
    backend_name = CharField(max_length=64)
    width = IntegerField()  # the problem's qubits
    depth = IntegerField()  # the suite circuit's depth (volumetric view)
    score = FloatField(null=True)
    hellinger_fidelity = FloatField(null=True)
    score_ci_low = FloatField(null=True)
    score_ci_high = FloatField(null=True)
    ideal = JSONField(null=True)
    transpiled = JSONField(null=True)
    calibration = ForeignKeyField(BenchmarkCalibration, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    scored_at = DateTimeField(null=True)

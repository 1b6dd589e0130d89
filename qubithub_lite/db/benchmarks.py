"""Models of benchmark runs. The schema is owned by ``migrations/m0010_benchmarks.py``.

- ``BenchmarkRun``: one run of the runs engine submitted for a benchmark problem, with the
  score the server computed when it completed (null until then, or if it failed).
- ``BenchmarkCalibration``: calibration snapshots of emulated devices, by content hash; a
  benchmark run on an emulator points at the one it ran with.
"""

from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, fn

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


class BenchmarkStatements:
    """A benchmark run's two writes on the run path (its row with the submission, its score
    with the completion) as plain SQL composed once, like ``db.run_statements``: building them
    with peewee's query builder costs more than executing them. Values go through each
    field's ``db_value``, as peewee would send them."""

    INSERTED = ("run", "user", "circuit", "custom_circuit", "suite_name", "suite_version", "problem_id",
                "circuit_index", "backend_name", "width", "depth", "created_at")
    SCORED = ("score", "hellinger_fidelity", "score_ci_low", "score_ci_high", "ideal", "transpiled", "calibration",
              "scored_at")

    def __init__(self, param: str) -> None:
        meta = BenchmarkRun._meta
        self._fields = meta.fields
        table = f'"{meta.table_name}"'
        cols = ", ".join(f'"{self._fields[name].column_name}"' for name in self.INSERTED)
        self._insert = f"INSERT INTO {table} ({cols}) VALUES ({', '.join([param] * len(self.INSERTED))})"
        sets = ", ".join(f'"{self._fields[name].column_name}" = {param}' for name in self.SCORED)
        self._score = f'UPDATE {table} SET {sets} WHERE "{self._fields["run"].column_name}" = {param}'

    def insert(self, **values) -> tuple[str, list]:
        """The row of a submitted benchmark run (every name of ``INSERTED``)."""
        return self._insert, [self._fields[name].db_value(values[name]) for name in self.INSERTED]

    def score(self, run_id: str, **values) -> tuple[str, list]:
        """A completed run's score (every name of ``SCORED``)."""
        return self._score, [self._fields[name].db_value(values[name]) for name in self.SCORED] + [run_id]


# Leaderboard reads ---------------------------------------------------------------------------
async def best_entries(db, suite_name: str, suite_version: str, problem_id: str) -> list[dict]:
    """Each user's best scored entry per backend for one problem (score, then the earliest),
    best first: dicts with ``run_id, user_id, backend_name, score, score_ci_low, score_ci_high,
    circuit_id, custom_circuit, created_at``."""
    B = BenchmarkRun
    best = fn.ROW_NUMBER().over(partition_by=[B.user, B.backend_name], order_by=[B.score.desc(), B.created_at, B.run])
    ranked = (B.select(B.run, B.user, B.backend_name, B.score, B.score_ci_low, B.score_ci_high, B.circuit,
                       B.custom_circuit, B.created_at, best.alias("best"))
              .where((B.suite_name == suite_name) & (B.suite_version == suite_version) & (B.problem_id == problem_id)
                     & B.score.is_null(False)))
    return await db.list(
        ranked.select_from(ranked.c.run_id, ranked.c.user_id, ranked.c.backend_name, ranked.c.score,
                           ranked.c.score_ci_low, ranked.c.score_ci_high, ranked.c.circuit_id,
                           ranked.c.custom_circuit, ranked.c.created_at)
        .where(ranked.c.best == 1).order_by(ranked.c.score.desc(), ranked.c.created_at, ranked.c.run_id).dicts())


async def volumetric_cells(db, backend: str) -> list[dict]:
    """Mean score and run count per (width, depth) of a backend's scored runs: dicts with
    ``width, depth, mean, n``, in order."""
    B = BenchmarkRun
    return await db.list(
        B.select(B.width, B.depth, fn.AVG(B.score).alias("mean"), fn.COUNT(B.run).alias("n"))
        .where((B.backend_name == backend) & B.score.is_null(False))
        .group_by(B.width, B.depth).order_by(B.width, B.depth).dicts())

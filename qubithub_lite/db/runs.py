"""Models of the runs engine. The schema is owned by ``migrations/m0004_runs.py``.

- ``Run``: one execution request and its lifecycle; the queue's source of truth.
- ``RunStats``: maintained aggregates per user and per circuit (scope, key), updated in
  the same transaction as every run transition, so stats never scan the runs table.
- ``CompiledArtifact``: the compile-once cache: the portable export of a circuit
  version + entry point (+ circuit-shaping keyword arguments), shared by every user.
"""

from __future__ import annotations

from peewee import BigIntegerField, BlobField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, TextField

from .circuits import Circuit, CircuitVersion
from .fields import IdField, JSONField, new_id, utcnow
from .models import BaseModel, User
from ..run_status import ACTIVE, STATUSES, TERMINAL, RunStatus  # noqa: F401  (re-exported)


class Run(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    circuit = ForeignKeyField(Circuit, backref="runs", on_delete="CASCADE")
    circuit_version = ForeignKeyField(CircuitVersion, null=True, on_delete="SET NULL")
    user = ForeignKeyField(User, backref="runs", on_delete="CASCADE")
    backend_type = CharField(max_length=20)
    backend_name = CharField(max_length=64)
    status = CharField(max_length=12, default=RunStatus.PENDING.value)
    shots = IntegerField()
    parameters = JSONField(null=True)
    options = JSONField(null=True)
    seed = BigIntegerField(null=True)
    results = JSONField(null=True)
    metrics = JSONField(null=True)
    error_class = CharField(max_length=24, null=True)
    error_message = TextField(null=True)
    attempts = IntegerField(default=0)
    timeout_seconds = FloatField(null=True)
    created_at = DateTimeField(default=utcnow)
    queued_at = DateTimeField(null=True)
    started_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)


class RunStats(BaseModel):
    scope = CharField(max_length=8)  # "user" | "circuit"
    key = CharField(max_length=36)
    total_runs = IntegerField(default=0)
    pending_runs = IntegerField(default=0)
    queued_runs = IntegerField(default=0)
    running_runs = IntegerField(default=0)
    completed_runs = IntegerField(default=0)
    failed_runs = IntegerField(default=0)
    cancelled_runs = IntegerField(default=0)
    total_shots = BigIntegerField(default=0)
    total_execution_time = FloatField(default=0.0)  # seconds, completed runs

    class Meta:
        primary_key = False
        indexes = ((("scope", "key"), True),)


class CompiledArtifact(BaseModel):
    cache_key = CharField(max_length=64, primary_key=True)
    circuit_version = ForeignKeyField(CircuitVersion, on_delete="CASCADE")
    kind = CharField(max_length=24)
    data = BlobField(null=True)
    framework = CharField(max_length=20)
    num_qubits = IntegerField(default=0)
    info = JSONField(null=True)
    created_at = DateTimeField(default=utcnow)


async def run_ids_with_prefix(db, prefix: str, limit: int) -> list[tuple[str, str, str]]:
    """(id, user_id, circuit_id) of runs whose id starts with ``prefix`` (lower-case hex and
    hyphens), at most ``limit``: an index range on the primary key, never a scan."""
    upper = prefix + "\uffff"
    rows = await db.list(
        Run.select(Run.id, Run.user, Run.circuit).where((Run.id >= prefix) & (Run.id < upper))
        .order_by(Run.id).limit(limit)
    )
    return [(r.id, r.user_id, r.circuit_id) for r in rows]

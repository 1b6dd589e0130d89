"""Models of the runs engine. The schema is owned by ``migrations/m0004_runs.py``.

- ``Run``: one execution request and its lifecycle; the queue's source of truth.
- ``RunStats``: maintained aggregates per user and per circuit (scope, key), updated in
  the same transaction as every run transition, so stats never scan the runs table.
- ``CompiledArtifact``: the compile-once cache: the portable export of a circuit
  version + entry point (+ circuit-shaping keyword arguments), shared by every user.
"""

from __future__ import annotations

from peewee import JOIN, BigIntegerField, BlobField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, TextField, fn

from .circuits import Circuit, CircuitVersion
from .fields import IdField, JSONField, new_id, utcnow
from .models import BaseModel, Organization, User
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
    lease_owner = CharField(max_length=64, null=True)  # m0016: the process executing it
    lease_expires_at = DateTimeField(null=True)  # m0016: its claim holds until then (heartbeats)


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


def stats_row_query(scope: str, key: str):
    """The maintained aggregate row of one user or circuit: one lookup on the unique
    (scope, key) index, whatever the number of runs (the rows are kept current in each
    transition's transaction, by atomic increments)."""
    return RunStats.select().where((RunStats.scope == scope) & (RunStats.key == key)).limit(1)


async def stats_row(db, scope: str, key: str) -> RunStats | None:
    rows = await db.list(stats_row_query(scope, key))
    return rows[0] if rows else None


# Reads the runs service asks for (``sql``: the service's ``db.run_statements.RunStatements``) ----
async def active_count(db, sql, user_id: str) -> int:
    """How many unfinished runs the user has."""
    return int((await db.execute_sql(sql.active_count, [user_id])).fetchone()[0])


async def active_by_status(db, sql) -> dict[str, int]:
    """Unfinished runs per status (one grouped read)."""
    return {status: int(n) for status, n in (await db.execute_sql(sql.active_by_status)).fetchall()}


async def waiting_by_user(db, sql, run: Run) -> dict[str, tuple[int, int]]:
    """For each user with waiting runs: (how many, how many of them are older than ``run``)."""
    cursor = await db.execute_sql(sql.waiting_by_user, sql.position_params(run))
    return {user_id: (int(n), int(older or 0)) for user_id, n, older in cursor.fetchall()}


async def active_by_backend(db) -> dict[str, int]:
    """Unfinished runs per backend name."""
    rows = await db.list(
        Run.select(Run.backend_name, fn.COUNT(Run.id).alias("n")).where(Run.status.in_(ACTIVE)).group_by(Run.backend_name))
    return {r.backend_name: r.n for r in rows}


async def repo_names(db, circuit_ids: list[str]) -> dict[str, str]:
    """``owner/name`` (the organization's slug or the owner's username) of each circuit."""
    rows = await db.list(
        Circuit.select(Circuit.id, Circuit.name, User.username, Organization.slug)
        .join(User, on=(Circuit.owner == User.id))
        .switch(Circuit).join(Organization, join_type=JOIN.LEFT_OUTER, on=(Circuit.organization == Organization.id))
        .where(Circuit.id.in_(circuit_ids)).dicts()
    )
    return {r["id"]: f"{r['slug'] or r['username']}/{r['name']}" for r in rows}

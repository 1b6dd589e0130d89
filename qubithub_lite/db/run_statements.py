"""The run path's statements, written once in the engine's parameter style.

A run makes about a dozen trips to the database between ``POST /runs`` and ``completed``.
Building each statement with peewee's query builder costs more than executing it (about
0.5 ms against 0.1 ms on a small machine), so the hot ones are plain SQL text composed
here, once, from the models' own table and column names, and executed through
:meth:`Db.write <qubithub_lite.db.core.Db.write>` (one trip per transaction) or
:meth:`Db.execute_sql`. Parameters go through each field's ``db_value``, exactly as peewee
would send them. Every statement is portable SQL (SQLite ≥ 3.24 and PostgreSQL).
"""

from __future__ import annotations

import json
from typing import Any

from .circuits import Circuit, CircuitVersion
from .fields import new_id, utcnow
from .models import AuditLog
from ..run_status import ACTIVE, WAITING, RunStatus
from .runs import Run, RunStats

Statement = tuple[str, list[Any]]

#: The maintained aggregates of RunStats, in the column order of :meth:`RunStatements.bump_stats`.
STAT_FIELDS = ("total_runs", "pending_runs", "queued_runs", "running_runs", "completed_runs", "failed_runs",
               "cancelled_runs", "total_shots", "total_execution_time")


def _q(name: str) -> str:
    return f'"{name}"'


def _col(model, field: str) -> str:
    return _q(model._meta.fields[field].column_name)


class RunStatements:
    def __init__(self, param: str) -> None:
        p = self.p = param
        run, stats, circuit = _q(Run._meta.table_name), _q(RunStats._meta.table_name), _q(Circuit._meta.table_name)
        self._run_fields = tuple(Run._meta.sorted_fields)
        cols = ", ".join(_q(f.column_name) for f in self._run_fields)
        user, status, created = _col(Run, "user"), _col(Run, "status"), _col(Run, "created_at")
        active = ", ".join(f"'{s}'" for s in ACTIVE)
        waiting = ", ".join(f"'{s}'" for s in WAITING)
        self._insert_run = (
            f"INSERT INTO {run} ({cols}) SELECT {', '.join([p] * len(self._run_fields))} "
            f"WHERE (SELECT COUNT(*) FROM {run} WHERE {user} = {p} AND {status} IN ({active})) < {p}"
        )
        stat_cols = ", ".join(_q(f) for f in STAT_FIELDS)
        self._ensure_stats = (
            f'INSERT INTO {stats} ("scope", "key", {stat_cols}) VALUES '
            f"('user', {p}, {', '.join(['0'] * len(STAT_FIELDS))}), ('circuit', {p}, {', '.join(['0'] * len(STAT_FIELDS))}) "
            f'ON CONFLICT ("scope", "key") DO NOTHING'
        )
        sets = ", ".join(f"{_q(f)} = {_q(f)} + {p}" for f in STAT_FIELDS)
        self._bump_stats = (f"UPDATE {stats} SET {sets} "
                            f"WHERE (\"scope\" = 'user' AND \"key\" = {p}) OR (\"scope\" = 'circuit' AND \"key\" = {p})")
        runs_count = _col(Circuit, "runs_count")
        self._runs_count = f"UPDATE {circuit} SET {runs_count} = {runs_count} + {p} WHERE {_col(Circuit, 'id')} = {p}"
        audit_cols = ("id", "actor_id", "action", "target_type", "target_id", "data", "created_at")
        self._audit = (f"INSERT INTO {_q(AuditLog._meta.table_name)} ({', '.join(_col(AuditLog, c) for c in audit_cols)}) "
                       f"VALUES ({', '.join([p] * len(audit_cols))})")
        self._updates: dict[tuple[str, ...], str] = {}
        self.select_run = f"SELECT * FROM {run} WHERE {_col(Run, 'id')} = {p}"
        self.delete_run = f"DELETE FROM {run} WHERE {_col(Run, 'id')} = {p} AND {status} = {p}"
        version, v_circuit = _q(CircuitVersion._meta.table_name), _col(CircuitVersion, "circuit")
        self.circuit_with_latest_version = (
            f"SELECT c.*, (SELECT v.{_col(CircuitVersion, 'id')} FROM {version} v WHERE v.{v_circuit} = c.{_col(Circuit, 'id')} "
            f"ORDER BY v.{_col(CircuitVersion, 'version_number')} DESC LIMIT 1) AS latest_version_id "
            f"FROM {circuit} c WHERE c.{_col(Circuit, 'id')} = {p}"
        )
        # The queue: each user's oldest queued run, and one user's next run.
        self.queued_heads = f"SELECT {user}, MIN({created}) FROM {run} WHERE {status} = '{RunStatus.QUEUED}' GROUP BY {user}"
        self.next_queued = (f"SELECT * FROM {run} WHERE {user} = {p} AND {status} = '{RunStatus.QUEUED}' "
                            f"ORDER BY {created}, {_col(Run, 'id')} LIMIT 1")
        # queue_position: per user, how many runs wait and how many of them are older than ours.
        self.waiting_by_user = (
            f"SELECT {user}, COUNT(*), SUM(CASE WHEN {created} < {p} OR ({created} = {p} AND {_col(Run, 'id')} < {p}) "
            f"THEN 1 ELSE 0 END) FROM {run} WHERE {status} IN ({waiting}) GROUP BY {user}"
        )
        self.active_count = f"SELECT COUNT(*) FROM {run} WHERE {user} = {p} AND {status} IN ({active})"
        self.active_by_status = f"SELECT {status}, COUNT(*) FROM {run} WHERE {status} IN ({active}) GROUP BY {status}"

    # Writes -----------------------------------------------------------------------
    def insert_run(self, run: Run, limit: int) -> Statement:
        """INSERT the new run unless its user already has ``limit`` unfinished runs (guard)."""
        values = [f.db_value(run.__data__.get(f.name)) for f in self._run_fields]
        return self._insert_run, values + [run.user_id, limit]

    def ensure_stats(self, user_id: str, circuit_id: str) -> Statement:
        return self._ensure_stats, [user_id, circuit_id]

    def bump_stats(self, user_id: str, circuit_id: str, delta: dict[str, float]) -> Statement:
        """Apply the same delta to the user's and the circuit's aggregate rows."""
        unknown = set(delta) - set(STAT_FIELDS)
        if unknown:
            raise ValueError(f"not a run statistic: {sorted(unknown)}")
        return self._bump_stats, [delta.get(f, 0) for f in STAT_FIELDS] + [user_id, circuit_id]

    def bump_runs_count(self, circuit_id: str, delta: int) -> Statement:
        return self._runs_count, [delta, circuit_id]

    def audit(self, run_id: str, action: str, actor: str | None, data: dict[str, Any]) -> Statement:
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True)
        created = AuditLog.created_at.db_value(utcnow())
        return self._audit, [new_id(), actor, action, "run", run_id, payload, created]

    def update_run(self, run_id: str, old_status: str, changes: dict[str, Any]) -> Statement:
        """UPDATE … SET changes WHERE id = ? AND status = old_status (a guard: no row, no change)."""
        cols = tuple(sorted(changes))
        sql = self._updates.get(cols)
        if sql is None:
            sets = ", ".join(f"{_col(Run, c)} = {self.p}" for c in cols)
            sql = self._updates[cols] = (f'UPDATE {_q(Run._meta.table_name)} SET {sets} '
                                         f"WHERE {_col(Run, 'id')} = {self.p} AND {_col(Run, 'status')} = {self.p}")
        fields = Run._meta.fields
        return sql, [fields[c].db_value(changes[c]) for c in cols] + [run_id, old_status]

    # Parameters of the reads --------------------------------------------------------
    @staticmethod
    def position_params(run: Run) -> list[Any]:
        created = Run.created_at.db_value(run.created_at)
        return [created, created, run.id]

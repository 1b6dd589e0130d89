"""The statements of run leases and of the shared claim (several API processes on one database).

A ``running`` run carries ``lease_owner`` (the id of the process executing it) and
``lease_expires_at``; the owner renews the lease with heartbeats (:attr:`LeaseStatements.renew`)
and recovery takes over only runs whose lease expired (:attr:`LeaseStatements.expired`).

On PostgreSQL the claim is decided in the database: the candidates are each user's oldest queued
run with how many of that user's runs are running (the per-user cap) and when the user was last
served (``run_turn``, the fair order); one user's claim is serialised by a transaction-scoped
advisory try-lock (a process that finds it taken moves on to the next user), and the run row is
taken with ``FOR UPDATE SKIP LOCKED``. SQLite (one process, one writer) keeps the queue's
in-process claim and only the lease columns are written. Statements are composed once from the
models' table and column names, like :mod:`.run_statements`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .run_statements import _col, _q
from .runs import Run

#: The table of the shared fair order (m0016).
TURN_TABLE = "run_turn"


class LeaseStatements:
    def __init__(self, param: str, *, postgres: bool) -> None:
        p = self.p = param
        self.postgres = postgres
        run = _q(Run._meta.table_name)
        rid, user, status, created = _col(Run, "id"), _col(Run, "user"), _col(Run, "status"), _col(Run, "created_at")
        owner, expires = _col(Run, "lease_owner"), _col(Run, "lease_expires_at")
        turn = _q(TURN_TABLE)
        lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
        #: Heartbeat: every running run of this owner gets a new expiry (one statement per tick).
        self.renew = f"UPDATE {run} SET {expires} = {p} WHERE {owner} = {p} AND {status} = 'running'"
        #: Of these local runs (ids appended as parameters), those this process no longer owns:
        #: cancelled, finished or taken over elsewhere.
        self._lost = (f"SELECT {rid} FROM {run} WHERE {rid} IN ({{ids}}) "
                      f"AND ({status} <> 'running' OR {owner} IS NULL OR {owner} <> {p})")
        #: Graceful close: this owner's leases end now, so another process takes over at once.
        self.give_up = f"UPDATE {run} SET {expires} = {p} WHERE {owner} = {p} AND {status} = 'running'"
        #: Running runs whose lease expired (or that never had one: written before m0016).
        self.expired = (f"SELECT * FROM {run} WHERE {status} = 'running' "
                        f"AND ({expires} IS NULL OR {expires} < {p}) ORDER BY {created} LIMIT {p}{lock}")
        # The shared claim (PostgreSQL).
        self.candidates = (
            f"SELECT q.u, q.oldest, COALESCE(r.n, 0) AS running, t.{_q('served_at')} FROM "
            f"(SELECT {user} AS u, MIN({created}) AS oldest FROM {run} WHERE {status} = 'queued' GROUP BY {user}) q "
            f"LEFT JOIN (SELECT {user} AS u, COUNT(*) AS n FROM {run} WHERE {status} = 'running' GROUP BY {user}) r "
            f"ON r.u = q.u LEFT JOIN {turn} t ON t.{_q('user_id')} = q.u "
            f"WHERE COALESCE(r.n, 0) < {p} "
            f"ORDER BY COALESCE(r.n, 0), t.{_q('served_at')} NULLS FIRST, q.oldest LIMIT {p}"
        ) if postgres else None
        self.try_user_lock = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))" if postgres else None
        self.running_of_user = f"SELECT COUNT(*) FROM {run} WHERE {user} = {p} AND {status} = 'running'"
        self.next_queued_locked = (f"SELECT * FROM {run} WHERE {user} = {p} AND {status} = 'queued' "
                                   f"ORDER BY {created}, {rid} LIMIT 1{lock}")
        self.served = (f"INSERT INTO {turn} ({_q('user_id')}, {_q('served_at')}) VALUES ({p}, {p}) "
                       f"ON CONFLICT ({_q('user_id')}) DO UPDATE SET {_q('served_at')} = EXCLUDED.{_q('served_at')}")
        self.service_order = f"SELECT {_q('user_id')}, {_q('served_at')} FROM {turn} WHERE {_q('user_id')} IN ({{ids}})"

    @staticmethod
    def stamp(when: dt.datetime) -> Any:
        return Run.lease_expires_at.db_value(when)

    def lost(self, run_ids: list[str], owner: str) -> tuple[str, list[Any]]:
        return self._lost.format(ids=", ".join([self.p] * len(run_ids))), [*run_ids, owner]

    def order_of(self, user_ids: list[str]) -> tuple[str, list[Any]]:
        return self.service_order.format(ids=", ".join([self.p] * len(user_ids))), list(user_ids)

"""The benchmarks service: runs suite problems through the runs engine and ranks them.

A benchmark run is an ordinary run (same queue, fairness, limits, WebSocket) of a suite
circuit — kept as a public OpenQASM 3 circuit of the ``qubithub-benchmarks`` system account,
created on first use — or of the caller's own circuit, plus a ``BenchmarkRun`` row written in
the same transaction as the run. The simulator worker runs it together with the analysis of
``backends.benchmark_analysis`` (ideal distribution, transpiled circuit, SupermarQ features,
bootstrap interval, calibration snapshot). When the run completes, the server computes the
score itself from the raw counts and the ideal distribution (``scoring.score``) and stores it
in the same transaction as the completion. A client never sends a score.

Leaderboards: the best scored entry per user and backend (highest score, then earliest),
ordered by score then time. Ranks are competition ranks, except that an entry whose 95 %
bootstrap interval overlaps the interval of the first entry of the rank above shares that
rank (so statistically indistinguishable entries tie). Entries of private circuits show no
circuit id to a viewer who may not see the circuit.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, AsyncIterator

from ... import __version__
from ...db import benchmarks as benchmark_reads
from ...db.benchmarks import BenchmarkCalibration, BenchmarkRun, BenchmarkStatements
from ...db.circuits import Circuit, CircuitVersion
from ...db.fields import new_id, utcnow
from ...db.models import Membership, Organization, User
from ...db.runs import Run
from ...errors import BadRequest, NotFound
from ...logs import fields
from ...schemas.circuits import CircuitCreate
from ...run_status import RunStatus
from ...schemas.runs import RunCreate
from .. import access
from . import scoring
from .suites import Problem, Suite, SuiteCircuit

log = logging.getLogger(__name__)

SYSTEM_EMAIL = "benchmarks@qubithub-lite.invalid"
SYSTEM_USERNAME = "qubithub-benchmarks"
FEATURED_TOP = 5
#: Frameworks whose circuits reach the simulator worker as an artifact (PennyLane QNodes
#: that cannot be exported run in the sandbox, where no analysis runs).
SCORABLE_FRAMEWORKS = ("qiskit", "openqasm3", "cirq")


class _File:
    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        self.chunks = self._chunks(data)

    @staticmethod
    async def _chunks(data: bytes) -> AsyncIterator[bytes]:
        yield data


async def _one_file(name: str, data: bytes) -> AsyncIterator[_File]:
    yield _File(name, data)


def assign_ranks(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranks for entries sorted best first: a new rank starts (at position + 1) unless the
    entry's interval overlaps the interval of the first entry holding the current rank."""
    rank, leader = 0, None
    for position, entry in enumerate(entries, start=1):
        ci = tuple(entry["score_ci"])
        if leader is None or not scoring.intervals_overlap(ci, leader):
            rank, leader = position, ci
        entry["rank"] = rank
    return entries


class BenchmarkRunHooks:
    """What benchmarks add to every run (the run service's ``RunExtension``): the analysis
    spec a benchmark run's simulation carries, its score written in the completion's
    transaction, and the ``benchmark`` block of its response. Built before the run service
    (which receives it), so it needs only the database and the suites."""

    def __init__(self, db, suites: dict[str, Suite]) -> None:
        self.db = db
        self.suites = suites
        self.sql = BenchmarkStatements(db.engine.param)
        #: False once the database is known to hold no benchmark run: ordinary runs then skip
        #: the lookup in :meth:`analysis_for` (this process is the only writer).
        self._any_runs: bool | None = None
        #: run id -> (suite name, suite version, problem id, circuit index) of the benchmark runs
        #: submitted here (what their BenchmarkRun row says; rows never change these), so
        #: :meth:`analysis_for` needs no read; a run not in it is looked up.
        self._submitted: dict[str, tuple[str, str, str, int | None]] = {}
        #: run id -> (completed_at, block) of the runs scored here, built from what the
        #: completion wrote (:meth:`on_transition`), so publishing it needs no read; used only
        #: for a run whose ``completed_at`` is that completion's (it was the one committed).
        #: SQLite only: PostgreSQL keeps a FloatField as ``real`` (single precision), so there
        #: the stored score differs from the one computed and is read back.
        self._scored: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._remember_scores = bool(getattr(db, "is_sqlite", False))

    def note_submission(self) -> None:
        """A benchmark run is being submitted: from now on, every run is looked up."""
        self._any_runs = True

    def remember(self, run_id: str, suite_name: str, suite_version: str, problem_id: str,
                 circuit_index: int | None) -> None:
        """A benchmark run's row, as written with its submission (see ``_submitted``)."""
        _bounded_put(self._submitted, run_id, (suite_name, suite_version, problem_id, circuit_index))

    def _spec(self, suite_name: str, suite_version: str, problem_id: str, circuit_index: int | None,
              run_id: str) -> dict[str, Any] | None:
        suite = self.suites.get(suite_name)
        problem = suite.problem(problem_id) if suite is not None and suite.version == suite_version else None
        if problem is None:
            log.warning("benchmark.problem_gone", extra=fields(run_id=run_id, suite=suite_name))
            return None
        known = problem.known_ideal
        reference = problem.circuits[circuit_index or 0]
        return {"ideal": known, "reference_qasm": None if known is not None else reference.qasm}

    async def analysis_for(self, run) -> dict[str, Any] | None:
        """What the worker needs to analyse a benchmark run (None: not a benchmark run)."""
        if self._any_runs is None:
            found = await self.db.exists(BenchmarkRun.select(BenchmarkRun.run))
            if self._any_runs is None:  # a submission meanwhile has set it already
                self._any_runs = found
        if not self._any_runs:
            return None
        known = self._submitted.get(run.id)
        if known is not None:
            return self._spec(*known, run.id)
        row = await BenchmarkRun.aget_or_none(BenchmarkRun.run == run.id)
        if row is None:
            return None
        return self._spec(row.suite_name, row.suite_version, row.problem_id, row.circuit_index, run.id)

    def on_transition(self, run, new: str, changes: dict[str, Any]) -> list:
        """On completion: the score, computed here from the raw counts and the ideal
        distribution, written in the completion's transaction (the worker's analysis is
        taken out of the run's results)."""
        results = changes.get("results")
        if new != RunStatus.COMPLETED or not isinstance(results, dict) or "benchmark" not in results:
            return []
        analysis = results["benchmark"]
        changes["results"] = {k: v for k, v in results.items() if k != "benchmark"}
        try:
            ideal = {str(k): float(v) for k, v in analysis["ideal"].items()}
            num_bits = int(analysis["num_bits"])
            score, hf = scoring.score(results.get("counts") or {}, ideal, num_bits)
            low, high = (float(x) for x in analysis["score_ci"])
            transpiled = dict(analysis["transpiled"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("benchmark.unscored", extra=fields(run_id=run.id, error=str(exc)[:200]))
            return []
        statements = []
        calibration = analysis.get("calibration")
        calibration_hash = None
        if isinstance(calibration, dict) and calibration.get("hash"):
            calibration_hash = calibration["hash"]
            snapshot = calibration.get("snapshot") or {}
            statements.append(BenchmarkCalibration.insert(
                hash=calibration_hash, backend_name=run.backend_name, data=snapshot, created_at=utcnow(),
            ).on_conflict_ignore().sql())
            transpiled["calibration"] = {"hash": calibration_hash, "calibrated_at": snapshot.get("calibrated_at"),
                                         "source": snapshot.get("source")}
        scored = dict(score=round(score, 6), hellinger_fidelity=round(hf, 6),
                      score_ci_low=round(min(low, score), 6), score_ci_high=round(max(high, score), 6))
        statements.append(self.sql.score(run.id, **scored, ideal=ideal, transpiled=transpiled,
                                         calibration=calibration_hash, scored_at=utcnow()))
        known = self._submitted.get(run.id)
        if known is not None and self._remember_scores and changes.get("completed_at") is not None:
            _bounded_put(self._scored, run.id, (changes["completed_at"], _block(*known[:3], **scored, transpiled=transpiled)))
        return statements

    async def block(self, run) -> dict[str, Any] | None:
        scored = self._scored.get(run.id)
        if scored is not None and scored[0] == run.completed_at:  # this completion's score, as written
            return scored[1]
        row = await BenchmarkRun.aget_or_none(BenchmarkRun.run == run.id)
        if row is None or row.score is None:
            return None
        return _block(row.suite_name, row.suite_version, row.problem_id, row.score, row.hellinger_fidelity,
                      row.score_ci_low, row.score_ci_high, row.transpiled)


#: How many runs :class:`BenchmarkRunHooks` remembers (the oldest are forgotten first; a
#: forgotten run is read from the database again).
REMEMBERED_RUNS = 4096


def _bounded_put(memory: dict[str, Any], key: str, value: Any) -> None:
    memory.pop(key, None)
    memory[key] = value
    while len(memory) > REMEMBERED_RUNS:
        memory.pop(next(iter(memory)))


def _block(suite_name: str, suite_version: str, problem_id: str, score: float, hellinger_fidelity: float,
           score_ci_low: float, score_ci_high: float, transpiled: dict[str, Any] | None) -> dict[str, Any]:
    """The ``benchmark`` block of a scored run's response."""
    t = transpiled or {}
    return {
        "suite_name": suite_name, "suite_version": suite_version, "problem_id": problem_id,
        "score": score, "hellinger_fidelity": hellinger_fidelity,
        "score_ci": [score_ci_low, score_ci_high],
        "transpiled": {"hash": t.get("hash"), "depth": t.get("depth"), "two_qubit_gates": t.get("two_qubit_gates"),
                       "features": t.get("features")},
        "calibration": t.get("calibration"),
    }


class Benchmarks:
    def __init__(self, db, runs, circuits, accounts, hooks: BenchmarkRunHooks) -> None:
        self.db = db
        self.runs = runs
        self.circuits = circuits
        self.accounts = accounts
        self.hooks = hooks
        self.suites: dict[str, Suite] = hooks.suites
        self._circuit_ids: dict[tuple[str, str, str, int], str] = {}
        self._lock = asyncio.Lock()
        self._system: User | None = None

    # Suites ------------------------------------------------------------------------
    def suite(self, name: str) -> Suite:
        suite = self.suites.get(name)
        if suite is None:
            raise NotFound("benchmark suite not found")
        return suite

    def list_suites(self) -> dict[str, Any]:
        cards = [{"name": s.name, "title": s.title, "description": s.description, "version": s.version,
                  "scoring": s.scoring, "problems_count": len(s.problems), "backends": list(s.backends)}
                 for s in self.suites.values()]
        return {"suites": cards, "total": len(cards)}

    def suite_detail(self, name: str) -> dict[str, Any]:
        s = self.suite(name)
        return {
            "name": s.name, "title": s.title, "description": s.description, "version": s.version, "scoring": s.scoring,
            "backends": list(s.backends),
            "problems": [{"id": p.id, "index": p.index, "title": p.title, "qubits": p.qubits,
                          "circuits": [{"index": c.index, "name": c.name, "qubits": c.qubits, "depth": c.depth,
                                        "two_qubit_gates": c.two_qubit_gates} for c in p.circuits]}
                         for p in s.problems],
        }

    # Submission --------------------------------------------------------------------
    def _backends_for(self, suite: Suite, problem: Problem, backend: str | None) -> list[Any]:
        drivers = self.runs.backends()
        if backend is not None:
            if backend not in suite.backends:
                raise BadRequest(f"suite {suite.name!r} is scored on {', '.join(suite.backends)}; not on {backend!r}")
            driver = drivers.get(backend)
            if driver is None or not driver.availability().ok:
                raise BadRequest(f"backend {backend!r} is unavailable")
            if driver.max_qubits and problem.qubits > driver.max_qubits:
                raise BadRequest(f"problem {problem.id} needs {problem.qubits} qubits; "
                                 f"backend {backend!r} has {driver.max_qubits}")
            return [driver]
        chosen = [d for name in suite.backends if (d := drivers.get(name)) is not None
                  and d.availability().ok and not (d.max_qubits and problem.qubits > d.max_qubits)]
        if not chosen:
            raise BadRequest(f"no backend of suite {suite.name!r} can run problem {problem.id}")
        return chosen

    async def submit(self, user: User, q) -> dict[str, Any]:
        suite = self.suite(q.suite_name)
        if q.problem_idx >= len(suite.problems):
            raise BadRequest(f"problem_idx {q.problem_idx} is out of range: suite {suite.name!r} has "
                             f"{len(suite.problems)} problems (0-{len(suite.problems) - 1})")
        problem = suite.problems[q.problem_idx]
        if q.circuit_id is not None:
            circuit = await self.circuits.get_visible(user.id, q.circuit_id)
            if circuit.framework not in SCORABLE_FRAMEWORKS:
                raise BadRequest(f"benchmarks score {', '.join(SCORABLE_FRAMEWORKS)} circuits; this one is {circuit.framework}")
            circuit_id, circuit_index, reference = circuit.id, None, problem.circuits[0]
        else:
            if q.circuit_idx >= len(problem.circuits):
                raise BadRequest(f"circuit_idx {q.circuit_idx} is out of range: problem {problem.id} has "
                                 f"{len(problem.circuits)} circuits (0-{len(problem.circuits) - 1})")
            reference = problem.circuits[q.circuit_idx]
            circuit_id, circuit_index = await self._suite_circuit(suite, problem, reference), reference.index
        drivers = self._backends_for(suite, problem, q.backend)
        runs = []
        for driver in drivers:
            def extra(run, driver=driver):
                self.hooks.remember(run.id, suite.name, suite.version, problem.id, circuit_index)
                return [self.hooks.sql.insert(
                    run=run.id, user=user.id, circuit=circuit_id, custom_circuit=circuit_index is None,
                    suite_name=suite.name, suite_version=suite.version, problem_id=problem.id,
                    circuit_index=circuit_index, backend_name=driver.name, width=problem.qubits,
                    depth=reference.depth, created_at=run.created_at,
                )]

            req = RunCreate(circuit_id=circuit_id, backend_type=driver.type, backend_name=driver.name, shots=suite.shots)
            self.hooks.note_submission()
            runs.append(await self.runs.submit(user, req, extra=extra))
        responses = []
        for run in runs:
            response = await self.runs.response(run)
            response.status = RunStatus.PENDING.value  # the state this request created
            response.benchmark = None
            responses.append(response)
        log.info("benchmark.submitted", extra=fields(user_id=user.id, suite=suite.name, problem=problem.id,
                                                     runs=len(runs)))
        return {"suite_name": suite.name, "problem_id": problem.id, "runs": responses}

    async def _system_user(self) -> User:
        if self._system is not None:
            return self._system
        user = await User.aget_or_none(User.email == SYSTEM_EMAIL)
        if user is None:
            username = SYSTEM_USERNAME
            taken = await self.db.exists(User.select().where(User.username == username)) or await self.db.exists(
                Organization.select().where(Organization.slug == username))
            if taken:
                username = f"{SYSTEM_USERNAME}-{secrets.token_hex(3)}"
            now = utcnow()
            # Nobody knows this password: the account owns the suite circuits and never signs in.
            password_hash = await self.accounts.hasher.hash(secrets.token_urlsafe(32))
            async with self.db.tx():
                user = await User.acreate(id=new_id(), email=SYSTEM_EMAIL, username=username, name="QubitHub benchmarks",
                                          password_hash=password_hash, created_at=now, updated_at=now)
                org = await Organization.acreate(id=new_id(), name=user.name, slug=username, is_personal=True,
                                                 created_at=now)
                await Membership.acreate(id=new_id(), organization=org.id, user=user.id, role="owner", created_at=now)
        self._system = user
        return user

    async def _suite_circuit(self, suite: Suite, problem: Problem, sc: SuiteCircuit) -> str:
        """The id of the public circuit holding this suite circuit (created on first use)."""
        key = (suite.name, suite.version, problem.id, sc.index)
        known = self._circuit_ids.get(key)
        if known is not None:
            return known
        async with self._lock:
            if key in self._circuit_ids:
                return self._circuit_ids[key]
            user = await self._system_user()
            name = f"{problem.id}-c{sc.index}-v{suite.version.replace('.', '-')}"
            row = await Circuit.aget_or_none((Circuit.namespace_id == user.id) & (Circuit.name == name))
            if row is None:
                detail = await self.circuits.create(user, CircuitCreate(
                    name=name, title=f"{problem.title} — {sc.name} ({suite.name} {suite.version})",
                    description=f"Benchmark suite {suite.name} {suite.version}, problem {problem.id}, circuit {sc.index}: "
                                f"MQT Bench {sc.name}, generated at build time.",
                    framework="openqasm3", qubits=sc.qubits, depth=sc.depth, tags=["benchmark", suite.name],
                    is_public=True,
                ))
                circuit_id = detail["id"]
            else:
                circuit_id = row.id
            if not await self.db.exists(CircuitVersion.select().where(CircuitVersion.circuit == circuit_id)):
                await self.circuits.upload(user, circuit_id, _one_file("circuit.qasm", sc.qasm.encode()),
                                               f"{suite.name} {suite.version}", batch=False)
            self._circuit_ids[key] = circuit_id
            return circuit_id

    # Leaderboards ------------------------------------------------------------------------
    async def _entries(self, suite: Suite, problem_id: str, viewer_id: str | None) -> list[dict[str, Any]]:
        """Every user's best entry per backend, ranked."""
        rows = await benchmark_reads.best_entries(self.db, suite.name, suite.version, problem_id)
        users = {u.id: u.username for u in await self.db.list(
            User.select(User.id, User.username).where(User.id.in_({r["user_id"] for r in rows})))} if rows else {}
        hidden = await self._hidden_circuits({r["circuit_id"] for r in rows if r["custom_circuit"]}, viewer_id)
        entries = [{
            "rank": 0, "user": {"id": r["user_id"], "username": users.get(r["user_id"], "")},
            "backend_name": r["backend_name"], "score": r["score"], "score_ci": [r["score_ci_low"], r["score_ci_high"]],
            "run_id": r["run_id"], "circuit_id": None if r["circuit_id"] in hidden else r["circuit_id"],
            "created_at": _datetime(r["created_at"]),
        } for r in rows]
        return assign_ranks(entries)

    async def _hidden_circuits(self, circuit_ids: set[str], viewer_id: str | None) -> set[str]:
        """The circuits among ``circuit_ids`` that ``viewer_id`` may not see."""
        if not circuit_ids:
            return set()
        rows = await self.db.list(Circuit.select(Circuit.id, Circuit.owner, Circuit.organization, Circuit.is_public)
                                  .where(Circuit.id.in_(circuit_ids)))
        return {c.id for c in rows if not await access.can_read(self.db, viewer_id, c)}

    def _problem(self, suite_name: str, problem_id: str) -> tuple[Suite, Problem]:
        suite = self.suite(suite_name)
        problem = suite.problem(problem_id)
        if problem is None:
            raise NotFound("benchmark problem not found")
        return suite, problem

    async def leaderboard(self, suite_name: str, problem_id: str, viewer_id: str | None, q) -> dict[str, Any]:
        suite, problem = self._problem(suite_name, problem_id)
        entries = await self._entries(suite, problem.id, viewer_id)
        total = len(entries)
        return {"suite_name": suite.name, "problem_id": problem.id, "entries": entries[q.offset:q.offset + q.limit],
                "total": total, "page": q.page, "pages": -(-total // q.limit) if total else 0}

    async def my_rank(self, suite_name: str, problem_id: str, user: User) -> dict[str, Any]:
        suite, problem = self._problem(suite_name, problem_id)
        entries = await self._entries(suite, problem.id, user.id)
        mine = next((e for e in entries if e["user"]["id"] == user.id), None)
        return {"rank": mine["rank"] if mine else None, "entry": mine, "total_entries": len(entries)}

    async def featured(self, viewer_id: str | None) -> dict[str, Any]:
        boards = []
        for suite in self.suites.values():
            for problem_id in suite.featured:
                problem = suite.problem(problem_id)
                if problem is None:
                    continue
                entries = await self._entries(suite, problem.id, viewer_id)
                boards.append({"suite_name": suite.name, "problem_id": problem.id, "title": problem.title,
                               "entries": entries[:FEATURED_TOP]})
        return {"leaderboards": boards}

    # Volumetric view and export -------------------------------------------------------------
    async def volumetric(self, backend: str) -> dict[str, Any]:
        if backend not in self.runs.backends():
            raise NotFound("backend not found")
        rows = await benchmark_reads.volumetric_cells(self.db, backend)
        return {"backend": backend, "cells": [{"width": r["width"], "depth": r["depth"],
                                               "mean_score": round(float(r["mean"]), 6), "runs": r["n"]} for r in rows]}

    async def export(self, suite_name: str | None, q) -> dict[str, Any]:
        B = BenchmarkRun
        where = B.score.is_null(False)
        if suite_name is not None:
            where &= B.suite_name == self.suite(suite_name).name
        total = await self.db.count(B.select(B.run).where(where))
        rows = await self.db.list(
            B.select(B, Run.id, Run.shots).join(Run, on=(B.run == Run.id))
            .where(where).order_by(B.created_at, B.run).offset(q.offset).limit(q.limit))
        drivers = self.runs.backends()
        records = []
        for r in rows:
            suite = self.suites.get(r.suite_name)
            driver = drivers.get(r.backend_name)
            kind = driver.type if driver is not None else "unknown"
            half = (r.score_ci_high - r.score_ci_low) / 2 if r.score_ci_high is not None else 0.0
            t = r.transpiled or {}
            records.append({
                "app_version": f"qubithub-lite {__version__}",
                "timestamp": _datetime(r.created_at).isoformat(),
                "platform": {"provider": f"qubithub-lite ({kind})", "device": r.backend_name},
                "job_type": suite.title if suite is not None else r.suite_name,
                "params": {
                    "suite_name": r.suite_name, "suite_version": r.suite_version, "problem_id": r.problem_id,
                    "width": r.width, "shots": r.run.shots, "circuit": "custom" if r.custom_circuit else "suite",
                    "run_id": r.run.id, "transpiled_hash": t.get("hash"), "transpiled_depth": t.get("depth"),
                    "two_qubit_gates": t.get("two_qubit_gates"), "calibration_hash": r.calibration_id,
                },
                "results": {
                    "values": {"score": r.score, "hellinger_fidelity": r.hellinger_fidelity,
                               "score_ci_low": r.score_ci_low, "score_ci_high": r.score_ci_high},
                    "uncertainties": {"score": round(half, 6)},
                },
            })
        return {"records": records, "total": total, "page": q.page, "pages": -(-total // q.limit) if total else 0}


def _datetime(value):
    import datetime as dt

    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value

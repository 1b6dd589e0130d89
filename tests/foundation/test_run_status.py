"""One run-status vocabulary: ``qubithub_lite.run_status.RunStatus``. No module of the package
compares against a bare status string (``run.status == "queued"``, ``status in ("completed",
…)``): a typo there would silently never match."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qubithub_lite
from qubithub_lite.run_status import ACTIVE, ALLOWED_FROM, STAGE, TERMINAL, RunStatus
from qubithub_lite.schemas.runs import RunResponse

PACKAGE = Path(qubithub_lite.__file__).parent
NAMES = {s.value for s in RunStatus}


def _bare_literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and node.value in NAMES:
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for elt in node.elts for v in _bare_literals(elt)]
    return []


def bare_status_comparisons(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found += [(node.lineno, v) for v in _bare_literals(operand)]
    return found


def bare_status_values(source: str) -> list[tuple[int, str]]:
    """Bare status strings handed on as values: call arguments (``SimResult(id, "failed")``,
    ``.get("status", "failed")``), returns, dict keys (``{"queued": n}``) and the value of a
    ``"status"`` key (``{"status": "failed"}``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        operands: list[ast.AST] = []
        if isinstance(node, ast.Call):
            operands = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Return) and node.value is not None:
            operands = [node.value]
        elif isinstance(node, ast.Dict):
            operands = [k for k in node.keys if k is not None]
            operands += [v for k, v in zip(node.keys, node.values)
                         if isinstance(k, ast.Constant) and k.value == "status"]
        for operand in operands:
            found += [(operand.lineno, v) for v in _bare_literals(operand)]
    return found


def _offenders(check) -> list[str]:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel == Path("run_status.py") or rel.parts[:2] == ("db", "migrations"):
            continue  # the type itself; old migrations are never edited
        offenders += [f"{rel}:{line}: {value!r}" for line, value in check(path.read_text())]
    return offenders


def test_the_checker_finds_what_it_looks_for():
    assert bare_status_comparisons('if run.status == "queued": pass') == [(1, "queued")]
    assert bare_status_comparisons('x = s in ("completed", "failed")') == [(1, "completed"), (1, "failed")]
    assert bare_status_comparisons('x = "cancelled" != s') == [(1, "cancelled")]
    assert bare_status_comparisons('x = s == RunStatus.QUEUED or s == "queue"') == []


def test_the_value_checker_finds_what_it_looks_for():
    assert bare_status_values('SimResult(task_id, "failed", error_class="x")') == [(1, "failed")]
    assert bare_status_values('f(status="cancelled")') == [(1, "cancelled")]
    assert bare_status_values('s = reply.get("status", "failed")') == [(1, "failed")]
    assert bare_status_values('def f():\n    return "running"') == [(2, "running")]
    assert bare_status_values('x = {"queued": 1, "label": "failed"}') == [(1, "queued")]
    assert bare_status_values('x = {**base, "status": "completed"}') == [(1, "completed")]
    assert bare_status_values('x = {"status": RunStatus.FAILED.value, "kind": "failed"}; f("pending_x")') == []


def test_no_bare_status_string_in_comparisons():
    offenders = _offenders(bare_status_comparisons)
    assert offenders == [], "compare with RunStatus, not a bare string:\n" + "\n".join(offenders)


def test_no_bare_status_string_as_a_value():
    offenders = _offenders(bare_status_values)
    assert offenders == [], "name the state through RunStatus, not a bare string:\n" + "\n".join(offenders)


def test_lifecycle_rules():
    assert set(ACTIVE) | set(TERMINAL) == set(RunStatus) and not set(ACTIVE) & set(TERMINAL)
    assert all(s.is_terminal for s in TERMINAL) and not any(s.is_terminal for s in ACTIVE)
    for terminal in TERMINAL:  # a terminal state never changes
        assert not any(new.may_follow(terminal) for new in RunStatus)
    assert RunStatus.QUEUED.may_follow("running") and not RunStatus.RUNNING.may_follow("pending")
    assert not RunStatus.COMPLETED.may_follow(RunStatus.QUEUED)
    assert set(ALLOWED_FROM) == set(STAGE) == set(RunStatus)


@pytest.mark.parametrize("schema", [RunResponse])
def test_schema_enum_is_the_type(schema):
    prop = schema.model_json_schema()["properties"]["status"]
    assert prop["enum"] == [s.value for s in RunStatus] and prop["type"] == "string"


def test_a_worker_frame_names_its_state_as_plain_data():
    """The simulator worker's reply goes through the parent's plain-data unpickler, which
    refuses any class: the state must be RunStatus's value, not the enum member."""
    import pickle

    from qubithub_lite.jobs.executor import load_reply
    from qubithub_lite.jobs.simworker import run_task

    frame = run_task({"task_id": "t1", "backend": "no-such-backend"})
    assert type(frame["status"]) is str and frame["status"] == RunStatus.FAILED
    assert load_reply(pickle.dumps(frame))["status"] == RunStatus.FAILED
    with pytest.raises(pickle.UnpicklingError):
        load_reply(pickle.dumps({"status": RunStatus.FAILED}))

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


def test_the_checker_finds_what_it_looks_for():
    assert bare_status_comparisons('if run.status == "queued": pass') == [(1, "queued")]
    assert bare_status_comparisons('x = s in ("completed", "failed")') == [(1, "completed"), (1, "failed")]
    assert bare_status_comparisons('x = "cancelled" != s') == [(1, "cancelled")]
    assert bare_status_comparisons('x = s == RunStatus.QUEUED or s == "queue"') == []


def test_no_bare_status_string_in_comparisons():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel == Path("run_status.py") or rel.parts[:2] == ("db", "migrations"):
            continue  # the type itself; old migrations are never edited
        offenders += [f"{rel}:{line}: {value!r}" for line, value in bare_status_comparisons(path.read_text())]
    assert offenders == [], "compare with RunStatus, not a bare string:\n" + "\n".join(offenders)


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

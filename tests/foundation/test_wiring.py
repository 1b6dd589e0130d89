"""The hub is wired in one place (``Hub._wire``): no service receives the whole hub, nobody
bolts a service onto a hub afterwards, and facts that several layers need live once."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import get_args

import pytest

import qubithub_lite
from qubithub_lite.errors import BadRequest
from qubithub_lite.backends import frameworks, registry
from qubithub_lite.jobs import workers
from qubithub_lite.jobs.executor import LocalProcessExecutor, SimTask
from qubithub_lite.schemas.circuits import Framework
from qubithub_lite.services.manifest import parse_manifest

PACKAGE = Path(qubithub_lite.__file__).parent


def _modules(folder: str = ""):
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        yield path.relative_to(PACKAGE), ast.parse(path.read_text())


def test_no_service_receives_the_hub():
    offenders = []
    for rel, tree in _modules("services"):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
                if "hub" in names:
                    offenders.append(f"services/{rel}:{node.lineno}: {node.name}(…, hub, …)")
    assert offenders == [], "give it what it uses, not the hub:\n" + "\n".join(offenders)


def test_only_the_hub_sets_the_hubs_services():
    """``hub.service = …`` (or ``hub.__dict__[…] = …``) outside hub.py means wiring in two
    places. (The HTTP layer's own state, ``hub._metrics`` / ``hub._websockets``, declared by
    the hub and made on first use, is not a service.)"""
    offenders = []
    for rel, tree in _modules():
        if rel in (Path("hub.py"), Path("maintenance.py")):
            continue
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                base = target.value if isinstance(target, (ast.Attribute, ast.Subscript)) else None
                if isinstance(base, ast.Attribute) and base.attr == "__dict__":
                    base = base.value
                private = isinstance(target, ast.Attribute) and target.attr.startswith("_")
                if isinstance(base, ast.Name) and base.id == "hub" and not private:
                    offenders.append(f"{rel}:{node.lineno}")
    assert offenders == [], "build it in Hub._wire:\n" + "\n".join(offenders)


def test_the_backend_entry_point_group_is_one_constant():
    assert workers.BACKEND_GROUP is registry.GROUP
    spelled = []
    for rel, tree in _modules():
        package_name = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                        and getattr(node.func, "attr", "") == "files" for arg in node.args}  # resources.files(pkg)
        spelled += [str(rel) for node in ast.walk(tree) if isinstance(node, ast.Constant)
                    and node.value == registry.GROUP and id(node) not in package_name]
    assert spelled == ["backends/registry.py"]


MANIFEST = """[project]
name = "bell"
title = "Bell"
type = "circuit"
framework = "qiskit"
entry_point = "main.py"
qubits = 2

[implementations.{name}]
entry_point = "other.py"
"""


def test_manifest_frameworks_come_from_the_framework_facts():
    assert set(frameworks.FRAMEWORKS) == set(frameworks.DEFAULT_BACKENDS) == set(get_args(Framework))
    for name in frameworks.FRAMEWORKS:
        assert name in parse_manifest(MANIFEST.format(name=name).encode()).implementations
    with pytest.raises(BadRequest) as refused:
        parse_manifest(MANIFEST.format(name="braket").encode())
    assert all(name in refused.value.detail for name in frameworks.FRAMEWORKS)


def test_the_run_time_limit_is_capped_once_by_the_queue():
    """The executor gives a task the limit the queue computed (already capped by ``[runs]
    max_timeout_seconds``; see test_queue_unit's cap test), and its own default when none."""
    assert "max_timeout" not in inspect.signature(LocalProcessExecutor).parameters
    executor = LocalProcessExecutor(workers=1, default_timeout=7.0)
    assert executor._timeout_for(SimTask("t", "qiskit_aer", b"", "qpy", timeout=5000.0)) == 5000.0
    assert executor._timeout_for(SimTask("t", "qiskit_aer", b"", "qpy")) == 7.0

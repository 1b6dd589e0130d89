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


def test_no_attach_function_wires_services_after_construction():
    """Wiring is constructor arguments in ``Hub._wire``, not ``attach_*`` functions run afterwards."""
    found = [f"{rel}:{node.lineno}: {node.name}" for rel, tree in _modules() for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("attach_")]
    assert found == [], "give the service what it needs in its constructor (Hub._wire):\n" + "\n".join(found)


def _is_hub(node: ast.AST, hub_names: set[str]) -> bool:
    """``hub`` (or a name bound to it), ``….hub``."""
    return (isinstance(node, ast.Name) and node.id in hub_names) or (isinstance(node, ast.Attribute) and node.attr == "hub")


class _ForeignAssignments(ast.NodeVisitor):
    """Assignments to an attribute of a service object the code did not create, outside hub.py:

    - one reached from the hub (``hub.accounts.x = …``, ``queue = hub.run_queue; queue.leases = …``,
      ``getattr(hub, "circuits").y += …``, ``setattr(hub.runs, …)``, ``hub.health_checks[k] = …``),
      also from a nested function (a closure over such a name);
    - one a class received in its constructor (``self.queue = queue`` in ``__init__``, then
      ``self.queue.leases = …`` or ``self.queue._wake = …`` anywhere in the class).

    An object the code built itself, or a parameter that is no service (a run row), is its own."""

    def __init__(self) -> None:
        self.found: list[int] = []
        self._received: list[set[str]] = [set()]  # per enclosing class: self.<attr> received
        self._scopes: list[dict[str, str]] = [{}]  # name -> "hub" | "service" (closures see outer names)

    # What an expression is -------------------------------------------------------------
    def _kind(self, node: ast.AST) -> str | None:
        names = {k: v for scope in self._scopes for k, v in scope.items()}
        hubs = {"hub"} | {k for k, v in names.items() if v == "hub"}
        if _is_hub(node, hubs):
            return "hub"
        if isinstance(node, ast.Name):
            return "service" if names.get(node.id) == "service" else None
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self" and node.attr in self._received[-1]:
                return "service"
            return "service" if self._kind(node.value) is not None else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args:
            return "service" if self._kind(node.args[0]) is not None else None
        return None

    def _check_target(self, target: ast.AST, lineno: int) -> None:
        if isinstance(target, ast.Attribute):
            kind = self._kind(target.value)
            if kind == "service":
                self.found.append(lineno)
        elif isinstance(target, ast.Subscript) and self._kind(target.value) == "service" and self._rooted_at_hub(target.value):
            self.found.append(lineno)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._check_target(element, lineno)

    def _rooted_at_hub(self, node: ast.AST) -> bool:
        while isinstance(node, ast.Attribute):
            if self._kind(node.value) == "hub":
                return True
            node = node.value
        return False

    def _bind(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            kind = self._kind(value) if value is not None else None
            if kind is not None:
                self._scopes[-1][target.id] = kind
            else:
                self._scopes[-1].pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
            for i, element in enumerate(target.elts):
                self._bind(element, values[i] if values is not None else None)

    # Visiting ---------------------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        received: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                params = {a.arg for a in (*item.args.posonlyargs, *item.args.args, *item.args.kwonlyargs)} - {"self"}
                for stmt in ast.walk(item):
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                        target, value = stmt.targets[0], stmt.value
                        while isinstance(value, ast.Attribute):
                            value = value.value
                        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                                and target.value.id == "self" and isinstance(value, ast.Name) and value.id in params):
                            received.add(target.attr)
        self._received.append(received)
        self.generic_visit(node)
        self._received.pop()

    def _visit_function(self, node) -> None:
        self._scopes.append({})
        self.generic_visit(node)
        self._scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        for target in node.targets:
            self._check_target(target, node.lineno)
            self._bind(target, node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.generic_visit(node)
        self._check_target(node.target, node.lineno)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.generic_visit(node)
        self._check_target(node.target, node.lineno)
        self._bind(node.target, node.value)

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "setattr" and node.args:
            if self._kind(node.args[0]) is not None and not _is_hub(node.args[0], {"hub"}):
                self.found.append(node.lineno)


def _foreign_assignments(tree: ast.AST) -> list[int]:
    visitor = _ForeignAssignments()
    visitor.visit(tree)
    return sorted(set(visitor.found))


#: The wiring this replaced (jobs/scaleout.py's attach_scaleout, shortened): each marked line is caught.
_BOLTED_ON = '''
async def attach_scaleout(hub, owner, shared):
    runs, queue, bus = hub.runs, hub.run_queue, hub.bus
    queue.leases = Leases(runs, queue)  # caught
    accounts = getattr(hub, "accounts", None)
    forget_here = accounts.forget_user
    accounts.forget_user = lambda user_id: (forget_here(user_id), bus.broadcast_soon("user", user_id))  # caught
    circuits = hub.circuits

    def dropped(_body):
        circuits._generation += 1  # caught

    hub.health_checks["queue"] = check  # caught
    setattr(hub.runs, "scheduler", None)  # caught
    hub.run_queue.config.workers = 3  # caught


class RunRelay:
    def __init__(self, runs, queue):
        self.runs = runs
        self.queue = queue
        self.seen = {}  # its own

    def received(self, body):
        self.queue._wake = None  # caught
        self.seen[body] = True
        self.mine = body
        run = self.runs.make()
        run.status = "queued"
'''


def test_the_foreign_assignment_check_catches_bolted_on_wiring():
    caught = [i + 1 for i, line in enumerate(_BOLTED_ON.splitlines()) if line.endswith("# caught")]
    assert _foreign_assignments(ast.parse(_BOLTED_ON)) == caught


def test_nobody_assigns_attributes_of_a_service_it_did_not_create():
    """Outside hub.py nothing patches, sets or bumps an attribute of a service it was given or
    reached through the hub: services announce, subscribe and expose what others need themselves."""
    offenders = [f"{rel}:{line}" for rel, tree in _modules() if rel != Path("hub.py")
                 for line in _foreign_assignments(tree)]
    assert offenders == [], "give it a constructor argument or a method instead:\n" + "\n".join(offenders)

"""The package's imports form no circle (issue #11).

Walks every ``qubithub_lite/**.py`` with :mod:`ast`: module-level imports and the ones inside
functions (a lazy import still ties the two files together), relative imports resolved against
the importing module. ``from package import name`` counts as an import of ``package.name``
when that is a module of ours, else of ``package``. A failing test names the circle.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = "qubithub_lite"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

#: Import edges (importer, imported) that are known and being removed elsewhere.
KNOWN: set[tuple[str, str]] = set()


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in targets:
            # the module itself or, for ``import a.b.c`` of a name that is not a module, its
            # closest enclosing module of ours
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith(PACKAGE):
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """module → the modules of ours it imports (the known exceptions left out)."""
    names = module_names()
    return {name: {target for target in imports_of(name, path, set(names)) if (name, target) not in KNOWN}
            for name, path in names.items()}


def test_the_walk_sees_lazy_and_relative_imports():
    graph = import_graph()
    # a function-level relative import (the CLI is loaded only after the frozen dispatch)
    assert "qubithub_lite.cli" in graph["qubithub_lite.__main__"]
    # ``from .frozen import …`` and an absolute import of a subpackage's module
    assert "qubithub_lite.frozen" in graph["qubithub_lite.__main__"]
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300


def test_no_import_cycle():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1][::-1]  # [a, b, …, a], each importing the one after it
        raise AssertionError("import cycle in qubithub_lite: " + " -> ".join(cycle)) from None


def test_known_exceptions_still_exist():
    """An exception whose import is gone must be removed from KNOWN."""
    names = module_names()
    for importer, imported in KNOWN:
        assert imported in imports_of(importer, names[importer], set(names)), (importer, imported)

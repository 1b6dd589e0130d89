"""Plugins use only the public plugin surface of qubithub_lite (docs/plugins.md).

Every module under ``plugins/`` (drivers and their tests) is read with :mod:`ast`; each import
of ``qubithub_lite`` (module-level or inside a function) must be of a public package and take
only names that package exports in ``__all__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import qubithub_lite.backends
import qubithub_lite.sandbox

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

#: The public plugin surface: package → the names a plugin may import from it.
PUBLIC = {
    "qubithub_lite.backends": set(qubithub_lite.backends.__all__),
    "qubithub_lite.sandbox": set(qubithub_lite.sandbox.__all__),
}


def violations(source: str, filename: str = "<plugin>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "qubithub_lite" and alias.name not in PUBLIC:
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "qubithub_lite":
            if node.module not in PUBLIC:
                found.append(f"{filename}:{node.lineno}: from {node.module} import …")
                continue
            for alias in node.names:
                if alias.name not in PUBLIC[node.module]:
                    found.append(f"{filename}:{node.lineno}: {alias.name} is not exported by {node.module}")
    return found


def test_the_check_catches_internal_imports():
    assert violations("from qubithub_lite.backends import BackendDriver, RunResult\n") == []
    assert violations("def f():\n    from qubithub_lite.backends.results import new_seed\n") == [
        "<plugin>:2: from qubithub_lite.backends.results import …"]
    assert violations("import qubithub_lite.backends.aer\nimport qubithub_lite\n") == [
        "<plugin>:1: import qubithub_lite.backends.aer", "<plugin>:2: import qubithub_lite"]
    assert violations("from qubithub_lite.backends import registry\n") == [
        "<plugin>:1: registry is not exported by qubithub_lite.backends"]


def test_every_exported_name_exists():
    for package, names in PUBLIC.items():
        module = {"qubithub_lite.backends": qubithub_lite.backends, "qubithub_lite.sandbox": qubithub_lite.sandbox}[package]
        assert [name for name in names if not hasattr(module, name)] == [], package


def test_plugins_import_only_the_public_surface():
    files = sorted(PLUGINS.rglob("*.py"))
    assert len(files) >= 4  # both plugins' packages and tests
    found = [v for path in files for v in violations(path.read_text(), str(path.relative_to(PLUGINS)))]
    assert found == [], "plugins import qubithub_lite internals (see docs/plugins.md):\n" + "\n".join(found)

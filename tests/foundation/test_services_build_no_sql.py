"""Services state domain rules; SQL lives in ``db/``. A service module never runs SQL text
(``execute_sql``, ``.raw(``), builds SQL fragments (``SQL(``, ``fn.…``, ``JOIN.…``, ``Case``)
nor imports those builders from peewee (its exceptions, ``IntegrityError``, are fine)."""

from __future__ import annotations

import ast
from pathlib import Path

import qubithub_lite

SERVICES = Path(qubithub_lite.__file__).parent / "services"
#: Names used as ``fn.COUNT``, ``JOIN.LEFT_OUTER`` (a local variable called ``fn`` is fine).
NAMESPACES = {"fn", "JOIN"}
#: Called as ``SQL("…")``, ``Case(…)``.
BUILDERS = {"SQL", "Case", "NodeList", "EnclosedNodeList", "Window"}
RUNS_SQL = {"execute_sql", "raw"}


def sql_in(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in RUNS_SQL:
            found.append((node.lineno, f".{node.attr}"))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in NAMESPACES:
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILDERS:
            found.append((node.lineno, f"{node.func.id}("))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "peewee":
            found += [(node.lineno, f"from peewee import {a.name}") for a in node.names
                      if not (a.name.endswith("Error") or a.name == "DoesNotExist")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if a.name.split(".")[0] == "peewee"]
    return found


def test_the_checker_finds_what_it_looks_for():
    assert sql_in("rows = await self.db.execute_sql('SELECT 1')") == [(1, ".execute_sql")]
    assert sql_in("q = Run.raw('SELECT * FROM run')") == [(1, ".raw")]
    assert [w for _, w in sql_in("from peewee import JOIN, fn, IntegrityError\nx = fn.COUNT(Run.id)")] == [
        "from peewee import JOIN", "from peewee import fn", "fn.COUNT"]
    assert sql_in("q.where(SQL('1 = 1'))") == [(1, "SQL(")]
    assert sql_in("q.join(Org, join_type=JOIN.LEFT_OUTER)") == [(1, "JOIN.LEFT_OUTER")]
    assert sql_in("for kind, fn in steps:\n    await fn(kind)") == []
    assert sql_in("import peewee") == [(1, "import peewee")]
    assert sql_in("from peewee import IntegrityError\nrows = await run_reads.active_by_backend(self.db)") == []


def test_no_service_module_builds_or_runs_sql():
    offenders = []
    for path in sorted(SERVICES.rglob("*.py")):
        offenders += [f"{path.relative_to(SERVICES.parent)}:{line}: {what}" for line, what in sql_in(path.read_text())]
    assert offenders == [], "move these into a db/ query function:\n" + "\n".join(offenders)

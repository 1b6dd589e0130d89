"""docs/architecture.md names files and functions: each one it names exists (a rename that
forgets the walk fails here), and README's layout table names only folders that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import qubithub_lite

PACKAGE = Path(qubithub_lite.__file__).parent
ROOT = PACKAGE.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()
README = (ROOT / "README.md").read_text()


def _file(name: str) -> Path | None:
    for candidate in (PACKAGE / name, ROOT / name):
        if candidate.exists():
            return candidate
    if "/" not in name:  # a bare file name in its folder's row or step: `cirq_sim.py`
        found = sorted(PACKAGE.rglob(name))
        return found[0] if found else None
    return None


REFERENCES = sorted(set(re.findall(r"`([\w/]+\.py)(?::([\w.]+))?", DOC)))


@pytest.mark.parametrize(("name", "attribute"), REFERENCES, ids=[f"{n}:{a}" if a else n for n, a in REFERENCES])
def test_each_named_file_and_function_exists(name, attribute):
    path = _file(name)
    assert path is not None, f"docs/architecture.md names {name}, which is not there"
    if attribute:
        assert path.is_relative_to(PACKAGE), name
        obj = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for part in attribute.split("."):
            obj = getattr(obj, part, None)
            assert obj is not None, f"docs/architecture.md names {name}:{attribute}, which is not there"


@pytest.mark.parametrize("qualified", sorted(set(re.findall(r"`([A-Z]\w+\.\w+)", DOC))))
def test_each_named_method_exists(qualified):
    owner, attribute = qualified.split(".")
    pattern = re.compile(rf"^class {owner}\b", re.M)
    owners = [getattr(importlib.import_module(".".join(p.relative_to(ROOT).with_suffix("").parts)), owner)
              for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts and pattern.search(p.read_text())]
    assert owners, f"no class {owner}"
    assert any(hasattr(o, attribute) for o in owners), f"docs/architecture.md names {qualified}, which is not there"


def test_the_readme_layout_names_existing_folders_and_files():
    table = README.split("## Layout", 1)[1].split("\n\n", 2)[1]
    named = re.findall(r"^\| `([^`]+)`", table, flags=re.M)
    assert named
    for row in named:
        assert (ROOT / row).exists(), f"README's layout names {row}, which is not there"
    listed = {Path(r).name for r in named if r.endswith("/")} | {r.rstrip("/").split("/")[-1] for r in named}
    for folder in PACKAGE.iterdir():
        if folder.is_dir() and (folder / "__init__.py").exists():
            assert folder.name in listed, f"README's layout misses qubithub_lite/{folder.name}/"

"""Fast checks of the parts of the one-file build that need no build (packaging/).

The real binary is exercised by ``packaging/smoke_test.py`` after ``packaging/build.sh``.
"""

from __future__ import annotations

import importlib.resources
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qubithub_lite import frozen
from qubithub_lite.__main__ import cli_commands

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "qubithub-lite.spec"


@pytest.fixture
def fake_frozen(monkeypatch, tmp_path):
    """Pretend to be a one-file binary unpacked to tmp_path/_MEIxxxx."""
    meipass = tmp_path / "_MEI12345"
    meipass.mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    monkeypatch.setenv("_PYI_ARCHIVE_FILE", sys.executable)
    monkeypatch.setenv("_PYI_APPLICATION_HOME_DIR", str(meipass))
    monkeypatch.setenv("_PYI_PARENT_PROCESS_LEVEL", "1")
    return meipass


def test_python_command_unfrozen():
    assert not frozen.is_frozen()
    assert frozen.python_command("-m", "qubithub_lite.jobs.simworker") == [
        sys.executable, "-m", "qubithub_lite.jobs.simworker"]
    assert frozen.python_command("-c", "pass", python="/opt/py/bin/python3") == [
        "/opt/py/bin/python3", "-c", "pass"]
    assert frozen.bundle_paths() == [] and frozen.child_env() == {}


def test_python_command_frozen(fake_frozen):
    assert frozen.python_command("-I", "-c", "pass") == [
        sys.executable, frozen.PYTHON_COMPAT, "-I", "-c", "pass"]
    # another interpreter configured for the sandbox is used as it is
    assert frozen.python_command("-c", "pass", python="/opt/py/bin/python3") == [
        "/opt/py/bin/python3", "-c", "pass"]
    assert frozen.bundle_paths() == [str(fake_frozen.resolve()), str(Path(sys.executable).resolve())]
    env = frozen.child_env()
    assert env["_PYI_APPLICATION_HOME_DIR"] == str(fake_frozen)
    assert env["LD_LIBRARY_PATH"] == str(fake_frozen.resolve())


@pytest.mark.parametrize(("argv", "expected"), [
    (["-I", "-B", "-c", "import sys; print(sys.argv, sys.dont_write_bytecode)", "a"], "['-c', 'a'] True"),
    (["-m", "qubithub_lite.backends.calibration"], "usage: python -m qubithub_lite.backends.calibration"),
])
def test_python_compat_mode(argv, expected):
    done = subprocess.run([sys.executable, "-m", "qubithub_lite", frozen.PYTHON_COMPAT, *argv],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert expected in done.stdout + done.stderr


def test_python_compat_script(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys\nprint(__name__, sys.argv[1:])\nsys.exit(3)\n")
    done = subprocess.run([sys.executable, "-m", "qubithub_lite", frozen.PYTHON_COMPAT, "-I", str(script), "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout.strip() == "__main__ ['x']"


def test_migrations_found_with_pkgutil():
    from qubithub_lite.db import migrate, migrations

    files = sorted(p.stem for p in Path(migrations.__file__).parent.glob("m[0-9]*.py"))
    assert files, "no migration files"
    assert [m.name for m in pkgutil.iter_modules(migrations.__path__) if m.name.startswith("m")] == files
    assert [m.version for m in migrate.discover()] == [int(f[1:5]) for f in files]


def test_resources_read_at_run_time():
    export = importlib.resources.files("qubithub_lite.backends").joinpath("export_circuit.py")
    assert b"def main(" in export.read_bytes()
    from qubithub_lite.sandbox import warm

    assert "def main()" in warm.RUNNER_SOURCE


def test_spec_collects_what_the_frozen_app_discovers():
    """The spec's own collection calls find every migration and the .py resources."""
    hooks = pytest.importorskip("PyInstaller.utils.hooks")
    modules = set(hooks.collect_submodules("qubithub_lite"))
    from qubithub_lite.db import migrations

    for info in pkgutil.iter_modules(migrations.__path__):
        assert f"qubithub_lite.db.migrations.{info.name}" in modules
    assert {"qubithub_lite.sandbox.bwrap", "qubithub_lite.backends.aer", "qubithub_lite.jobs.simworker",
            "qubithub_lite.backends.calibration"} <= modules
    datas = {Path(dest, Path(src).name).as_posix()
             for src, dest in hooks.collect_data_files("qubithub_lite", include_py_files=True)}
    assert {"qubithub_lite/backends/export_circuit.py", "qubithub_lite/sandbox/_runner.py"} <= datas
    package = ROOT / "qubithub_lite"
    for tree in ("examples", "services/benchmarks/data", "web"):  # web/: once the web UI is merged
        files = {f.relative_to(ROOT).as_posix() for f in (package / tree).rglob("*")
                 if f.is_file() and "__pycache__" not in f.parts}
        assert files <= datas, sorted(files - datas)[:5]
        assert files or tree == "web", tree
    spec = SPEC.read_text()
    assert 'collect_submodules("qubithub_lite")' in spec
    assert 'collect_data_files("qubithub_lite", include_py_files=True' in spec


def test_spec_names_every_entry_point_group():
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    spec = SPEC.read_text()
    listed = re.search(r"ENTRY_POINT_GROUPS = \(([^)]*)\)", spec)
    assert listed, "ENTRY_POINT_GROUPS missing from the spec"
    for group in groups:
        assert f'"{group}"' in listed.group(1), f"{group} is not named in the spec"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_bwrap_binds_the_bundle_after_tmp(fake_frozen, tmp_path, monkeypatch):
    from qubithub_lite.sandbox import base
    from qubithub_lite.sandbox.bwrap import BwrapSandbox
    from qubithub_lite.sandbox.config import SandboxConfig

    monkeypatch.setattr(base, "is_frozen_interpreter", lambda python: True)
    sandbox = BwrapSandbox(SandboxConfig(work_root=str(tmp_path / "work")), protected_paths=[tmp_path / "data"])
    try:
        meipass = str(fake_frozen.resolve())
        assert meipass in sandbox.ro_paths
        argv = sandbox.wrap(tmp_path, ["true"], sandbox.job_env(tmp_path, None), ())
        tmpfs = argv.index("/tmp", argv.index("--tmpfs"))
        binds = [i for i in range(len(argv) - 2) if argv[i:i + 3] == ["--ro-bind", meipass, meipass]]
        assert len(binds) == 1 and binds[0] > tmpfs
        assert sandbox.job_env(tmp_path, None)["_PYI_APPLICATION_HOME_DIR"] == str(fake_frozen)
    finally:
        sandbox.remove_work_root()
    # the protected-path check still applies to the bundle
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    with pytest.raises(base.SandboxUnavailable, match="refusing to expose"):
        BwrapSandbox(SandboxConfig(work_root=str(tmp_path / "work2")), protected_paths=[tmp_path / "data"])


def test_python_argv_tells_python_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "serve").write_text("print('a file named like a command')\n")
    (tmp_path / "prog").write_text("print(1)\n")
    (tmp_path / "s.py").write_text("print(1)\n")
    for cli_args in ([], ["serve", "--port", "1"], ["--version"], ["--data-dir", "d", "users", "list"],
                     ["missing.py"], ["serve"]):
        assert frozen.python_argv(cli_args, cli_commands) is None, cli_args
    for py_args in (["-c", "pass"], ["-I", "-B", "-c", "pass"], ["-m", "json.tool"], ["-"], ["s.py", "x"],
                    [str(tmp_path / "prog")], ["prog"], ["-W", "ignore", "s.py"],
                    ["--multiprocessing-fork", "tracker_fd=5", "pipe_handle=7"]):
        assert frozen.python_argv(py_args, cli_commands) == py_args, py_args
    assert frozen.python_argv([frozen.PYTHON_COMPAT, "-c", "pass"], cli_commands) == ["-c", "pass"]


def _compat(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "qubithub_lite", frozen.PYTHON_COMPAT, *argv],
                          capture_output=True, text=True, timeout=60, **kw)


def test_python_compat_like_python(tmp_path):
    combined = _compat("-IBc", "import sys; print(sys.dont_write_bytecode, sys.argv)", "a")
    assert combined.stdout.strip() == "True ['-c', 'a']", combined.stderr
    stdin = _compat("-", "b", input="import sys; print(6 * 7, sys.argv)")
    assert stdin.stdout.strip() == "42 ['-', 'b']", stdin.stderr
    raised = _compat("-c", "def f():\n    raise ValueError('boom')\nf()")
    assert raised.returncode == 1 and raised.stderr.strip().endswith("ValueError: boom")
    assert "frozen.py" not in raised.stderr and 'File "<string>", line 2, in f' in raised.stderr
    missing = _compat(str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "can't open file" in missing.stderr
    no_code = _compat("-c")
    assert no_code.returncode == 2 and "Argument expected for the -c option" in no_code.stderr
    status = _compat("-c", "import sys; sys.exit(4)")
    assert status.returncode == 4

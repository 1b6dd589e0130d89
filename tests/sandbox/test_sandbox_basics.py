"""Positive behaviour of the sandbox: output, exit codes, files in and out, frameworks."""

from __future__ import annotations

import json
import logging
import os
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest

from qubithub_lite.sandbox import Sandbox, SandboxConfig, SandboxUnavailable, get_sandbox
from qubithub_lite.sandbox.registry import resolve_driver_name

pytestmark = pytest.mark.sandbox


async def test_print_and_exit_code(sandbox: Sandbox) -> None:
    result = await sandbox.run({}, ["python3", "-c", "print('hello'); raise SystemExit(3)"])
    assert result.stdout == b"hello\n"
    assert result.exit_code == 3
    assert result.signal is None
    assert result.limit_hit is None
    assert not result.ok


async def test_stdin_is_delivered(sandbox: Sandbox) -> None:
    code = "import sys; print(sys.stdin.read().upper())"
    result = await sandbox.run({}, ["python3", "-c", code], stdin=b"qubit")
    assert result.ok, result.stderr_text
    assert result.stdout == b"QUBIT\n"


async def test_files_in_and_outputs_out(sandbox: Sandbox) -> None:
    code = (
        "import os\n"
        "data = open('in/data.txt').read()\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/result.txt', 'w').write(data.upper())\n"
        "print(sorted(os.listdir('.')))\n"
    )
    result = await sandbox.run(
        {"in/data.txt": b"abc"},
        ["python3", "-c", code],
        outputs=["out/result.txt", "never-written.txt"],
    )
    assert result.ok, result.stderr_text
    assert result.stdout == b"['in', 'out']\n"  # only the job's own files
    assert result.files == {"out/result.txt": b"ABC"}
    assert result.file_errors == {"never-written.txt": "missing"}


async def test_output_file_size_cap(sandbox: Sandbox) -> None:
    limits = sandbox.limits().with_(output_file_bytes=1000)
    code = "open('big.bin', 'wb').write(b'x' * 5000); open('ok.bin', 'wb').write(b'y' * 10)"
    result = await sandbox.run({}, ["python3", "-c", code], limits, outputs=["big.bin", "ok.bin"])
    assert result.files == {"ok.bin": b"y" * 10}
    assert "larger than 1000 bytes" in result.file_errors["big.bin"]


async def test_unsafe_input_names_are_refused(sandbox: Sandbox) -> None:
    for name in ("../escape.py", "/etc/x", "a/../../b", ""):
        with pytest.raises(ValueError):
            await sandbox.run({name: b"x"}, ["true"])


async def test_run_python_script_with_helper_module_and_args(sandbox: Sandbox) -> None:
    files = {
        "main.py": b"import sys, helper\nprint(helper.twice(sys.argv[1]), __name__, sys.argv)\n",
        "helper.py": b"def twice(s):\n    return s * 2\n",
    }
    result = await sandbox.run_python(files, script="main.py", args=["ab"], outputs=["main.py"])
    assert result.ok, result.stderr_text
    assert result.stdout == b"abab __main__ ['main.py', 'ab']\n"
    assert result.files == {"main.py": files["main.py"]}


async def test_run_python_reports_exceptions_and_exit_codes(sandbox: Sandbox) -> None:
    failed = await sandbox.run_python({}, code="raise ValueError('boom')")
    assert failed.exit_code == 1
    assert b"ValueError: boom" in failed.stderr
    assert failed.limit_hit is None
    exited = await sandbox.run_python({}, code="import sys; print('x'); sys.exit(7)")
    assert (exited.exit_code, exited.stdout) == (7, b"x\n")


async def test_run_python_needs_exactly_one_of_code_or_script(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError):
        await sandbox.run_python({}, code="1", script="a.py")
    with pytest.raises(ValueError):
        await sandbox.run_python({})


async def test_environment_identity_and_capabilities(sandbox: Sandbox) -> None:
    os.environ["QUBITHUB_TEST_LEAK"] = "leaked"
    try:
        code = (
            "import os, json\n"
            "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
            "print(json.dumps({'env': dict(os.environ), 'uid': os.getuid(), 'cwd': os.getcwd(),\n"
            "  'capeff': status['CapEff'].strip(), 'capbnd': status['CapBnd'].strip(),\n"
            "  'sid_is_self': os.getsid(0) != os.getsid(1) or os.getpid() == 1}))\n"
        )
        cold = await sandbox.run({}, ["python3", "-c", code])
        warm = await sandbox.run_python({}, code=code)
    finally:
        del os.environ["QUBITHUB_TEST_LEAK"]
    for result in (cold, warm):
        assert result.ok, result.stderr_text
        info = json.loads(result.stdout)
        assert "QUBITHUB_TEST_LEAK" not in info["env"]
        assert info["env"]["HOME"] == info["cwd"] == "/job"
        assert info["env"]["OMP_NUM_THREADS"] == "1"
        assert set(info["env"]) - {"PWD"} <= set(sandbox.job_env(Path("/job"), None))
        assert info["uid"] == sandbox.config.sandbox_uid
        assert int(info["capeff"], 16) == 0 and int(info["capbnd"], 16) == 0


async def test_qiskit_is_importable_on_the_warm_path(sandbox: Sandbox) -> None:
    code = (
        "import qiskit\nfrom qiskit import QuantumCircuit\n"
        "qc = QuantumCircuit(2); qc.h(0); qc.cx(0, 1)\nprint(qiskit.__version__); print(qc)"
    )
    result = await sandbox.run_python({}, code=code, preload=("qiskit",))
    assert result.ok, result.stderr_text
    lines = result.stdout_text.splitlines()
    assert lines[0] == version("qiskit")
    assert "H" in result.stdout_text and "X" in result.stdout_text


async def test_frameworks_import_under_the_default_memory_limit(sandbox: Sandbox) -> None:
    code = "import qiskit, qiskit_aer, cirq, pennylane; print('imported')"
    result = await sandbox.run({}, ["python3", "-c", code], sandbox.limits(timeout=120))
    assert result.ok, result.stderr_text[-2000:]
    assert result.stdout == b"imported\n"


async def test_doctor_reports_driver_and_process_limit(sandbox: Sandbox, data_dir: Path) -> None:
    report = await sandbox.doctor()
    assert report["driver"] == sandbox.name
    assert report["works"] is True and report["why"] is None
    assert "cgroup" in report["process_limit"] or "RLIMIT_NPROC" in report["process_limit"]
    # Nothing bound into the sandbox holds the data dir (database, objects, secret key).
    for bound in map(Path, report["read_only_paths"]):
        assert not data_dir.resolve().is_relative_to(bound.resolve()), bound
        assert not bound.resolve().is_relative_to(data_dir.resolve()), bound
    checkout = str(Path(__file__).resolve().parents[2])  # the source tree (an interpreter or venv may be anywhere)
    assert all(p != checkout and not p.startswith(checkout + "/") for p in report["read_only_paths"])
    assert "/root" not in report["read_only_paths"]


def test_auto_never_picks_none() -> None:
    assert resolve_driver_name(SandboxConfig(driver="auto")) in ("nsjail", "bwrap")


def test_unknown_driver_is_refused() -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox driver"):
        get_sandbox(SandboxConfig(driver="docker-please"))


def test_missing_bwrap_is_refused_not_downgraded(tmp_path: Path, monkeypatch, test_config) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "prlimit").symlink_to(shutil.which("prlimit"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(SandboxUnavailable, match="bwrap not found"):
        get_sandbox(SandboxConfig(driver="bwrap", **test_config))


@pytest.mark.skipif(os.geteuid() != 0, reason="RLIMIT_NPROC is only ignored for root")
def test_root_without_pids_cgroup_is_refused(sandbox_available: str, test_config) -> None:
    with pytest.raises(SandboxUnavailable, match="RLIMIT_NPROC"):
        get_sandbox(SandboxConfig(cgroup="off", **test_config))


def test_binding_a_protected_path_is_refused(
    sandbox_available: str, data_dir: Path, test_config
) -> None:
    config = SandboxConfig(extra_ro_paths=[str(data_dir.parent)], **test_config)
    with pytest.raises(SandboxUnavailable, match="refusing to expose"):
        get_sandbox(config, protected_paths=[data_dir / "secret.key"])


async def test_none_driver_runs_only_when_explicit_and_warns(caplog) -> None:
    caplog.set_level(logging.WARNING)
    box = get_sandbox(SandboxConfig(driver="none", warm_pool_size=0, warm_preload=[]))
    try:
        assert not box.isolated
        assert any("SANDBOX DISABLED" in r.getMessage() for r in caplog.records)
        result = await box.run_python({"a.txt": b"hi"}, code="print(open('a.txt').read())")
        assert result.ok and result.stdout == b"hi\n"
    finally:
        await box.close()


@pytest.mark.skipif(shutil.which("nsjail") is None, reason="nsjail is not installed")
async def test_nsjail_driver_runs_jobs(test_config) -> None:
    box = get_sandbox(SandboxConfig(driver="nsjail", **test_config))
    try:
        cold = await box.run({"a.txt": b"hi"}, ["python3", "-c", "print(open('a.txt').read())"])
        warm = await box.run_python({}, code="import socket; print(socket.gethostname())")
        assert cold.stdout == b"hi\n" and warm.stdout == b"sandbox\n"
    finally:
        await box.close()

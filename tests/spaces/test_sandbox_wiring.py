"""The hub's sandbox keeps the config file out; `doctor` reports the driver and whether it works."""

from __future__ import annotations

import shutil

import pytest

from qubithub_lite.api.routing import HUB_KEY
from qubithub_lite.app import create_app
from qubithub_lite.config import load_settings
from qubithub_lite.doctor import sandbox_checks
from tests.conftest import make_settings


async def test_config_file_is_a_protected_path(tmp_path, aiohttp_client, sandbox_driver):
    config = tmp_path / "qubithub-lite.toml"
    config.write_text("[logging]\nlevel = \"warning\"\n")
    settings = load_settings(config, {"server": {"data_dir": tmp_path / "data"}, "auth": {"bcrypt_rounds": 4},
                                      "sandbox": {"warm_pool_size": 0}}, environ={})
    client = await aiohttp_client(create_app(settings))
    sandbox = client.app[HUB_KEY].require_sandbox()
    assert config.resolve() in sandbox.protected_paths
    assert settings.data_dir.resolve() in sandbox.protected_paths


async def test_doctor_reports_a_working_driver(tmp_path, sandbox_driver):
    checks = {name: (ok, msg) for name, ok, msg in await sandbox_checks(make_settings(tmp_path))}
    ok, message = checks["sandbox"]
    assert ok and f"-> {sandbox_driver}: works (isolated)" in message
    assert checks["sandbox: process limit"][1]  # cgroup pids or RLIMIT_NPROC, said plainly


@pytest.mark.skipif(shutil.which("nsjail") is not None, reason="nsjail is installed here")
async def test_doctor_reports_an_unavailable_driver(tmp_path):
    checks = await sandbox_checks(make_settings(tmp_path, sandbox={"driver": "nsjail"}))
    assert len(checks) == 2
    name, ok, message = checks[0]
    assert name == "sandbox" and not ok and "UNAVAILABLE" in message and "nsjail" in message
    name, ok, message = checks[1]  # and so the simulator workers are not sandboxed
    assert name == "simulator workers" and "NOT sandboxed" in message

"""Unknown settings are errors that name the nearest real one: in the TOML file, in the
environment, and at ``qubithub-lite serve`` (exit status 2, one line)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qubithub_lite.config import ConfigError, load_settings


@pytest.mark.parametrize("text, needles", [
    ("[runs]\nexecutr = \"dask\"\n", ["'executr'", "[runs]", "did you mean [runs] executor?"]),
    ("[server]\nprot = 1\n", ["'prot'", "did you mean [server] port?"]),
    ("[sandbox]\ndriverr = \"bwrap\"\n", ["'driverr'", "did you mean [sandbox] driver?"]),
    ("[rate_limit]\nenabled = false\n", ["[rate_limit]", "did you mean [rate_limits]?"]),
])
def test_unknown_toml_key_names_the_nearest_valid_one(tmp_path, text, needles):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    message = str(info.value)
    assert "\n" not in message and str(cfg) in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize("name, nearest", [
    ("QUBITHUB_LITE_RUNS_EXECUTR", "QUBITHUB_LITE_RUNS_EXECUTOR"),
    ("QUBITHUB_LITE_SERVER_PROT", "QUBITHUB_LITE_SERVER_PORT"),
    ("QUBITHUB_LITE_RATELIMITS_ENABLED", "QUBITHUB_LITE_RATE_LIMITS_ENABLED"),
    ("QUBITHUB_LITE_WORKERS", "QUBITHUB_LITE_RUNS_WORKERS"),
])
def test_unknown_environment_variable_is_an_error(name, nearest):
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={name: "1"})
    message = str(info.value)
    assert name in message and f"did you mean {nearest}?" in message, message


def test_known_and_reserved_variables_are_accepted(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[runs]\nworkers = 3\n")
    settings = load_settings(None, environ={
        "QUBITHUB_LITE_CONFIG": str(cfg),  # the config file's path: not a setting, but ours
        "QUBITHUB_LITE_TEST_DATABASE": "postgresql://x/y",  # the test suite's switches
        "QUBITHUB_LITE_RUNS_PER_USER_CONCURRENCY": "4",
        "OTHER_RUNS_EXECUTR": "dask",  # not ours: ignored
    })
    assert settings.runs.workers == 3 and settings.runs.per_user_concurrency == 4


def test_executor_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown executor 'dusk'.*dask.*local"):
        load_settings(None, {"runs": {"executor": "dusk"}}, environ={})
    with pytest.raises(ConfigError, match="dask_scheduler"):
        load_settings(None, {"runs": {"executor": "dask"}}, environ={})
    with pytest.raises(ConfigError, match="dask_scheduler"):
        load_settings(None, environ={"QUBITHUB_LITE_RUNS_EXECUTOR": "dask", "QUBITHUB_LITE_RUNS_DASK_SCHEDULER": "10.0.0.5"})
    settings = load_settings(None, environ={"QUBITHUB_LITE_RUNS_EXECUTOR": "dask",
                                            "QUBITHUB_LITE_RUNS_DASK_SCHEDULER": "tcp://127.0.0.1:8786"})
    assert (settings.runs.executor, settings.runs.dask_scheduler) == ("dask", "tcp://127.0.0.1:8786")


def _serve(tmp_path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
    return subprocess.run([sys.executable, "-m", "qubithub_lite", *args, "serve", "--port", "1",
                           "--data-dir", str(tmp_path / "data")],
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_serve_exits_2_with_one_line_for_an_unknown_environment_variable(tmp_path):
    done = _serve(tmp_path, env={"QUBITHUB_LITE_RUNS_EXECUTR": "dask"})
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "QUBITHUB_LITE_RUNS_EXECUTR" in lines[0], done.stderr
    assert "did you mean QUBITHUB_LITE_RUNS_EXECUTOR?" in lines[0]
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_serve_exits_2_with_one_line_for_an_unknown_toml_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[runs]\ndask_schedular = \"tcp://127.0.0.1:8786\"\n")
    done = _serve(tmp_path, "--config", str(cfg), env={})
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'dask_schedular'" in lines[0] and "did you mean [runs] dask_scheduler?" in lines[0], done.stderr

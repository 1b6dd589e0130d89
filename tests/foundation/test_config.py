import os
import stat

import pytest

from qubithub_lite.config import ConfigError, load_settings


def test_defaults_without_anything():
    s = load_settings(None, environ={})
    assert s.server.host == "127.0.0.1" and s.server.port == 8000
    assert s.rate_limits.enabled is True and s.rate_limits.requests_per_minute == 60
    assert s.auth.access_token_ttl_seconds == 900


def test_precedence_flags_over_env_over_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n[rate_limits]\nenabled = true\nrequests_per_minute = 10\n')
    env = {"QUBITHUB_LITE_SERVER_PORT": "9002", "QUBITHUB_LITE_RATE_LIMITS_ENABLED": "false"}
    s = load_settings(cfg, environ=env)
    assert s.server.port == 9002  # env beats file
    assert s.server.host == "0.0.0.0"  # file beats default
    assert s.rate_limits.enabled is False
    assert s.rate_limits.requests_per_minute == 10
    s = load_settings(cfg, {"server": {"port": 9003}}, environ=env)
    assert s.server.port == 9003  # flag beats env


def test_config_file_from_environment(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[auth]\nopen_registration = false\n")
    s = load_settings(None, environ={"QUBITHUB_LITE_CONFIG": str(cfg)})
    assert s.auth.open_registration is False


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[server]\nprot = 1\n", "prot"),  # typo: unknown key
        ("[server]\nport = 'x'\n", "port"),
        ("[nosuch]\na = 1\n", "nosuch"),
        ("[server\n", "invalid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg, environ={})


def test_bad_env_value_is_a_clear_error():
    with pytest.raises(ConfigError, match="port"):
        load_settings(None, environ={"QUBITHUB_LITE_SERVER_PORT": "eighty"})


def test_example_config_documents_every_setting_and_loads():
    from pathlib import Path

    from qubithub_lite.config import Settings

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    text = example.read_text()
    load_settings(example, environ={})
    for section, info in Settings.model_fields.items():
        assert f"[{section}]" in text, section
        for key in info.annotation.model_fields:
            assert f"{key} =" in text, f"[{section}] {key} missing from config.example.toml"


async def test_first_start_creates_data_dir_db_and_private_secret(client, settings, caplog):
    from tests.conftest import ON_POSTGRES

    data = settings.data_dir
    assert (data / "qubithub.db").exists() is not ON_POSTGRES  # on PostgreSQL no SQLite file appears
    secret = data / "secret.key"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert len(secret.read_bytes().strip()) >= 64
    assert secret.read_text().strip() not in caplog.text


async def test_each_install_gets_its_own_secret(tmp_path):
    from qubithub_lite.services.secrets_file import load_or_create_secret

    a = load_or_create_secret(tmp_path / "a" / "secret.key")
    b = load_or_create_secret(tmp_path / "b" / "secret.key")
    assert a != b
    assert load_or_create_secret(tmp_path / "a" / "secret.key") == a  # stable across restarts


def test_example_config_is_current():
    """config.example.toml is generated (`qubithub-lite config-example`); regenerate it when settings change."""
    from pathlib import Path

    from qubithub_lite.config import render_example

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    assert example.read_text() == render_example()

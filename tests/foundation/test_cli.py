import signal
import sqlite3
import subprocess
import sys

from click.testing import CliRunner

from qubithub_lite.cli import main
from tests.conftest import PASSWORD, start_server

ENV = {"QUBITHUB_LITE_LOGGING_LEVEL": "error", "QUBITHUB_LITE_AUTH_BCRYPT_ROUNDS": "4"}


def users(db_path):
    with sqlite3.connect(db_path) as conn:
        return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT username, is_admin, is_pro FROM user")}


def test_users_create_admin(tmp_path):
    data = tmp_path / "d"
    result = CliRunner().invoke(main, ["--data-dir", str(data), "users", "create", "teacher", "--email",
                                       "teacher@school.lan", "--password", PASSWORD, "--admin"], env=ENV)
    assert result.exit_code == 0, result.output
    assert users(data / "qubithub.db")["teacher"] == (1, 0)
    again = CliRunner().invoke(main, ["--data-dir", str(data), "users", "create", "teacher", "--email",
                                      "t2@school.lan", "--password", PASSWORD], env=ENV)
    assert again.exit_code != 0 and "taken" in again.output
    weak = CliRunner().invoke(main, ["--data-dir", str(data), "users", "create", "kid", "--email",
                                     "kid@school.lan", "--password", "short"], env=ENV)
    assert weak.exit_code != 0 and "password" in weak.output


def test_users_import_csv_checks_every_row_first(tmp_path):
    data = tmp_path / "d"
    good = tmp_path / "class.csv"
    good.write_text("username,email,password,name,role\n"
                    f"stu1,stu1@school.lan,{PASSWORD},Student One,\n"
                    f"stu2,stu2@school.lan,{PASSWORD},Student Two,pro\n"
                    f"tassist,ta@school.lan,{PASSWORD},Assistant,admin\n")
    result = CliRunner().invoke(main, ["--data-dir", str(data), "users", "import", str(good)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "created 3" in result.output
    assert users(data / "qubithub.db") == {"stu1": (0, 0), "stu2": (0, 1), "tassist": (1, 0)}
    bad = tmp_path / "bad.csv"
    bad.write_text("username,email,password\n"
                   f"stu3,stu3@school.lan,{PASSWORD}\n"
                   f"stu4,not-an-email,{PASSWORD}\n")
    result = CliRunner().invoke(main, ["--data-dir", str(data), "users", "import", str(bad)], env=ENV)
    assert result.exit_code != 0 and "bad.csv:3" in result.output
    assert "stu3" not in users(data / "qubithub.db")  # nothing half-imported
    again = CliRunner().invoke(main, ["--data-dir", str(data), "users", "import", str(good), "--skip-existing"], env=ENV)
    assert again.exit_code == 0 and "skipped 3" in again.output


def test_serve_logs_url_and_stops_cleanly_on_sigterm_and_sigint(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        server = start_server(tmp_path / "d", {"QUBITHUB_LITE_LOGGING_LEVEL": "info"})
        code = server.stop(sig)
        output = server.process.stdout.read().decode()
        assert code == 0, output
        started = [line for line in output.splitlines() if "server.started" in line]
        assert len(started) == 1 and server.url in started[0]
        assert "Traceback" not in output
        secret = (tmp_path / "d" / "secret.key").read_text().strip()
        assert secret not in output


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "qubithub_lite", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "serve" in out.stdout and "users" in out.stdout

"""``qubithub-lite users …`` against a real data dir (click's CliRunner, real SQLite, real app)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from qubithub_lite.app import create_app
from qubithub_lite.cli import main
from tests.conftest import PASSWORD, make_settings
from tests.pg import pgtest

ENV = {"QUBITHUB_LITE_LOGGING_LEVEL": "error", "QUBITHUB_LITE_AUTH_BCRYPT_ROUNDS": "4",
       # Unset (None) whatever the calling shell carries.
       "QUBITHUB_LITE_SERVER_DATA_DIR": None, "QUBITHUB_LITE_CONFIG": None}


def cli(*args, env=None, input=None):
    args = [str(a) for a in args]
    data_dir = args[args.index("--data-dir") + 1] if "--data-dir" in args else (env or {}).get("QUBITHUB_LITE_SERVER_DATA_DIR")
    if data_dir is None and "--config" in args:
        data_dir = tomllib.loads(Path(args[args.index("--config") + 1]).read_text()).get("server", {}).get("data_dir")
    on_pg = pgtest.cli_env(data_dir) if data_dir else {}  # PostgreSQL: the data dir's database
    return CliRunner().invoke(main, args, env={**ENV, **on_pg, **(env or {})}, input=input, catch_exceptions=False)


def rows(db, sql):
    return pgtest.rows(db.parent, sql)


def create(data, username, *extra):
    result = cli("users", "create", username, "--email", f"{username}@school.lan", "--password", PASSWORD,
                 "--data-dir", data, *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("command", [
    ["users", "list"], ["users", "show", "teacher"], ["users", "disable", "teacher"], ["users", "enable", "teacher"],
    ["users", "promote", "teacher"], ["users", "demote", "teacher"], ["users", "delete", "teacher", "--yes"],
    ["users", "reset-password", "teacher"], ["users", "set-password", "teacher", "--password", PASSWORD],
])
def test_commands_that_do_not_create_accounts_never_create_a_data_dir(tmp_path, command):
    missing = tmp_path / "nowhere"
    for args in (["--data-dir", missing, *command], [*command, "--data-dir", missing]):
        result = cli(*args)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "no data dir" in lines[0] and str(missing) in lines[0], result.output
        assert "Traceback" not in result.output
        assert not missing.exists()


def test_without_data_dir_nothing_appears_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["users", "list"], ["users", "show", "x"], ["doctor"]):
        result = cli(*command)
        assert not (tmp_path / "qubithub-data").exists(), (command, result.output)
    assert "no data dir" in cli("users", "list").output


@pytest.mark.sqlite_only(reason="a SQLite file not created yet; PostgreSQL: tests/pg (doctor)")
def test_doctor_reports_a_missing_data_dir_and_creates_nothing(tmp_path):
    missing = tmp_path / "srv" / "qubithub"
    result = cli("doctor", "--data-dir", missing)
    assert "does not exist yet" in result.output and "not created yet" in result.output
    assert not missing.exists()


def test_data_dir_and_config_before_or_after_the_subcommand(tmp_path):
    data = tmp_path / "srv"
    create(data, "teacher", "--admin")  # after the subcommand
    for args in (["--data-dir", data, "users", "list", "--json"], ["users", "--data-dir", data, "list", "--json"]):
        listed = cli(*args)  # before it
        assert [u["username"] for u in json.loads(listed.output)] == ["teacher"], listed.output
    config = tmp_path / "q.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n')
    for args in (["--config", config, "users", "list", "--json"], ["users", "list", "--json", "--config", config]):
        result = cli(*args)
        assert result.exit_code == 0 and json.loads(result.output)[0]["username"] == "teacher", result.output
    from_env = cli("users", "list", "--json", env={"QUBITHUB_LITE_SERVER_DATA_DIR": str(data)})
    assert json.loads(from_env.output)[0]["is_admin"] is True
    # Flags win over the environment and the config file.
    other = tmp_path / "other"
    create(other, "someone")
    flag = cli("--config", config, "users", "list", "--json", "--data-dir", other,
               env={"QUBITHUB_LITE_SERVER_DATA_DIR": str(data)})
    assert [u["username"] for u in json.loads(flag.output)] == ["someone"]


def test_create_says_when_it_makes_a_new_data_dir(tmp_path):
    result = create(tmp_path / "fresh", "teacher")
    assert "created a new data dir" in result.output
    again = create(tmp_path / "fresh", "second")
    assert "created a new data dir" not in again.output


def test_list_filters_table_and_json(tmp_path):
    data = tmp_path / "d"
    create(data, "teacher", "--admin")
    create(data, "ana", "--pro")
    create(data, "ben")
    disabled = cli("users", "disable", "ben", "--data-dir", data, env={"QUBITHUB_LITE_LOGGING_LEVEL": None})
    assert disabled.exit_code == 0 and disabled.output == "disabled ben\n"  # quiet: no log lines at the default level
    table = cli("users", "list", "--data-dir", data).output.splitlines()
    assert table[0].split()[:3] == ["USERNAME", "EMAIL", "NAME"]
    assert [line.split()[0] for line in table[1:]] == ["ana", "ben", "teacher"]
    assert "disabled" in next(line for line in table if line.startswith("ben"))

    def names(*filters):
        out = cli("users", "list", "--json", "--data-dir", data, *filters)
        assert out.exit_code == 0, out.output
        return [u["username"] for u in json.loads(out.output)]

    assert names("--role", "admin") == ["teacher"]
    assert names("--role", "pro") == ["ana"]
    assert names("--role", "member") == ["ben"]
    assert names("--status", "disabled") == ["ben"]
    assert names("--status", "active") == ["ana", "teacher"]
    assert names("--search", "TEACH") == ["teacher"]
    assert names("--search", "school.lan", "--limit", "2") == ["ana", "ben"]


def test_show_promote_demote_and_the_last_admin(tmp_path):
    data = tmp_path / "d"
    create(data, "teacher", "--admin")
    create(data, "tassist")
    shown = cli("users", "show", "tassist", "--data-dir", data)
    assert "is_admin:     False" in shown.output and "tassist (owner, personal)" in shown.output
    assert cli("users", "promote", "tassist", "--data-dir", data).output.strip() == "promoted tassist"
    assert json.loads(cli("users", "show", "tassist@school.lan", "--json", "--data-dir", data).output)["is_admin"] is True
    assert cli("users", "demote", "teacher", "--data-dir", data).exit_code == 0
    last = cli("users", "demote", "tassist", "--data-dir", data)
    assert last.exit_code == 1 and "last active site administrator" in last.output
    assert rows(data / "qubithub.db", 'SELECT username FROM "user" WHERE is_admin') == [("tassist",)]
    missing = cli("users", "show", "ghost", "--data-dir", data)
    assert missing.exit_code == 1 and "no user 'ghost'" in missing.output


def test_reset_and_set_password_end_sessions(tmp_path):
    data = tmp_path / "d"
    create(data, "kid")
    reset = cli("users", "reset-password", "kid", "--data-dir", data)
    assert reset.exit_code == 0, reset.output
    generated = reset.stdout.strip().splitlines()[0]
    assert len(generated) == 19 and generated.count("-") == 3
    out = tmp_path / "pw.txt"
    to_file = cli("users", "reset-password", "kid", "--output", out, "--data-dir", data)
    assert str(out) in to_file.output and stat.S_IMODE(os.stat(out).st_mode) == 0o600
    written = out.read_text().strip()
    assert written != generated and written not in to_file.output
    assert cli("users", "set-password", "kid", "--data-dir", data, input="tiny\ntiny\n").exit_code == 1

    async def login(password):
        settings = make_settings(tmp_path, server={"data_dir": data})
        from aiohttp.test_utils import TestClient, TestServer

        async with TestClient(TestServer(create_app(settings))) as client:
            resp = await client.post("/auth/login", json={"identifier": "kid", "password": password})
            return resp.status

    assert asyncio.run(login(written)) == 200
    assert asyncio.run(login(generated)) == 401
    new = "An0ther!Secret"
    assert cli("users", "set-password", "kid", "--data-dir", data, input=f"{new}\n{new}\n").exit_code == 0
    assert asyncio.run(login(new)) == 200 and asyncio.run(login(written)) == 401


# Import ----------------------------------------------------------------------------------
def test_import_is_all_or_nothing_and_reports_every_bad_line(tmp_path):
    data = tmp_path / "d"
    create(data, "teacher")
    bad = tmp_path / "class.csv"
    bad.write_text("username,email,password\n"
                   f"stu1,stu1@school.lan,{PASSWORD}\n"
                   f"stu2,stu2@school.lan,{PASSWORD}\n"
                   f"stu3,not-an-email,{PASSWORD}\n"
                   f"stu1,other@school.lan,{PASSWORD}\n"
                   f"teacher,t2@school.lan,{PASSWORD}\n")
    result = cli("users", "import", bad, "--data-dir", data)
    assert result.exit_code == 1
    assert f"{bad}:4:" in result.output and f"{bad}:5:" in result.output and f"{bad}:6:" in result.output
    assert "nothing imported" in result.output
    assert rows(data / "qubithub.db", "SELECT username FROM \"user\"") == [("teacher",)]
    assert rows(data / "qubithub.db", "SELECT count(*) FROM organization") == [(1,)]


def test_import_fails_in_the_transaction_leaves_nothing(tmp_path, monkeypatch):
    """A failure after the checks (here: the database refuses the third account) rolls every row back."""
    data = tmp_path / "d"
    create(data, "teacher")
    good = tmp_path / "c.csv"
    good.write_text("username,email,password\n" + "".join(f"s{i}x,s{i}@school.lan,{PASSWORD}\n" for i in range(1, 5)))
    from qubithub_lite.db.models import User

    original = User.acreate
    calls = {"n": 0}

    async def flaky(**kw):
        calls["n"] += 1
        if calls["n"] == 3:
            from peewee import IntegrityError

            raise IntegrityError("UNIQUE constraint failed: user.username")
        return await original(**kw)

    monkeypatch.setattr(User, "acreate", flaky)
    result = cli("users", "import", good, "--data-dir", data)
    assert result.exit_code == 1 and "nothing imported" in result.output, result.output
    assert rows(data / "qubithub.db", "SELECT username FROM \"user\"") == [("teacher",)]


def test_import_any_dialect_generated_passwords_and_credentials_sheet(tmp_path):
    data = tmp_path / "d"
    sheet = tmp_path / "class.csv"
    # A spreadsheet export: UTF-8 BOM, semicolons, quoted names with the separator inside, CRLF.
    sheet.write_bytes("\ufeffUsername;E-mail;Name;Role\r\n"
                      "ana;ana@school.lan;\"Lopez; Ana\";\r\n"
                      "ben;ben@school.lan;Ben Ohm;pro\r\n".encode())
    result = cli("users", "import", sheet, "--data-dir", data)
    assert result.exit_code == 0, result.output
    assert "created 2 user(s)" in result.output
    creds_csv, creds_html = tmp_path / "class-credentials.csv", tmp_path / "class-credentials.html"
    assert str(creds_csv) in result.output and str(creds_html) in result.output
    for path in (creds_csv, creds_html):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    issued = {r["username"]: r for r in csv.DictReader(creds_csv.open())}
    assert set(issued) == {"ana", "ben"} and issued["ana"]["name"] == "Lopez; Ana"
    page = creds_html.read_text()
    assert issued["ana"]["password"] in page and "Lopez; Ana" in page
    assert issued["ana"]["password"] != issued["ben"]["password"]
    assert rows(data / "qubithub.db", "SELECT username, is_pro FROM \"user\" ORDER BY username") == [("ana", 0), ("ben", 1)]

    async def login(user, password):
        from aiohttp.test_utils import TestClient, TestServer

        async with TestClient(TestServer(create_app(make_settings(tmp_path, server={"data_dir": data})))) as client:
            return (await client.post("/auth/login", json={"identifier": user, "password": password})).status

    assert asyncio.run(login("ana", issued["ana"]["password"])) == 200
    # A second sheet never overwrites the first; UTF-16 tab-separated is read too.
    more = tmp_path / "class.tsv"
    more.write_bytes("username\temail\ncid\tcid@school.lan\n".encode("utf-16"))
    second = cli("users", "import", more, "--data-dir", data, "--credentials", tmp_path / "out" / "cid.csv")
    assert second.exit_code == 0, second.output
    assert (tmp_path / "out" / "cid.csv").is_file() and (tmp_path / "out" / "cid.html").is_file()
    assert creds_csv.read_text().count("\n") == 3


def test_import_enrols_into_organizations(tmp_path):
    data = tmp_path / "d"
    sheet = tmp_path / "c.csv"
    sheet.write_text("username,email,password,org,org_role\n"
                     f"prof,prof@school.lan,{PASSWORD},physics-101,owner\n"
                     f"ana,ana@school.lan,{PASSWORD},physics-101,\n"
                     f"ben,ben@school.lan,{PASSWORD},,\n")
    result = cli("users", "import", sheet, "--data-dir", data)
    assert result.exit_code == 0, result.output
    assert "created 1 organization" in result.output
    members = rows(data / "qubithub.db", "SELECT u.username, m.role FROM membership m JOIN \"user\" u ON u.id = m.user_id "
                                         "JOIN organization o ON o.id = m.organization_id WHERE o.slug = 'physics-101' "
                                         "ORDER BY u.username")
    assert members == [("ana", "member"), ("prof", "owner")]
    # --org enrols every row (an existing organization); a missing one without an owner row is refused.
    more = tmp_path / "more.csv"
    more.write_text(f"username,email,password\ncid,cid@school.lan,{PASSWORD}\ndee,dee@school.lan,{PASSWORD}\n")
    refused = cli("users", "import", more, "--org", "chem-1", "--data-dir", data)
    assert refused.exit_code == 1 and "'chem-1' does not exist" in refused.output
    assert cli("users", "import", more, "--org", "physics-101", "--data-dir", data).exit_code == 0
    count = rows(data / "qubithub.db", "SELECT count(*) FROM membership m JOIN organization o "
                                       "ON o.id = m.organization_id WHERE o.slug = 'physics-101'")
    assert count == [(4,)]
    again = cli("users", "import", more, "--org", "physics-101", "--skip-existing", "--data-dir", data)
    assert again.exit_code == 0 and "skipped 2" in again.output and "enrolled" not in again.output
    assert cli("users", "import", sheet, "--skip-existing", "--org", "physics-101", "--data-dir", data).exit_code == 0
    assert rows(data / "qubithub.db", "SELECT count(*) FROM membership m JOIN organization o "
                                      "ON o.id = m.organization_id WHERE o.slug = 'physics-101'") == [(5,)]  # + ben
    for slug, message in (("Bad_Slug!", "must be 3-39"), ("prof", "personal namespace")):
        clash = tmp_path / "clash.csv"
        clash.write_text(f"username,email,password,org,org_role\nzed,zed@school.lan,{PASSWORD},{slug},owner\n")
        result = cli("users", "import", clash, "--data-dir", data)
        assert result.exit_code == 1 and message in result.output, result.output
    unknown = tmp_path / "u.csv"
    unknown.write_text(f"username,email,password,org_role\neve,eve@school.lan,{PASSWORD},boss\n")
    result = cli("users", "import", unknown, "--org", "physics-101", "--data-dir", data)
    assert result.exit_code == 1 and "unknown org_role 'boss'" in result.output


def test_import_dry_run_and_bad_files(tmp_path):
    data = tmp_path / "d"
    create(data, "teacher")
    sheet = tmp_path / "c.csv"
    sheet.write_text("username,email\nana,ana@school.lan\n")
    dry = cli("users", "import", sheet, "--dry-run", "--data-dir", data)
    assert dry.exit_code == 0 and "dry run" in dry.output
    assert rows(data / "qubithub.db", "SELECT count(*) FROM \"user\"") == [(1,)]
    assert not (tmp_path / "c-credentials.csv").exists()
    for content, message in ((b"name,password\nx,y\n", "missing column"), (b"username,email,shoe\n", "unknown column"),
                             (b"\xff\xfeu\x00", "") , (b"", "empty")):
        sheet.write_bytes(content)
        result = cli("users", "import", sheet, "--data-dir", data)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_import_credentials_on_stdout_or_an_unwritable_place(tmp_path):
    data = tmp_path / "d"
    sheet = tmp_path / "c.csv"
    sheet.write_text("username,email\nana,ana@school.lan\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # the sheet's folder would have to be a file: cannot be written (even as root)
    refused = cli("users", "import", sheet, "--credentials", blocker / "x.csv", "--data-dir", data)
    assert refused.exit_code == 1 and "nothing imported: cannot write the credentials sheet" in refused.output
    assert rows(data / "qubithub.db", "SELECT count(*) FROM \"user\"") == [(0,)]
    out = cli("users", "import", sheet, "--credentials", "-", "--data-dir", data)
    assert out.exit_code == 0, out.output
    issued = list(csv.DictReader(out.stdout.splitlines()))
    assert [r["username"] for r in issued] == ["ana"] and len(issued[0]["password"]) == 19
    assert "created 1 user(s)" in out.stderr and not list(tmp_path.glob("c-credentials*"))

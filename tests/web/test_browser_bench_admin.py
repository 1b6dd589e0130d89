"""The Benchmarks and Admin pages in a real browser against a real server: run a GHZ problem
from the page and find my rank on its leaderboard; as a site admin, disable a user (who then
cannot sign in), import a class CSV and download its credentials sheet."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from tests.conftest import start_server
from tests.foundation.test_backup import cli

from .browser import PHONE, assert_fit_a_phone, needs_chromium, watched_page
from .seed import PASSWORD, Seeder

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.xdist_group("test_browser_bench_admin")]  # one module server: one worker


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from qubithub_lite.services.accounts import Accounts

    srv = start_server(tmp_path_factory.mktemp("web-bench-admin") / "data", {"QUBITHUB_LITE_RUNS_WORKERS": "1"})
    seed = Seeder(srv.url)
    seed.user("headteacher")
    seed.user("leaver")
    cli("users", "promote", "headteacher", "--data-dir", str(srv.data_dir))
    time.sleep(Accounts.USER_CACHE_SECONDS + 0.2)  # the server's short cache of active users
    yield srv
    srv.stop()


def sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_run_a_ghz_problem_and_see_my_rank(web, server):
    page, _ = web
    base = server.url
    page.goto(base + "/register")
    for label, value in (("Username", "benchkid"), ("Email", "benchkid@example.org"), ("Name", "Bench Kid"),
                         ("Password", PASSWORD)):
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/")
    page.locator("header nav").get_by_role("link", name="Benchmarks").click()
    page.wait_for_url(base + "/benchmarks")
    page.locator("nav.tabs").get_by_role("link", name=re.compile("GHZ", re.I)).click()
    page.get_by_role("link", name=re.compile("3 qubits|n3|three", re.I)).first.click()
    assert "problem=ghz-n3" in page.url
    page.get_by_label("Backend").select_option("qiskit_aer")
    page.get_by_role("button", name="Run ghz-n3").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+$"))
    page.locator(".status", has_text="completed").wait_for(timeout=120_000)
    # The score lands on the leaderboard once the run completed (scored on that transition).
    deadline = time.monotonic() + 30
    while True:
        page.goto(base + "/benchmarks?suite=ghz&problem=ghz-n3")
        if page.locator("tr.mine").count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    mine = page.locator("table.board tr.mine")
    assert mine.count() == 1 and "benchkid" in mine.inner_text() and "qiskit_aer" in mine.inner_text()
    assert re.search(r"Your rank: #\d+ of \d+", page.locator(".my-rank").inner_text())
    # The volumetric picture of the backend now has a square for 3 qubits.
    figure = page.locator(".volumetric figure", has_text="qiskit_aer")
    assert figure.locator("svg rect").count() >= 1
    assert figure.locator("svg text", has_text="3").count() >= 1


def test_admin_disables_a_user_and_imports_a_class(web, server, tmp_path):
    page, dog = web
    base = server.url
    sign_in(page, base, "headteacher")
    page.wait_for_url(base + "/")
    page.locator("header nav").get_by_role("link", name="Admin").click()
    page.wait_for_url(base + "/admin")
    # Find the user, disable them.
    page.get_by_label("Search").fill("leav")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("tr[data-user=leaver]")
    row.get_by_role("button", name="Disable leaver").click()
    page.wait_for_url(re.compile(r"/admin\?search=leav"))
    assert page.locator("tr[data-user=leaver] .status").inner_text() == "disabled"
    # Import a class (semicolons: any common dialect), then download the credentials sheet.
    class_csv = tmp_path / "class.csv"
    class_csv.write_text("username;email;name\nada;ada@example.org;Ada L\nalan;alan@example.org;Alan T\n")
    page.get_by_label("Class list (CSV)").set_input_files(str(class_csv))
    page.get_by_role("button", name="Import the class").click()
    page.locator("#class-imported").wait_for()
    assert "2 account(s) created" in page.locator("#class-imported").inner_text()
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download the credentials sheet (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8").read())))
    assert [r["username"] for r in rows] == ["ada", "alan"] and all(len(r["password"]) >= 12 for r in rows)
    page.get_by_role("button", name="Log out").click()

    # The disabled user cannot sign in (the login form answers 401: expected here, not a failure).
    sign_in(page, base, "leaver")
    assert page.locator(".error").is_visible()
    assert page.url.startswith(base + "/-/login") or "/login" in page.url
    # A student from the sheet can, with the password on it.
    sign_in(page, base, "ada", rows[0]["password"])
    page.wait_for_url(base + "/")
    assert page.locator(".who").get_by_role("link", name="ada").is_visible()
    assert page.locator("header nav").get_by_role("link", name="Admin").count() == 0
    # Only the refused sign-in of the disabled user may have answered 401 (and the console said so).
    expected = re.compile(r"(401 for POST .*/-/login|console error on .*/-/login: .*status of 401 .*)$")
    dog.problems[:] = [p for p in dog.problems if not expected.match(p)]


def test_both_pages_fit_a_phone(server, browser):
    context, dog, page = watched_page(browser, server.url, viewport=PHONE)
    sign_in(page, server.url, "headteacher")
    page.wait_for_url(server.url + "/")
    assert_fit_a_phone(page, server.url, (
        "/benchmarks", "/benchmarks?suite=ghz&problem=ghz-n3", "/benchmarks?suite=quantum-volume", "/admin"))
    context.close()
    dog.check()

"""The web UI in a real browser against a real server on a real TCP port: register, log in,
find a circuit, run it and watch the histogram arrive over the WebSocket, fork it, edit a
space and execute it, preview a dataset, create an API key."""

from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import start_server

from .browser import PHONE, assert_fit_a_phone, needs_chromium, watched_page
from .seed import BELL_QASM, MANIFEST, PASSWORD, Seeder

BELL_PY = """from qiskit import QuantumCircuit

def create_circuit():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    return qc
"""

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.xdist_group("test_browser")]  # one module server: one worker


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("web") / "data", {"QUBITHUB_LITE_RUNS_WORKERS": "1"})
    seed = Seeder(srv.url)
    teacher = seed.user("teacher")
    srv.circuit = seed.circuit(teacher, "bell-pair", "Bell pair")
    seed.circuit(teacher, "ghz-three", "GHZ three", second_version=False)
    srv.dataset = seed.dataset(teacher)
    yield srv
    srv.stop()


def register(page, base: str, username: str) -> None:
    page.goto(base + "/register")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email", exact=True).fill(f"{username}@example.org")
    page.get_by_label("Name", exact=True).fill(username.title())
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/")
    assert page.locator(".who").get_by_role("link", name=username).is_visible()


def test_register_find_run_live_and_fork(web, server):
    page, dog = web
    base = server.url
    register(page, base, "student1")
    # Find the circuit through the full-text search.
    page.get_by_label("Search").fill("pair")
    page.get_by_role("button", name="Search").click()
    card = page.locator(".card", has_text="Bell pair")
    assert card.count() == 1
    assert page.locator(".card", has_text="GHZ three").count() == 0
    card.get_by_role("link", name="Bell pair").click()
    page.wait_for_url(re.compile(r"/circuits/[0-9a-f-]+$"))
    # README rendered and sanitized: its script, handler and javascript: link never ran or survived.
    readme = page.locator("article.readme")
    assert readme.locator("strong", has_text="entanglement").count() == 1
    assert readme.locator("table td", has_text="11").count() == 1
    assert readme.locator("script, img[src], [onerror]").count() == 0
    assert readme.locator("a[href^=javascript]").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".edu").get_by_text("entanglement").is_visible()
    # Run: the live panel fills in over the WebSocket, the page does not reload.
    page.evaluate("window.__same_page = true")
    with page.expect_websocket(lambda ws: "/ws/runs/" in ws.url) as ws_info:
        page.get_by_role("button", name="Run", exact=True).click()
    ws = ws_info.value
    live = page.locator("#run-live")
    live.locator(".run-status", has_text="completed").wait_for(timeout=120_000)
    assert not ws.is_closed() or True  # the socket may already be closed by the server after "completed"
    bars = live.locator(".run-hist svg rect")
    assert bars.count() >= 2
    labels = set(live.locator(".run-hist svg text").all_text_contents())
    assert labels <= {"00", "01", "10", "11"} and {"00", "11"} <= labels
    assert "holds" in live.locator(".run-check").inner_text()
    assert page.evaluate("window.__same_page") is True
    # The run page has the same counts, downloadable.
    live.get_by_role("link", name="Open the run page").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+$"))
    assert page.locator(".status", has_text="completed").is_visible()
    run_id = page.url.rsplit("/", 1)[1]
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download counts (CSV)").click()
    assert dl.value.suggested_filename == f"run-{run_id}-counts.csv"
    page.goto(base + "/runs")
    assert page.locator("table.data tbody tr", has_text="completed").count() == 1
    # Star it (and the count shows), then fork it into the student's namespace.
    page.goto(f"{base}/circuits/{server.circuit['id']}")
    page.get_by_role("button", name=re.compile("Star")).click()
    assert page.get_by_role("button", name="★ Starred · 1").get_attribute("aria-pressed") == "true"
    # The diagram drawn in the sandbox is an image (no script of its can reach the page).
    diagram = page.get_by_role("img", name="Circuit diagram of Bell pair")
    diagram.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=diagram.element_handle(), timeout=120_000)
    page.get_by_label("Fork name").fill("my-bell")
    page.get_by_role("button", name=re.compile("^Fork")).click()
    page.wait_for_url(re.compile(r"/circuits/[0-9a-f-]+$"))
    assert server.circuit["id"] not in page.url
    assert page.get_by_text("student1 / my-bell").is_visible()
    assert page.get_by_role("link", name="another circuit").is_visible()
    # Version diff of the original.
    page.goto(f"{base}/circuits/{server.circuit['id']}")
    page.get_by_role("button", name="Compare versions").click()
    assert page.locator(".d-add", has_text="entangle the pair").count() == 1


def test_log_out_and_in(web, server):
    page, _ = web
    register(page, server.url, "student2")
    page.get_by_role("button", name="Log out").click()
    assert page.get_by_role("link", name="Log in").is_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Email or username").fill("student2")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/")
    assert page.locator(".who").get_by_role("link", name="student2").is_visible()


def test_preview_a_dataset(web, server):
    page, _ = web
    page.goto(f"{server.url}/datasets/{server.dataset['id']}")
    table = page.locator("#preview")
    assert table.locator("thead th").all_text_contents()[1:4] and "bitstring" in table.locator("thead").inner_text()
    assert table.locator(".type").count() == 3
    rows = table.locator("tbody tr")
    assert rows.count() == 50
    assert rows.first.locator("td").nth(1).inner_text() == "0"
    page.get_by_role("link", name="Next rows →").click()
    assert table.locator("tbody tr").first.locator("td").nth(1).inner_text() == "50"
    assert page.get_by_text("of 120").is_visible()


@pytest.mark.sandbox
def test_edit_a_space_and_execute(web, server):
    page, _ = web
    base = server.url
    register(page, base, "student3")
    page.get_by_role("link", name="Upload").click()
    page.get_by_role("link", name="Space").click()
    page.get_by_label("Name", exact=True).fill("my-space")
    page.get_by_label("Title").fill("My space")
    page.get_by_role("button", name="Create space").click()
    page.wait_for_url(re.compile(r"/spaces/[0-9a-f-]+$"))
    page.get_by_label("New file").fill("hello.py")
    page.get_by_role("button", name="Add file").click()
    editor = page.get_by_label("hello.py")
    editor.fill('import sys\nprint("entangled", 6 * 7)\n')
    page.get_by_role("button", name="Save").click()
    page.locator(".save-state", has_text="saved").wait_for()
    page.get_by_role("button", name="Execute").click()
    page.locator("#exec-out pre.out", has_text="entangled 42").wait_for(timeout=120_000)
    page.reload()
    assert "entangled" in page.get_by_label("hello.py").input_value()
    # Visualize a Qiskit circuit: the SVG comes back as a data: image.
    page.get_by_label("New file").fill("bell.py")
    page.get_by_role("button", name="Add file").click()
    page.get_by_label("bell.py").fill(BELL_PY)
    page.get_by_role("button", name="Visualize").click()
    img = page.get_by_role("img", name="Circuit diagram of bell.py")
    img.wait_for(timeout=120_000)
    assert img.get_attribute("src").startswith("data:image/svg+xml;base64,")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())


def test_an_edit_typed_before_the_script_ran_is_saved(web, server):
    """The editor's script is deferred: text typed before it ran fired no event it saw. Save must
    still store it (it once compared against "an input event happened" and silently saved nothing,
    which made the edit-and-execute test above fail whenever the page's script came late)."""
    page, _ = web
    register(page, server.url, "earlytypist")
    page.goto(server.url + "/new?type=space")
    page.get_by_label("Name", exact=True).fill("early-typist")
    page.get_by_label("Title").fill("Early typist")
    page.get_by_role("button", name="Create space").click()
    page.wait_for_url(re.compile(r"/spaces/[0-9a-f-]+$"))
    page.get_by_label("New file").fill("early.py")
    held = []
    script = re.compile(r"/static/app\.js")

    def hold(route):
        held.append(route)

    page.route(script, hold)  # the script waits until the text is in
    page.get_by_role("button", name="Add file").click()
    editor = page.get_by_label("early.py")
    editor.fill('print("typed early")\n')
    assert held and page.locator("#visualize[hidden]").count() == 1  # the script un-hides the button
    for route in held:
        route.continue_()
    page.unroute(script, hold)
    page.locator("#visualize:not([hidden])").wait_for(state="attached")  # the script ran
    page.get_by_role("button", name="Save").click()
    page.locator(".save-state", has_text="saved").wait_for()
    file_id = page.locator("#editor-form").get_attribute("data-file")
    stored = requests.get(f"{server.api}/spaces/files/{file_id}", cookies={c["name"]: c["value"] for c in page.context.cookies()})
    assert stored.status_code == 200 and stored.text == 'print("typed early")\n'


def test_upload_a_circuit_by_drag_and_drop(web, server):
    page, _ = web
    register(page, server.url, "student5")
    page.goto(server.url + "/new")
    page.evaluate("""([manifest, qasm]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([manifest], "qubithub.toml"));
        dt.items.add(new File([qasm], "bell.qasm"));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", [MANIFEST.format(name="dropped", title="Dropped Bell"), BELL_QASM])
    assert page.locator(".drop-list li").all_text_contents()[0].startswith("qubithub.toml")
    page.get_by_role("button", name="Create circuit").click()
    page.wait_for_url(re.compile(r"/circuits/[0-9a-f-]+$"))
    assert page.get_by_role("heading", name="Dropped Bell").is_visible()
    assert page.locator(".tree").get_by_role("link", name="bell.qasm").is_visible()


def test_create_an_api_key(web, server):
    page, _ = web
    register(page, server.url, "student4")
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Key name").fill("laptop")
    page.get_by_label("circuit:write").check()
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New API key").input_value()
    assert key.startswith("qh_")
    me = requests.get(server.api + "/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["username"] == "student4"
    page.goto(server.url + "/settings")
    assert page.get_by_label("New API key").count() == 0  # shown once
    row = page.locator("tbody tr", has_text="laptop")
    assert "circuit:write" in row.inner_text()
    row.get_by_role("button", name="Revoke key laptop").click()
    assert "revoked" in page.locator("tbody tr", has_text="laptop").inner_text()
    assert page.get_by_role("button", name="Revoke key laptop").count() == 0
    assert requests.get(server.api + "/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_every_page_fits_a_phone_and_works_by_keyboard(server, browser):
    context, dog, page = watched_page(browser, server.url, viewport=PHONE)
    register(page, server.url, "phoneuser")
    circuit, dataset = server.circuit["id"], server.dataset["id"]
    assert_fit_a_phone(page, server.url, (
        "/", "/?type=datasets", "/?type=spaces", f"/circuits/{circuit}", f"/circuits/{circuit}/diff?a=1&b=2",
        f"/datasets/{dataset}", "/backends", "/runs", "/u/teacher", "/settings", "/new", "/new?type=dataset"))
    # Keyboard: the first Tab reaches the skip link, which moves on to the content.
    page.goto(server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    context.close()
    dog.check()


def test_the_run_panel_survives_a_dropped_websocket(web, server):
    page, _ = web
    register(page, server.url, "student6")
    # Every run socket is closed at once (as a restarting server or a proxy would): the panel polls.
    page.route_web_socket(re.compile(r".*/ws/runs/.*"), lambda ws: ws.close())
    page.goto(f"{server.url}/circuits/{server.circuit['id']}")
    with page.expect_request(re.compile(r".*/api/runs/[0-9a-f-]+$")):
        page.get_by_role("button", name="Run", exact=True).click()
    live = page.locator("#run-live")
    live.locator(".run-status", has_text="completed").wait_for(timeout=120_000)
    assert live.locator(".run-hist svg rect").count() >= 2

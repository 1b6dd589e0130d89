"""The web UI over HTTP (no browser): pages vs JSON by route and Accept, the session cookie,
CSRF on forms and on cookie-authenticated API writes, the CSP, sanitized user content, and
upload validation that stores nothing on a bad manifest."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.conftest import PASSWORD
from tests.runs.helpers import PARAM

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
MANIFEST = """[project]
name = "{name}"
title = "Hello <script>alert(1)</script>"
type = "circuit"
framework = "openqasm3"
entry_point = "main.qasm"
qubits = 1
"""
QASM = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nx q[0];\nc = measure q;\n'


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', text).group(1)


async def browser_login(client, username: str = "webby") -> str:
    """Register through the form like a browser; returns the page's CSRF token."""
    page = await client.get("/register", headers=HTML)
    token = csrf_of(await page.text())
    resp = await client.post("/-/register", data={"csrf_token": token, "username": username, "email": f"{username}@example.org",
                                                   "password": PASSWORD, "name": "Webby"}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await client.get("/", headers=HTML)
    text = await page.text()
    assert f'href="/u/{username}"' in text
    return csrf_of(text)


async def make_circuit(client, user, name="hello", readme="# Hi"):
    resp = await client.post("/circuits", json={"name": name, "title": name, "framework": "openqasm3", "qubits": 1},
                             headers=user.headers)
    circuit = await resp.json()
    form = aiohttp.FormData()
    for path, text in {"qubithub.toml": MANIFEST.format(name=name), "main.qasm": QASM, "README.md": readme}.items():
        form.add_field("files", text.encode(), filename=path)
    up = await client.post(f"/circuits/{circuit['id']}/upload-batch", data=form, headers=user.headers)
    assert up.status in (200, 201), await up.text()
    return circuit


async def test_pages_and_api_share_paths_by_accept(client, alice):
    circuit = await make_circuit(client, alice)
    api = await client.get(f"/circuits/{circuit['id']}")
    assert api.content_type == "application/json" and (await api.json())["id"] == circuit["id"]
    api = await client.get(f"/circuits/{circuit['id']}", headers={"Accept": "application/json"})
    assert api.content_type == "application/json" and "Accept" in api.headers["Vary"]
    page = await client.get(f"/circuits/{circuit['id']}", headers=HTML)
    assert page.status == 200 and page.content_type == "text/html"
    assert "<h1>Hello &lt;script&gt;" in await page.text()
    # /api stays JSON even for a browser; API-only paths too.
    assert (await client.get(f"/api/circuits/{circuit['id']}", headers=HTML)).content_type == "application/json"
    assert (await client.get("/health", headers=HTML)).content_type == "application/json"
    # The UI's own paths are pages for everyone.
    root = await client.get("/")
    assert root.status == 200 and root.content_type == "text/html"
    fav = await client.get("/favicon.ico")
    assert fav.status == 200 and fav.content_type == "image/svg+xml"


async def test_security_headers_and_session_cookie(client):
    resp = await client.get("/login", headers=HTML)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("qh_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; over https it is set (request.secure)
    text = await resp.text()
    assert "<script>" not in text and 'style="' not in text  # nothing inline for the CSP to refuse
    static = await client.get(re.search(r'href="(/static/app\.css\?v=\w+)"', text).group(1))
    assert static.status == 200 and "immutable" in static.headers["Cache-Control"]


async def test_forms_need_the_csrf_token(client, alice):
    await client.get("/login", headers=HTML)  # a session cookie, but no token sent
    resp = await client.post("/-/login", data={"identifier": "alice", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 403 and "CSRF" in await resp.text()
    page = await client.get("/login", headers=HTML)
    token = csrf_of(await page.text())
    bad = await client.post("/-/login", data={"identifier": "alice", "password": "wrong-password", "csrf_token": token})
    assert bad.status == 401 and "incorrect" in await bad.text()
    ok = await client.post("/-/login", data={"identifier": "alice", "password": PASSWORD, "csrf_token": token,
                                             "next": "//evil.example/"}, allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == "/"  # no open redirect
    # A new session id after login: the old token no longer works.
    stale = await client.post("/-/keys", data={"name": "k", "csrf_token": token}, allow_redirects=False)
    assert stale.status == 403
    cross = await client.post("/-/logout", data={"csrf_token": token}, headers={"Origin": "http://evil.example"})
    assert cross.status == 403


async def test_cookie_session_reaches_the_api_only_with_the_csrf_header(client):
    token = await browser_login(client)
    me = await client.get("/auth/me")  # reads need no token
    assert me.status == 200 and (await me.json())["username"] == "webby"
    body = {"name": "from-page", "title": "From the page", "framework": "qiskit"}
    refused = await client.post("/api/circuits", json=body)
    assert refused.status == 403 and "CSRF" in (await refused.json())["detail"]
    made = await client.post("/api/circuits", json=body, headers={"X-CSRF-Token": token})
    assert made.status == 201, await made.text()
    await client.post("/-/logout", data={"csrf_token": token})
    assert (await client.get("/auth/me")).status == 401


async def test_user_content_cannot_run_script(client, alice):
    readme = ('# Title\n<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n[x](javascript:alert(3))\n'
              '![t](http://example.com/t.png)\n')
    circuit = await make_circuit(client, alice, "xss", readme)
    text = await (await client.get(f"/circuits/{circuit['id']}?file=README.md", headers=HTML)).text()
    article = text.split('<article class="readme">', 1)[1].split("</article>", 1)[0]
    assert "&lt;script&gt;alert(1)" in article  # raw HTML in Markdown is shown as text
    assert not re.search(r"<script|<img[^>]*(onerror|src=)|href=\"javascript", article)
    assert "example.com" not in article  # no request may leave the server
    assert "<h1>Hello &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in text  # the manifest's title is escaped
    assert 'class="hl"' in text  # highlighted source (README.md selected)


async def test_private_things_are_404_pages(client, alice, bob):
    resp = await client.post("/circuits", json={"name": "secret", "title": "Secret", "framework": "qiskit", "is_public": False},
                             headers=alice.headers)
    circuit = await resp.json()
    page = await client.get(f"/circuits/{circuit['id']}", headers=HTML)
    assert page.status == 404 and page.content_type == "text/html"
    assert "Secret" not in await page.text()


async def test_upload_checks_the_manifest_before_storing(client):
    token = await browser_login(client, "uploader")
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("visibility", "public")
    form.add_field("files", b'[project]\nname = "bad"\ntype = "circuit"\n', filename="qubithub.toml")
    form.add_field("files", QASM.encode(), filename="main.qasm")
    resp = await client.post("/-/new/circuit", data=form)
    assert resp.status == 400
    assert "qubithub.toml" in await resp.text()
    assert (await (await client.get("/circuits", params={"owner": "uploader"})).json())["total"] == 0
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("files", MANIFEST.format(name="good").encode(), filename="qubithub.toml")
    form.add_field("files", QASM.encode(), filename="main.qasm")
    resp = await client.post("/-/new/circuit", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    listed = await (await client.get("/circuits", params={"owner": "uploader"})).json()
    assert listed["total"] == 1 and listed["circuits"][0]["name"] == "good"


async def test_pages_need_sign_in_where_it_matters(client):
    resp = await client.get("/settings", headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    resp = await client.get("/runs", allow_redirects=False)  # the API keeps its answer
    assert resp.status == 401 and resp.content_type == "application/json"
    bad = await client.get("/?sort=nonsense", headers=HTML)
    assert bad.status == 400 and "sort" in await bad.text()


@pytest.mark.sandbox
async def test_circuit_diagram_is_drawn_in_the_sandbox_once(client, alice, bob):
    circuit = await make_circuit(client, alice, "drawn")
    page = await (await client.get(f"/circuits/{circuit['id']}", headers=HTML)).text()
    src = re.search(r'<img src="(/circuits/[^"]+/diagram\.svg\?version=1)"', page).group(1)
    first = await client.get(src)
    assert first.status == 200 and first.content_type == "image/svg+xml"
    svg = await first.read()
    assert b"<svg" in svg and b"No diagram" not in svg and b"<script" not in svg
    assert "sandbox" in first.headers["Content-Security-Policy"]
    again = await client.get(src, headers=bob.headers)  # another viewer, the same version: drawn once
    assert await again.read() == svg
    private = await client.post("/circuits", json={"name": "hidden", "title": "Hidden", "framework": "qiskit",
                                                   "is_public": False}, headers=alice.headers)
    hidden = (await private.json())["id"]
    assert (await client.get(f"/circuits/{hidden}/diagram.svg", headers=bob.headers)).status == 404


async def test_a_password_change_ends_browser_sessions(client, hub):
    await browser_login(client, "changer")
    assert (await client.get("/auth/me")).status == 200
    user = await hub.accounts.get_active_user((await (await client.get("/auth/me")).json())["id"], cached=False)
    await hub.accounts.set_password(user, "An0ther!Secret#99")
    assert (await client.get("/auth/me")).status == 401
    page = await (await client.get("/", headers=HTML)).text()
    assert 'href="/login' in page and "changer" not in page


async def test_organization_members_managed_from_the_profile(client, bob):
    token = await browser_login(client, "prof")
    made = await client.post("/-/orgs", data={"csrf_token": token, "name": "Physics 101", "slug": "physics-101"},
                             allow_redirects=False)
    assert made.status == 303 and made.headers["Location"] == "/u/physics-101"
    added = await client.post("/-/orgs/physics-101/members", data={"csrf_token": token, "email": bob.email, "role": "member"},
                              allow_redirects=False)
    assert added.status == 303, await added.text()
    page = await (await client.get("/u/physics-101", headers=HTML)).text()
    assert 'href="/u/bob"' in page and "Add member" in page
    promoted = await client.post(f"/-/orgs/physics-101/members/{bob.id}/role", data={"csrf_token": token, "role": "admin"},
                                 allow_redirects=False)
    assert promoted.status == 303
    members = await client.get("/orgs/physics-101/public-members")
    profile = await (await client.get("/orgs/physics-101/profile")).json()
    listed = await client.get(f"/orgs/{profile['id']}/members", headers=bob.headers)
    roles = {m["username"]: m["role"] for m in (await listed.json())["members"]}
    assert roles == {"prof": "owner", "bob": "admin"}, (members.status, roles)
    # Bob sees the members; a stranger's browser does not.
    client.session.cookie_jar.clear()
    assert "Add member" not in await (await client.get("/u/physics-101", headers=HTML)).text()


PARAM_MANIFEST = """[project]
name = "rotation"
title = "Rotation"
type = "circuit"
framework = "qiskit"
entry_point = "circuit.py"
qubits = 1

[execution]
default_shots = 333

[parameters.theta]
type = "angle"
default = 0.5
min = 0
max = 6.3
unit = "rad"
description = "Rotation angle"
"""
PARAM_CODE = PARAM.lstrip()


async def test_run_form_from_the_manifest_without_scripts(client, alice):
    resp = await client.post("/circuits", json={"name": "rotation", "title": "Rotation", "framework": "qiskit", "qubits": 1},
                             headers=alice.headers)
    circuit = await resp.json()
    form = aiohttp.FormData()
    for path, text in {"qubithub.toml": PARAM_MANIFEST, "circuit.py": PARAM_CODE}.items():
        form.add_field("files", text.encode(), filename=path)
    assert (await client.post(f"/circuits/{circuit['id']}/upload-batch", data=form, headers=alice.headers)).status == 201
    client.session.cookie_jar.clear()
    token = await browser_login(client, "runner")
    page = await (await client.get(f"/circuits/{circuit['id']}", headers=HTML)).text()
    field = re.search(r'<input id="param_theta"[^>]*>', page).group(0)
    assert 'type="number"' in field and 'min="0' in field and 'max="6.3"' in field and 'value="0.5"' in field
    assert 'value="333"' in page  # the manifest's default shots
    assert "Rotation angle" in page
    bad = await client.post(f"/-/circuits/{circuit['id']}/run", data={"csrf_token": token, "shots": "100", "param_theta": "x"})
    assert bad.status == 400 and "theta" in await bad.text()
    sent = await client.post(f"/-/circuits/{circuit['id']}/run", allow_redirects=False, data={
        "csrf_token": token, "backend": "simulation:qiskit_aer", "shots": "100", "seed": "5", "param_theta": "1.25"})
    assert sent.status == 303, await sent.text()
    run_id = sent.headers["Location"].rsplit("/", 1)[1]
    run = await (await client.get(f"/api/runs/{run_id}")).json()
    assert run["parameters"] == {"theta": 1.25} and run["shots"] == 100 and run["seed"] == 5
    assert run["backend_name"] == "qiskit_aer"
    run_page = await client.get(f"/runs/{run_id}", headers=HTML)
    assert run_page.status == 200 and 'data-run="' + run_id + '"' in await run_page.text()


async def test_dataset_upload_streams_and_big_page_uploads_are_refused(client):
    token = await browser_login(client, "streamer")
    form = aiohttp.FormData()
    for k, val in {"csrf_token": token, "name": "shots", "title": "Shots", "format": "csv", "visibility": "public",
                   "message": "first"}.items():
        form.add_field(k, val)
    form.add_field("files", b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(500)), filename="shots.csv")
    resp = await client.post("/-/new/dataset", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await (await client.get(resp.headers["Location"], headers=HTML)).text()
    assert "of 500" in page and "first" in page
    bad = aiohttp.FormData()
    for k, val in {"csrf_token": token, "name": "broken", "title": "Broken", "format": "parquet"}.items():
        bad.add_field(k, val)
    bad.add_field("files", b"not parquet at all", filename="x.parquet")
    resp = await client.post("/-/new/dataset", data=bad)
    assert resp.status == 400
    listed = await (await client.get("/datasets", params={"owner": "streamer"})).json()
    assert [d["name"] for d in listed["datasets"]] == ["shots"]  # the refused one left nothing behind
    big = aiohttp.FormData()
    big.add_field("csrf_token", token)
    big.add_field("files", b"x" * (17 * 2**20), filename="README.md")
    resp = await client.post("/-/new/circuit", data=big)
    assert resp.status == 413 and "MiB" in await resp.text()


async def test_unknown_paths(client):
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status == 404 and page.content_type == "text/html" and "no page at this address" in await page.text()
    api = await client.get("/no/such/page")
    assert api.status == 404 and (await api.json()) == {"detail": "Not found"}


async def test_a_foreign_page_cannot_use_the_session_on_a_websocket(client):
    token = await browser_login(client, "sockets")
    h = {"X-CSRF-Token": token}
    made = await client.post("/api/circuits", headers=h, json={"name": "mine", "title": "Mine", "framework": "openqasm3",
                                                             "qubits": 1, "is_public": False})
    cid = (await made.json())["id"]
    form = aiohttp.FormData()
    form.add_field("files", MANIFEST.format(name="mine").encode(), filename="qubithub.toml")
    form.add_field("files", QASM.encode(), filename="main.qasm")
    assert (await client.post(f"/api/circuits/{cid}/upload-batch", data=form, headers=h)).status == 201
    run = await client.post("/api/runs", json={"circuit_id": cid, "shots": 10}, headers=h)
    assert run.status == 201, await run.text()
    run_id = (await run.json())["id"]
    own = str(client.make_url("")).rstrip("/")
    ws = await client.ws_connect(f"/ws/runs/{run_id}", headers={"Origin": own})
    assert (await ws.receive_json())["id"] == run_id
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"/ws/runs/{run_id}", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 404  # to that page the private run does not exist


async def test_owner_name_addresses_a_circuit_page(client, alice):
    circuit = await make_circuit(client, alice, "addressed")
    resp = await client.get("/alice/addressed", headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/circuits/{circuit['id']}"
    assert (await client.get("/alice/nothing", headers=HTML)).status == 404
    # API paths of two segments keep their answers, for browsers too.
    me = await client.get("/auth/me", headers={**HTML, **alice.headers})
    assert me.status == 200 and (await me.json())["username"] == "alice"
    assert (await client.get("/backends/qiskit_aer", headers=HTML)).status == 404
    assert (await client.get(f"/circuits/{circuit['id']}", headers=HTML)).content_type == "text/html"
    assert (await client.get("/u/alice", headers=HTML)).status == 200


async def test_star_and_fork_datasets_and_spaces_from_their_pages(client, alice):
    d = await (await client.post("/datasets", json={"name": "tbl", "title": "Table", "format": "csv"}, headers=alice.headers)).json()
    sp = await (await client.post("/spaces", json={"name": "pg", "title": "Playground"}, headers=alice.headers)).json()
    token = await browser_login(client, "forker")
    for kind, item in (("datasets", d), ("spaces", sp)):
        page = await (await client.get(f"/{kind}/{item['id']}", headers=HTML)).text()
        assert f'action="/-/{kind}/{item["id"]}/star"' in page
        starred = await client.post(f"/-/{kind}/{item['id']}/star", data={"csrf_token": token}, allow_redirects=False)
        assert starred.status == 303
        assert (await (await client.get(f"/{kind}/{item['id']}")).json())["stars_count"] == 1
        forked = await client.post(f"/-/{kind}/{item['id']}/fork", data={"csrf_token": token, "name": f"my-{kind}"},
                                   allow_redirects=False)
        assert forked.status == 303 and forked.headers["Location"].startswith(f"/{kind}/")
        copy = await (await client.get(forked.headers["Location"])).json()
        assert copy["name"] == f"my-{kind}" and copy["owner"]["username"] == "forker"
    assert (await client.post("/-/backends/x/star", data={"csrf_token": token})).status == 404


async def test_api_paths_under_page_paths_stay_api(client, alice):
    await make_circuit(client, alice, "findme")
    resolved = await client.get("/circuits/resolve", params={"repo_name": "alice/findme"}, headers=HTML)
    assert resolved.content_type == "application/json" and (await resolved.json())["name"] == "findme"
    stats = await client.get("/runs/users/me/stats", headers={**HTML, **alice.headers})
    assert stats.status == 200 and "total_runs" in await stats.json()


async def test_static_assets_are_not_rate_limited_but_pages_are(aiohttp_client, tmp_path):
    from qubithub_lite.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path, rate_limits={"enabled": True, "anonymous_requests_per_minute": 3}))
    client = await aiohttp_client(app)
    page = await client.get("/login", headers=HTML)
    css = re.search(r'href="(/static/app\.css\?v=\w+)"', await page.text()).group(1)
    for _ in range(10):
        assert (await client.get(css)).status == 200
    statuses = [(await client.get("/login", headers=HTML)).status for _ in range(5)]
    assert 429 in statuses and statuses[0] == 200


async def test_another_module_can_add_a_page_and_a_nav_entry(aiohttp_client, tmp_path, monkeypatch):
    from qubithub_lite import web as webui
    from qubithub_lite.app import create_app
    from qubithub_lite.web import pages
    from tests.conftest import make_settings

    monkeypatch.setattr(pages, "_PAGES", list(pages._PAGES))
    monkeypatch.setattr(webui, "NAV", webui.NAV + [webui.NavEntry("Admin", "/admin-test", needs_user=True, admin_only=True)])

    @pages.page("/admin-test", exclusive=True)
    async def admin_test(v):
        v.need_user()
        return v.render("error.html", status_code=200, detail="admin page for " + v.user.username)

    client = await aiohttp_client(create_app(make_settings(tmp_path)))
    assert (await client.get("/admin-test", allow_redirects=False)).status == 303  # signed out: to /login
    await browser_login(client, "plainuser")
    page = await (await client.get("/admin-test")).text()
    assert "admin page for plainuser" in page
    assert 'href="/admin-test"' not in page  # admin_only: not in a plain user's nav


async def test_change_password_from_the_settings_page_through_the_api(client):
    """The settings page's form posts to POST /auth/password with the session cookie and the
    CSRF header; afterwards the old password and the old browser session are dead."""
    token = await browser_login(client, "pwuser")
    page = await client.get("/settings", headers=HTML)
    assert page.status == 200 and "current_password" in await page.text()
    body = {"current_password": PASSWORD, "new_password": "An0ther!Secret#77"}
    refused = await client.post("/api/auth/password", json=body)
    assert refused.status == 403  # no CSRF header: a cross-site form cannot change it
    changed = await client.post("/api/auth/password", json=body, headers={"X-CSRF-Token": token})
    assert changed.status == 200, await changed.text()
    assert (await client.get("/auth/me")).status == 401  # this browser session ended too
    old = await client.post("/auth/login", json={"identifier": "pwuser", "password": PASSWORD})
    new = await client.post("/auth/login", json={"identifier": "pwuser", "password": "An0ther!Secret#77"})
    assert old.status == 401 and new.status == 200


async def test_the_page_learns_the_terminal_run_states_from_the_server(client):
    from qubithub_lite.run_status import TERMINAL, RunStatus
    from qubithub_lite.web.common import STATIC_DIR

    text = await (await client.get("/", headers=HTML)).text()
    rendered = re.search(r'<body data-run-terminal="([^"]*)"', text).group(1).split()
    assert rendered == [s.value for s in TERMINAL] and rendered
    script = (STATIC_DIR / "app.js").read_text()
    assert 'getAttribute("data-run-terminal")' in script
    # No list of state names in the script: it would drift from RunStatus.
    names = "|".join(s.value for s in RunStatus)
    assert not re.search(rf'\[\s*"(?:{names})"\s*,', script)

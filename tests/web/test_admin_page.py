"""The Admin page over HTTP: invisible (404) to everyone but site administrators, CSRF on every
form, users disabled / enabled / promoted / given a generated password, a class CSV imported
with its credentials sheet to download, a course bundle imported, the metrics summary."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tarfile

import aiohttp

from tests.conftest import PASSWORD

from .test_pages import HTML, browser_login, csrf_of


async def _admin_session(client, hub, username="boss") -> str:
    await browser_login(client, username)
    await hub.user_admin.set_admin(username, True)
    page = await client.get("/admin", headers=HTML)
    assert page.status == 200, await page.text()
    return csrf_of(await page.text())


async def _login_status(client, identifier: str, password: str = PASSWORD) -> int:
    """Signing in from another browser (no cookie of this one)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as fresh:
        async with fresh.post(client.make_url("/auth/login"), json={"identifier": identifier, "password": password}) as r:
            return r.status


def _user_id(text: str, username: str) -> str:
    row = re.search(rf'<tr data-user="{username}">.*?</tr>', text, re.S).group(0)
    return re.search(r'/-/admin/users/([0-9a-f-]+)/', row).group(1)


async def test_the_admin_page_is_invisible_to_others(client, hub, alice):
    assert (await client.get("/admin", headers=HTML)).status == 404  # signed out
    token = await browser_login(client, "plain")
    page = await client.get("/admin", headers=HTML)
    assert page.status == 404 and "There is no page" in await page.text()
    assert 'href="/admin"' not in await (await client.get("/", headers=HTML)).text()  # no nav entry either
    resp = await client.post(f"/-/admin/users/{alice.id}/disable", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 404
    assert await _login_status(client, "alice") == 200  # nothing happened
    assert (await client.get("/admin/credentials/anything", headers=HTML)).status == 404


async def test_admin_manages_users_from_the_page(client, hub, alice, bob):
    token = await _admin_session(client, hub)
    text = await (await client.get("/admin", headers=HTML)).text()
    assert 'href="/admin" aria-current="page"' in text
    assert {"alice", "bob", "boss"} <= set(re.findall(r'<tr data-user="([a-z0-9-]+)"', text))
    alice_id, bob_id = _user_id(text, "alice"), _user_id(text, "bob")
    # Search and filters.
    found = await (await client.get("/admin?search=ali", headers=HTML)).text()
    assert re.findall(r'<tr data-user="([a-z0-9-]+)"', found) == ["alice"]
    admins = await (await client.get("/admin?role=admin", headers=HTML)).text()
    assert re.findall(r'<tr data-user="([a-z0-9-]+)"', admins) == ["boss"]
    assert (await client.get("/admin?status=bogus", headers=HTML)).status == 400
    # Without the CSRF field: refused, nothing changes.
    assert (await client.post(f"/-/admin/users/{bob_id}/disable", data={}, allow_redirects=False)).status == 403
    assert await _login_status(client, "bob") == 200
    # Disable bob: he can no longer sign in; his token stops working at once.
    resp = await client.post(f"/-/admin/users/{bob_id}/disable", data={"csrf_token": token, "back": "search=bo"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin?search=bo"
    assert await _login_status(client, "bob") in (401, 403)
    assert (await client.get("/auth/me", headers=bob.headers)).status == 401
    disabled = await (await client.get("/admin?status=disabled", headers=HTML)).text()
    assert re.findall(r'<tr data-user="([a-z0-9-]+)"', disabled) == ["bob"]
    await client.post(f"/-/admin/users/{bob_id}/enable", data={"csrf_token": token})
    assert await _login_status(client, "bob") == 200
    # Reset alice's password: shown once, the old one no longer works, the new one does.
    reset = await client.post(f"/-/admin/users/{alice_id}/reset", data={"csrf_token": token})
    assert reset.status == 200 and reset.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code class="mono secret">([^<]+)</code>', await reset.text()).group(1)
    assert await _login_status(client, "alice") == 401
    assert await _login_status(client, "alice", password) == 200
    assert password not in await (await client.get("/admin", headers=HTML)).text()
    # Promote and demote.
    await client.post(f"/-/admin/users/{alice_id}/promote", data={"csrf_token": token})
    assert (await hub.user_admin.find("alice")).is_admin
    await client.post(f"/-/admin/users/{alice_id}/demote", data={"csrf_token": token})
    assert not (await hub.user_admin.find("alice")).is_admin
    # The last admin cannot demote themself away: a clear error page, not a 500.
    me = _user_id(text, "boss")
    refused = await client.post(f"/-/admin/users/{me}/demote", data={"csrf_token": token}, allow_redirects=False)
    assert refused.status in (400, 409) and (await hub.user_admin.find("boss")).is_admin


async def _multipart(client, path: str, token: str, fields: dict[str, str], filename: str, data: bytes):
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await client.post(path, data=form)


async def test_import_a_class_and_download_the_credentials_sheet(client, hub, make_user):
    other = await make_user("carol")  # another site admin (signed up before this browser's session)
    token = await _admin_session(client, hub)
    resp = await client.post("/orgs", json={"name": "QC 101", "slug": "qc101"},
                             headers={"X-CSRF-Token": token, "Accept": "application/json"})
    assert resp.status == 201, await resp.text()
    class_csv = "username;email;name\nstu1;stu1@example.org;Student One\nstu2;stu2@example.org;Student Two\n"
    resp = await _multipart(client, "/-/admin/import-class", token, {"org": "qc101"}, "class.csv", class_csv.encode())
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    assert "2 account(s) created" in text
    link = re.search(r'href="(/admin/credentials/[^"]+)"', text).group(1)
    sheet = await client.get(link)
    assert sheet.status == 200 and sheet.content_type == "text/csv" and "attachment" in sheet.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await sheet.text())))
    assert [r["username"] for r in rows] == ["stu1", "stu2"] and all(r["org"] == "qc101" for r in rows)
    for r in rows:
        assert await _login_status(client, r["username"], r["password"]) == 200
    # All or nothing: a bad row anywhere, nothing created.
    bad = await _multipart(client, "/-/admin/import-class", token, {}, "class.csv",
                           b"username,email\nstu3,stu3@example.org\nBAD NAME,x\n")
    assert bad.status == 400 and "nothing imported" in await bad.text()
    assert await _login_status(client, "stu3") == 401
    # The sheet is the importing admin's only.
    await hub.user_admin.set_admin("carol", True)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as fresh:
        async with fresh.get(client.make_url(link), headers={**HTML, **other.headers}) as r:
            assert r.status == 404


async def test_import_a_bundle_from_the_page_and_see_metrics(client, hub):
    token = await _admin_session(client, hub)
    good = b'OPENQASM 3.0;\nqubit[1] q;\n'
    sha = hashlib.sha256(good).hexdigest()
    manifest = json.dumps({"circuits": [{"owner": "boss", "name": "from-bundle", "title": "From a bundle",
                                         "framework": "openqasm3", "qubits": 1, "versions": [
                                             {"number": 1, "message": "v1", "changed": [{"path": "main.qasm", "sha256": sha, "size": len(good)}]}]}]}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("bundle.json", manifest), (f"objects/{sha}", good)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    resp = await _multipart(client, "/-/admin/import-bundle", token, {}, "course.tar", buf.getvalue())
    assert resp.status == 200, await resp.text()
    assert re.search(r"created</span> circuit boss/from-bundle", await resp.text())
    damaged = await _multipart(client, "/-/admin/import-bundle", token, {}, "course.tar", b"not a tar" * 50)
    assert damaged.status == 400 and "bundle:" in await damaged.text()
    text = await (await client.get("/admin", headers=HTML)).text()
    names = re.findall(r"<tr><td><code>([a-z_:]+)</code>", text)
    assert names and any("request" in n for n in names)

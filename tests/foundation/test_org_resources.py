"""GET /orgs/{slug}/circuits|datasets|spaces and the profile counts: an organization's
resources (a personal organization's are its owner's personal ones); members see all of
them, strangers only the public ones; organization keys act as their member, within scopes."""

from __future__ import annotations

import pytest


async def _make(client, user, kind: str, name: str, *, public: bool, org: str | None = None) -> dict:
    body = {"name": name, "title": name.title(), "is_public": public}
    if kind == "circuits":
        body["framework"] = "qiskit"
    elif kind == "datasets":
        body["format"] = "csv"
    if org:
        body["organization_name"] = org
    resp = await client.post(f"/{kind}", json=body, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _names(client, path: str, headers=None) -> list[str]:
    resp = await client.get(path, headers=headers or {})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    key = path.split("?")[0].rsplit("/", 1)[1]
    assert body["total"] == len(body[key]) or body["pages"] > 1
    return sorted(item["name"] for item in body[key])


@pytest.fixture
async def lab(client, alice, bob, make_user):
    """Organization 'qlab' (alice owner, bob member) with a public and a private resource of
    each kind, plus carol (a stranger) with a private circuit of her own."""
    resp = await client.post("/orgs", json={"name": "Lab", "slug": "qlab"}, headers=alice.headers)
    org = await resp.json()
    assert (await client.post(f"/orgs/{org['id']}/members", json={"email": bob.email}, headers=alice.headers)).status == 201
    for kind in ("circuits", "datasets", "spaces"):
        await _make(client, alice, kind, "lab-open", public=True, org="qlab")
        await _make(client, bob, kind, "lab-secret", public=False, org="qlab")
    carol = await make_user("carol")
    await _make(client, carol, "circuits", "carol-own", public=False)
    return org, carol


@pytest.mark.parametrize("kind", ["circuits", "datasets", "spaces"])
async def test_org_lists_public_for_strangers_all_for_members(client, alice, bob, lab, kind):
    _, carol = lab
    path = f"/orgs/qlab/{kind}"
    assert await _names(client, path) == ["lab-open"]
    assert await _names(client, path, carol.headers) == ["lab-open"]
    assert await _names(client, path, alice.headers) == ["lab-open", "lab-secret"]
    assert await _names(client, path, bob.headers) == ["lab-open", "lab-secret"]


async def test_org_circuits_page_limit_sort(client, alice, lab):
    for i in range(3):
        await _make(client, alice, "circuits", f"extra-{i}", public=True, org="qlab")
    resp = await client.get("/orgs/qlab/circuits?limit=2&page=2&sort=name&order=asc", headers=alice.headers)
    body = await resp.json()
    assert body["total"] == 5 and body["pages"] == 3 and body["page"] == 2
    assert [c["name"] for c in body["circuits"]] == ["extra-2", "lab-open"]
    assert all(c["organization"]["slug"] == "qlab" for c in body["circuits"])
    resp = await client.get("/orgs/qlab/circuits?sort=-name")
    assert [c["name"] for c in (await resp.json())["circuits"]][0] == "lab-open"
    for bad in ("sort=bogus", "limit=0", "limit=101", "page=0"):
        resp = await client.get(f"/orgs/qlab/circuits?{bad}")
        assert resp.status == 400 and "detail" in await resp.json()
    for kind in ("circuits", "datasets", "spaces"):
        assert (await client.get(f"/orgs/no-such-org/{kind}")).status == 404


async def test_profile_counts_public_for_strangers_all_for_members(client, alice, lab):
    _, carol = lab
    stranger = await (await client.get("/orgs/qlab/profile", headers=carol.headers)).json()
    anonymous = await (await client.get("/orgs/qlab/profile")).json()
    member = await (await client.get("/orgs/qlab/profile", headers=alice.headers)).json()
    for counts in (stranger, anonymous):
        assert (counts["circuit_count"], counts["dataset_count"], counts["space_count"]) == (1, 1, 1)
    assert (member["circuit_count"], member["dataset_count"], member["space_count"]) == (2, 2, 2)
    assert member["member_count"] == stranger["member_count"] == 2


@pytest.mark.parametrize("kind", ["circuits", "datasets", "spaces"])
async def test_personal_org_shows_its_owners_personal_resources(client, alice, bob, lab, kind):
    _, carol = lab
    await _make(client, alice, kind, "mine-open", public=True)
    await _make(client, alice, kind, "mine-secret", public=False)
    path = f"/orgs/alice/{kind}"
    assert await _names(client, path) == ["mine-open"]  # not the lab's: those are the organization's
    assert await _names(client, path, bob.headers) == ["mine-open"]
    assert await _names(client, path, alice.headers) == ["mine-open", "mine-secret"]
    # carol's personal organization shows her private circuit to herself only
    assert await _names(client, "/orgs/carol/circuits", carol.headers) == ["carol-own"]
    assert await _names(client, "/orgs/carol/circuits", alice.headers) == []


async def test_personal_profile_counts(client, alice, bob):
    await _make(client, alice, "circuits", "pub", public=True)
    await _make(client, alice, "circuits", "priv", public=False)
    await _make(client, alice, "datasets", "pub", public=True)
    await _make(client, alice, "spaces", "priv", public=False)
    stranger = await (await client.get("/orgs/alice/profile", headers=bob.headers)).json()
    owner = await (await client.get("/orgs/alice/profile", headers=alice.headers)).json()
    assert (stranger["circuit_count"], stranger["dataset_count"], stranger["space_count"]) == (1, 1, 0)
    assert (owner["circuit_count"], owner["dataset_count"], owner["space_count"]) == (2, 1, 1)


async def test_org_keys_see_as_their_member_within_scopes(client, alice, lab):
    org, _ = lab
    resp = await client.post(f"/orgs/{org['id']}/keys", json={"name": "read", "scopes": ["circuit:read"]},
                             headers=alice.headers)
    reader = {"X-API-Key": (await resp.json())["key"]}
    assert await _names(client, "/orgs/qlab/circuits", reader) == ["lab-open", "lab-secret"]
    resp = await client.post(f"/orgs/{org['id']}/keys", json={"name": "data", "scopes": ["dataset:read"]},
                             headers=alice.headers)
    other = {"X-API-Key": (await resp.json())["key"]}
    resp = await client.get("/orgs/qlab/circuits", headers=other)
    assert resp.status == 403 and "detail" in await resp.json()
    assert await _names(client, "/orgs/qlab/datasets", other) == ["lab-open", "lab-secret"]


@pytest.mark.parametrize("kind", ["circuits", "datasets", "spaces"])
async def test_a_member_who_leaves_keeps_only_his_own(client, alice, bob, lab, kind):
    org, _ = lab
    await _make(client, alice, kind, "lab-hidden", public=False, org="qlab")
    assert (await client.delete(f"/orgs/{org['id']}/members/{bob.id}", headers=bob.headers)).status == 204
    # bob created lab-secret: he still sees it, as everywhere; alice's private one is gone for him
    assert await _names(client, f"/orgs/qlab/{kind}", bob.headers) == ["lab-open", "lab-secret"]
    profile = await (await client.get("/orgs/qlab/profile", headers=bob.headers)).json()
    assert profile[f"{kind[:-1]}_count"] == 2

"""Stars, forks (by blob reference), rate limits, stats and downloads (ETag, Range, counting)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from qubithub_lite.db.circuits import Blob, StorageUsage

from tests.conftest import make_settings
from .helpers import CSV, create, csv_bytes, eventually, upload


async def stats(client, dataset_id, headers=None, **params):
    resp = await client.get(f"/datasets/{dataset_id}/stats", params=params, headers=headers or {})
    body = await resp.json()
    assert resp.status == 200, body
    return body


# Stars ------------------------------------------------------------------------------------------
async def test_star_toggles_with_the_reference_response(client, alice, bob):
    d = await create(client, alice, "starry")
    r = await (await client.post(f"/datasets/{d['id']}/star", headers=bob.headers)).json()
    assert r == {"starred": True, "stars_count": 1}
    r = await (await client.post(f"/datasets/{d['id']}/star", headers=alice.headers)).json()
    assert r == {"starred": True, "stars_count": 2}
    r = await (await client.post(f"/datasets/{d['id']}/star", headers=bob.headers)).json()
    assert r == {"starred": False, "stars_count": 1}
    got = await (await client.get(f"/datasets/{d['id']}", headers=alice.headers)).json()
    assert got["is_starred"] is True and got["stars_count"] == 1
    assert (await stats(client, d["id"]))["stars_count"] == 1
    assert (await client.post(f"/datasets/{d['id']}/star")).status == 401


async def test_concurrent_stars_leave_an_exact_count(client, make_user):
    owner = await make_user("owner")
    users = [await make_user(f"fan{i}") for i in range(12)]
    d = await create(client, owner, "popular")
    results = await asyncio.gather(*(client.post(f"/datasets/{d['id']}/star", headers=u.headers) for u in users))
    assert all(r.status == 200 for r in results)
    assert (await stats(client, d["id"]))["stars_count"] == 12
    # Half of them unstar concurrently.
    await asyncio.gather(*(client.post(f"/datasets/{d['id']}/star", headers=u.headers) for u in users[:6]))
    assert (await stats(client, d["id"]))["stars_count"] == 6


# Forks ------------------------------------------------------------------------------------------
async def test_fork_copies_versions_by_blob_reference(client, hub, alice, bob):
    d = await create(client, alice, "source", tags=["qml"], task_categories=["regression"], license="MIT")
    v1 = await upload(client, alice, d["id"], "a.csv", CSV)
    await upload(client, alice, d["id"], "b.csv", csv_bytes(20))
    files_before = sorted(p.name for p in hub.blobs.objects.glob("*/*/*"))
    resp = await client.post(f"/datasets/{d['id']}/fork", headers=bob.headers)
    fork = await resp.json()
    assert resp.status == 201, fork
    assert fork["name"] == "source" and fork["owner"]["username"] == "bob" and fork["forked_from"] == d["id"]
    assert fork["tags"] == ["qml"] and fork["task_categories"] == ["regression"] and fork["license"] == "MIT"
    assert [v["version_number"] for v in fork["versions"]] == [1, 2]
    assert fork["versions"][0]["sha256"] == v1["sha256"] and fork["versions"][0]["total_rows"] == 3
    assert sorted(p.name for p in hub.blobs.objects.glob("*/*/*")) == files_before  # no bytes copied
    blob = await Blob.aget(Blob.sha256 == v1["sha256"])
    assert blob.ref_count == 2
    bob_usage = await StorageUsage.aget(StorageUsage.owner_key == f"user:{bob.id}")
    assert bob_usage.bytes_used == fork["storage_bytes"] == d["storage_bytes"] + sum(
        v["file_size"] for v in fork["versions"])
    src = await stats(client, d["id"])
    assert src["forks_count"] == 1
    assert (await stats(client, d["id"], version=2))["forks_count"] == 1  # forked from the latest
    assert (await stats(client, d["id"], version=1))["forks_count"] == 0
    # The fork previews and downloads the same bytes.
    prev = await (await client.get(f"/datasets/{fork['id']}/preview", params={"version": 1})).json()
    assert prev["total_rows"] == 3
    assert await (await client.get(f"/datasets/{fork['id']}/download?version=1")).read() == CSV

    # Name clash → 409; a new name works; deleting the source keeps the fork's bytes.
    again = await client.post(f"/datasets/{d['id']}/fork", headers=bob.headers)
    assert again.status == 409
    named = await client.post(f"/datasets/{d['id']}/fork", json={"name": "my-copy"}, headers=bob.headers)
    assert named.status == 201 and (await named.json())["name"] == "my-copy"
    assert (await client.post(f"/datasets/{d['id']}/fork", json={"name": "Bad Name"}, headers=bob.headers)).status == 400
    assert (await client.delete(f"/datasets/{d['id']}", headers=alice.headers)).status == 204
    assert await (await client.get(f"/datasets/{fork['id']}/download?version=1")).read() == CSV
    assert (await client.get(f"/datasets/{fork['id']}")).status == 200


@pytest.fixture
def small_quota(tmp_path):
    return make_settings(tmp_path, storage={"user_quota_bytes": 1500})


async def test_fork_over_quota_is_403(aiohttp_client, small_quota):
    from qubithub_lite.app import create_app

    from tests.conftest import register

    client = await aiohttp_client(create_app(small_quota))
    alice, bob = await register(client, "alice"), await register(client, "bob")
    d = await create(client, alice, "big")
    await upload(client, alice, d["id"], "a.csv", csv_bytes(60))  # 1 037 bytes
    await upload(client, bob, (await create(client, bob, "own"))["id"], "c.csv", csv_bytes(30))  # 527 bytes: 1 564 > 1 500 with the fork
    resp = await client.post(f"/datasets/{d['id']}/fork", headers=bob.headers)
    assert resp.status == 403 and "quota" in (await resp.json())["detail"]
    listed = await (await client.get("/datasets", params={"owner": "bob"})).json()
    assert [x["name"] for x in listed["datasets"]] == ["own"]


# Rate limits ---------------------------------------------------------------------------------------
async def test_star_and_fork_rate_limits(aiohttp_client, tmp_path):
    from qubithub_lite.app import create_app

    from tests.conftest import register

    settings = make_settings(tmp_path, rate_limits={"enabled": True, "requests_per_minute": 10_000,
                                                    "anonymous_requests_per_minute": 10_000})
    client = await aiohttp_client(create_app(settings))
    alice, bob = await register(client, "alice"), await register(client, "bob")
    d = await create(client, alice, "limited")
    codes = [(await client.post(f"/datasets/{d['id']}/star", headers=bob.headers)).status for _ in range(31)]
    assert codes[:30] == [200] * 30 and codes[30] == 429
    codes = []
    for i in range(6):
        resp = await client.post(f"/datasets/{d['id']}/fork", json={"name": f"f{i}"}, headers=bob.headers)
        codes.append(resp.status)
    assert codes == [201] * 5 + [429]
    assert "Retry-After" in resp.headers


# Downloads --------------------------------------------------------------------------------------------
async def test_download_headers_and_versions(client, alice):
    d = await create(client, alice, "dl")
    await upload(client, alice, d["id"], "first.csv", CSV)
    v2_bytes = csv_bytes(50)
    await upload(client, alice, d["id"], "second data.csv", v2_bytes)
    resp = await client.get(f"/datasets/{d['id']}/download")
    body = await resp.read()
    assert resp.status == 200 and body == v2_bytes
    assert resp.headers["Content-Length"] == str(len(v2_bytes))
    assert resp.headers["Content-Disposition"] == "attachment; filename*=UTF-8''second%20data.csv"
    assert resp.headers["ETag"] == f'"{hashlib.sha256(v2_bytes).hexdigest()}"'  # strong
    assert resp.headers["Accept-Ranges"] == "bytes" and resp.headers["Content-Type"].startswith("text/csv")
    old = await client.get(f"/datasets/{d['id']}/download", params={"version": 1})
    assert await old.read() == CSV and "first.csv" in old.headers["Content-Disposition"]
    assert (await client.get(f"/datasets/{d['id']}/download", params={"version": 3})).status == 404


async def test_range_and_conditional_requests(client, alice):
    d = await create(client, alice, "ranges")
    content = csv_bytes(100)
    await upload(client, alice, d["id"], "r.csv", content)
    url = f"/datasets/{d['id']}/download"
    part = await client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and await part.read() == content[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(content)}"
    tail = await client.get(url, headers={"Range": "bytes=-5"})
    assert tail.status == 206 and await tail.read() == content[-5:]
    bad = await client.get(url, headers={"Range": f"bytes={len(content) + 10}-"})
    assert bad.status == 416
    etag = part.headers["ETag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status == 304
    stale = await client.get(url, headers={"Range": "bytes=0-3", "If-Range": '"0000"'})
    assert stale.status == 200 and await stale.read() == content  # If-Range mismatch → whole file
    head = await client.head(url)
    assert head.status == 200 and head.headers["Content-Length"] == str(len(content))


async def test_each_completed_download_counts_once(client, alice, bob):
    d = await create(client, alice, "counted")
    content = csv_bytes(200)
    await upload(client, alice, d["id"], "c.csv", content)
    url = f"/datasets/{d['id']}/download"

    async def downloads(**params):
        return (await stats(client, d["id"], **params))["downloads_count"]

    async def settled(expected, **params):
        return await eventually(lambda: _equals(downloads(**params), expected))

    assert await (await client.get(url)).read() == content
    assert await settled(1)
    # HEAD, 304 and Range continuations don't count.
    await client.head(url)
    etag = hashlib.sha256(content).hexdigest()
    await (await client.get(url, headers={"If-None-Match": f'"{etag}"'})).read()
    await (await client.get(url, headers={"Range": "bytes=100-"})).read()
    await (await client.get(url, headers={"Range": "bytes=-10"})).read()
    # A download in two pieces (0-99, then 100-end) counts once.
    first = await client.get(url, headers={"Range": "bytes=0-99"}, )
    second = await client.get(url, headers={"Range": "bytes=100-"})
    assert await first.read() + await second.read() == content
    assert await settled(2)
    await asyncio.sleep(0.2)
    assert await downloads() == 2
    # Per-version figures.
    await upload(client, alice, d["id"], "c2.csv", CSV)
    await (await client.get(url, headers=bob.headers)).read()
    assert await settled(3)
    assert await downloads(version=1) == 2 and await downloads(version=2) == 1
    v2 = await stats(client, d["id"], version="v2")
    assert v2["size_bytes"] == len(CSV) and v2["version"] == 2 and v2["total_rows"] == 3
    whole = await stats(client, d["id"])
    assert whole["size_bytes"] == len(CSV) and whole["versions_count"] == 2 and whole["version"] is None


async def _equals(coro, expected):
    return (await coro) == expected


async def test_interrupted_download_resumed_with_range_counts_once(client, hub, alice):
    """A byte-0 download cut off mid-way, then finished with a Range continuation: one download."""
    import aiohttp

    d = await create(client, alice, "resume")
    content = csv_bytes(400_000)  # ~10 MiB, more than the socket buffers hold
    # Raise the limit for this one test's upload.
    hub.datasets.max_file_bytes = 64 * 1024 * 1024
    await upload(client, alice, d["id"], "big.csv", content)
    url = str(client.make_url(f"/datasets/{d['id']}/download"))
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=alice.headers) as resp:
            got = await resp.content.read(64 * 1024)
        # Leaving the block without reading everything closes the connection: the transfer is cut.
    assert 0 < len(got) < len(content)

    async def cut_recorded():
        from qubithub_lite.api.datasets import _TRACKERS

        tracker = _TRACKERS.get(hub)
        return tracker is not None and len(tracker._cut) == 1

    assert await eventually(cut_recorded)
    assert (await stats(client, d["id"]))["downloads_count"] == 0
    rest = await client.get(f"/datasets/{d['id']}/download", headers={**alice.headers, "Range": f"bytes={len(got)}-"})
    assert rest.status == 206 and got + await rest.read() == content
    assert await eventually(lambda: _equals(_downloads(client, d["id"]), 1))
    # A second continuation does not count again.
    await (await client.get(f"/datasets/{d['id']}/download", headers={**alice.headers, "Range": "bytes=5-"})).read()
    await asyncio.sleep(0.2)
    assert (await stats(client, d["id"]))["downloads_count"] == 1


async def _downloads(client, dataset_id):
    return (await stats(client, dataset_id))["downloads_count"]


async def test_stats_validation(client, alice):
    d = await create(client, alice, "s")
    empty = await stats(client, d["id"])
    assert empty == {"downloads_count": 0, "stars_count": 0, "forks_count": 0, "size_bytes": 0, "version": None,
                     "versions_count": 0, "total_rows": None}
    assert (await client.get(f"/datasets/{d['id']}/stats", params={"version": "x"})).status == 400
    assert (await client.get(f"/datasets/{d['id']}/stats", params={"version": 1})).status == 404

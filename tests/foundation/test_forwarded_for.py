"""``[server] trusted_proxies``: behind a reverse proxy the client's address comes from
``X-Forwarded-For``, believed only when the direct peer is a trusted proxy. Per-IP limits then
hold per client, and a student sending the header straight to the server gains nothing."""

from __future__ import annotations

import pytest

from qubithub_lite.api.forwarded import MAX_HOPS, client_address, parse_networks
from qubithub_lite.app import create_app
from qubithub_lite.config import ConfigError, load_settings
from tests.conftest import make_settings

PROXIES = parse_networks(["10.0.0.0/24", "192.0.2.7", "fd00::/8"])


@pytest.mark.parametrize("peer, header, client", [
    ("10.0.0.5", ["203.0.113.9"], "203.0.113.9"),                        # one trusted proxy
    ("10.0.0.5", ["203.0.113.9, 192.0.2.7"], "203.0.113.9"),             # two proxies in a row
    ("10.0.0.5", ["198.51.100.1, 203.0.113.9"], "203.0.113.9"),          # the client's own claim, left: ignored
    ("10.0.0.5", ["198.51.100.1", "203.0.113.9"], "203.0.113.9"),        # two header lines are one list
    ("10.0.0.5", [" 203.0.113.9 "], "203.0.113.9"),
    ("10.0.0.5", ["2001:db8::1"], "2001:db8::1"),
    ("10.0.0.5", ["[2001:db8::1]"], "2001:db8::1"),
    ("fd00::3", ["203.0.113.9"], "203.0.113.9"),                          # an IPv6 proxy
    ("::ffff:10.0.0.5", ["203.0.113.9"], "203.0.113.9"),                  # dual-stack socket
    ("10.0.0.5", ["10.0.0.9"], "10.0.0.9"),                               # only proxies: the farthest one
    ("10.0.0.5", [], "10.0.0.5"),                                         # no header: the proxy itself
    ("10.0.0.5", ["garbage"], "10.0.0.5"),                                # malformed: the last trusted hop
    ("10.0.0.5", ["203.0.113.9, unknown"], "10.0.0.5"),
    ("10.0.0.5", ["unknown, 203.0.113.9"], "203.0.113.9"),                # garbage left of the client: never read
    ("10.0.0.5", [","], "10.0.0.5"),
    ("10.0.0.5", ["203.0.113.9:4711"], "10.0.0.5"),
    ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),                    # untrusted peer: header ignored
    ("198.51.100.1", ["10.0.0.5"], "198.51.100.1"),                       # ... even naming a proxy
    ("not-an-ip", ["203.0.113.9"], "not-an-ip"),
    (None, ["203.0.113.9"], None),
])
def test_the_client_is_the_right_most_untrusted_hop(peer, header, client):
    assert client_address(peer, header, PROXIES) == client


def test_no_trusted_proxies_ignores_the_header():
    assert client_address("10.0.0.5", ["203.0.113.9"], ()) == "10.0.0.5"


def test_a_long_chain_is_read_only_from_the_right():
    chain = ", ".join(["198.51.100.1"] + ["10.0.0.1"] * (5 * MAX_HOPS))
    assert client_address("10.0.0.5", [chain], PROXIES) == "10.0.0.1"  # nothing past MAX_HOPS is examined
    chain = ", ".join(["10.0.0.1"] * 100_000 + ["203.0.113.9"])
    assert client_address("10.0.0.5", [chain], PROXIES) == "203.0.113.9"


@pytest.mark.parametrize("value", [["nope"], ["10.0.0.0/33"], ["10.0.0.1/8/2"], [""], "999.1.1.1"])
def test_a_bad_proxy_setting_is_a_clear_config_error(value):
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(None, {"server": {"trusted_proxies": value}}, environ={})


def test_proxies_from_the_environment():
    settings = load_settings(None, {}, environ={"QUBITHUB_LITE_SERVER_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert settings.server.trusted_proxies == ["127.0.0.1/32", "10.0.0.0/8"]
    settings = load_settings(None, {}, environ={"QUBITHUB_LITE_SERVER_TRUSTED_PROXIES": '["::1"]'})
    assert settings.server.trusted_proxies == ["::1/128"]
    assert load_settings(None, {}, environ={}).server.trusted_proxies == []


async def _client(aiohttp_client, tmp_path, proxies):
    settings = make_settings(tmp_path, server={"trusted_proxies": proxies},
                             rate_limits={"enabled": True, "anonymous_requests_per_minute": 2})
    return await aiohttp_client(create_app(settings))


async def _status(client, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    resp = await client.get("/circuits", headers=headers)
    body = await resp.json()
    assert resp.status in (200, 429), body
    if resp.status == 429:
        assert "rate limit" in body["detail"] and int(resp.headers["Retry-After"]) >= 1
    return resp.status


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(aiohttp_client, tmp_path):
    client = await _client(aiohttp_client, tmp_path, ["127.0.0.1"])  # the test client connects from 127.0.0.1
    assert [await _status(client, "203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert await _status(client, "203.0.113.2") == 200  # another student behind the same proxy
    # a client's own X-Forwarded-For, which the proxy extends, does not give it a fresh bucket
    assert await _status(client, "198.51.100.77, 203.0.113.1") == 429
    assert await _status(client, "203.0.113.2") == 200
    assert await _status(client, "203.0.113.2") == 429


async def test_a_header_sent_straight_to_the_server_gains_nothing(aiohttp_client, tmp_path):
    for proxies in ([], ["10.0.0.0/8"]):  # none configured, or the peer is not one of them
        client = await _client(aiohttp_client, tmp_path / str(len(proxies)), proxies)
        statuses = [await _status(client, f"203.0.113.{i}") for i in range(1, 4)]
        assert statuses == [200, 200, 429]  # every "client" is the one peer, 127.0.0.1
        assert await _status(client) == 429


@pytest.mark.parametrize("header", [
    "garbage", "", ",,,,", "unknown", "203.0.113.1:80", "1" * 8000, ", ".join(["10.0.0.1"] * 1500),
    "\u00e9\u00e8", "203.0.113.1\t, 2001:db8::1", "[::1", "::ffff:999.1.1.1",
])
async def test_malformed_forwarded_headers_are_never_a_500(aiohttp_client, tmp_path, header):
    client = await _client(aiohttp_client, tmp_path, ["127.0.0.1", "10.0.0.0/8"])
    assert await _status(client, header) == 200
    assert await _status(client, "203.0.113.50") == 200  # and the server goes on serving other clients

"""The client's address behind trusted reverse proxies (``[server] trusted_proxies``).

Behind nginx or Caddy every connection comes from the proxy, so whatever is per IP (anonymous
rate limits, login throttling, the address in logs) would be per proxy. The proxy appends the
address it saw to ``X-Forwarded-For``; anyone can send that header too, so it is believed only
this far:

- the direct peer is not a trusted proxy (or none are configured, the default): the header is
  ignored, the peer is the client. A student who sends ``X-Forwarded-For`` gains nothing.
- the direct peer is trusted: walk the header's addresses from the right (the nearest hop
  first), skipping trusted proxies; the first address that is not trusted is the client. If a
  hop is not an IP address (garbage, ``unknown``), the walk stops and the last trusted hop it
  reached is the client: what a client puts left of its own address never matters, because the
  proxy appends the real one to the right of it.

Every header together is read once, split on commas, at most :data:`MAX_HOPS` from the right:
linear in the header's size (which aiohttp already bounds).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Sequence

from aiohttp import hdrs, web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The most X-Forwarded-For hops examined (from the right): more proxies than this in a row is
#: no deployment.
MAX_HOPS = 32


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.5", "10.1.0.0/16", "fd00::/8"]`` as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):  # "[2001:db8::1]"
        text = text[1:-1]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # "::ffff:10.0.0.5" on a dual-stack socket is 10.0.0.5
    return ip


def _trusted(ip: Address, networks: Sequence[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], networks: Sequence[Network]) -> str | None:
    """The client's address: ``peer`` unless it is a trusted proxy (see the module docstring)."""
    if not networks or peer is None:
        return peer
    current = _address(peer)
    if current is None or not _trusted(current, networks):
        return peer
    hops = ",".join(forwarded_for).rsplit(",", MAX_HOPS)[-MAX_HOPS:] if forwarded_for else []
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            break
        current = ip
        if not _trusted(ip, networks):
            break
    return str(current)


def forwarded_middleware(trusted_proxies: Iterable[str]):
    """The outermost middleware: ``request.remote`` becomes the client's address."""
    networks = parse_networks(trusted_proxies)

    @web.middleware
    async def client_address_middleware(request: web.Request, handler) -> web.StreamResponse:
        remote = request.remote
        client = client_address(remote, request.headers.getall(hdrs.X_FORWARDED_FOR, ()), networks)
        if client != remote:
            request = request.clone(remote=client)
        return await handler(request)

    return client_address_middleware

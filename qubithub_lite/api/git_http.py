"""Git smart HTTP for circuits: ``{origin}/{owner}/{name}.git`` (``git clone``, ``fetch``,
``pull``, ``push``; ``qubithub clone``).

These are raw aiohttp routes (git's wire protocol, not JSON), registered after the JSON API
and kept out of the OpenAPI document. The protocol itself is the system ``git``
(``upload-pack`` / ``receive-pack --stateless-rpc``, see ``services/git_repos.py``); this module
only checks who is calling and frames the HTTP exchange as ``git http-backend`` does.

Credentials: HTTP Basic (any user name, conventionally ``x-access-token``; the password is
an access token or an API key), or ``Authorization: Bearer``. Reading needs ``circuit:read``
(anonymous is fine for public circuits), pushing ``circuit:write`` and write access.
Anonymous requests to anything that is not a public circuit's clone — private,
nonexistent, or a push — get the same 401 Basic challenge, so existence is never revealed;
with credentials, an invisible circuit is 404 as everywhere.
"""

from __future__ import annotations

import base64
import binascii
import shutil
import zlib
from typing import AsyncIterator

from aiohttp import web

from ..errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized
from ..services import access
from ..services.principal import Principal
from .routing import HUB_KEY

REPO = "/{owner}/{repo:[^/]+\\.git}"
SERVICES = ("git-upload-pack", "git-receive-pack")
CHALLENGE = {"WWW-Authenticate": 'Basic realm="QubitHub Lite", charset="UTF-8"'}
MAX_NEGOTIATION_BYTES = 64 * 1024 * 1024
PROTOCOLS = ("version=2", "version=1")


def _challenge(detail: str = "authentication required") -> Unauthorized:
    return Unauthorized(detail, headers=CHALLENGE)


async def _principal(request: web.Request) -> Principal | None:
    hub = request.app[HUB_KEY]
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            _, _, secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _challenge("malformed Basic credentials") from None
    elif scheme == "bearer":
        secret = value
    else:
        raise _challenge("use HTTP Basic auth: user x-access-token, password an access token or API key")
    secret = secret.strip()
    if not secret:
        raise _challenge()
    try:
        if secret.startswith("qh_"):
            user, key = await hub.api_keys.authenticate(secret)
            return Principal(user, key)
        user = await hub.accounts.get_active_user(hub.accounts.tokens.decode(secret))
    except Unauthorized:
        raise _challenge("invalid credentials") from None
    if user is None:
        raise _challenge("invalid credentials")
    return Principal(user)


async def _rate_limit(request: web.Request, principal: Principal | None) -> None:
    hub = request.app[HUB_KEY]
    limiter = hub.limiter
    if not limiter.enabled:
        return
    cfg = limiter.config
    if principal is None:
        await limiter.take("requests", f"ip:{request.remote}", cfg.anonymous_requests_per_minute)
    elif principal.api_key is not None:
        await limiter.take("requests", f"key:{principal.api_key.id}", principal.api_key.rate_limit_per_minute)
    else:
        per_minute = cfg.pro_requests_per_minute if principal.user.is_pro else cfg.requests_per_minute
        await limiter.take("requests", f"user:{principal.user_id}", per_minute)


async def _circuit(request: web.Request, *, write: bool):
    """(circuit, principal) the request may use; the 401 challenge / 403 / 404 otherwise."""
    hub = request.app[HUB_KEY]
    principal = await _principal(request)
    await _rate_limit(request, principal)
    owner, repo = request.match_info["owner"], request.match_info["repo"]
    repo_name = f"{owner}/{repo[:-4]}"
    if principal is None:
        if write:
            raise _challenge()
        try:
            return await hub.circuits.resolve_quiet(None, repo_name), None
        except NotFound:
            raise _challenge() from None
    principal.require_scope("circuit:write" if write else "circuit:read")
    circuit = await hub.circuits.resolve_quiet(principal, repo_name)  # an org key stays in its organization
    if write:
        await access.ensure_writable(hub.db, principal, circuit, "circuit")
    return circuit, principal


def _pkt_line(text: str) -> bytes:
    data = text.encode()
    return b"%04x" % (len(data) + 4) + data


async def _body(request: web.Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, gunzipped when git sent it compressed, cut past ``limit`` bytes."""
    gz = request.headers.get("Content-Encoding", "").lower() == "gzip"
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gz else None
    total = 0
    async for chunk in request.content.iter_chunked(65536):
        if inflate is not None:
            chunk = inflate.decompress(chunk, limit + 1 - total)
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"request larger than {limit} bytes")
        yield chunk


def _check_length(request: web.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request larger than {limit} bytes")


def _protocol(request: web.Request) -> dict[str, str]:
    value = request.headers.get("Git-Protocol", "")
    return {"GIT_PROTOCOL": value} if value in PROTOCOLS else {}


async def _stream(request: web.Request, content_type: str) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache, max-age=0, must-revalidate",
                                       "Expires": "Fri, 01 Jan 1980 00:00:00 GMT", "Pragma": "no-cache"})
    await resp.prepare(request)
    return resp


async def info_refs(request: web.Request) -> web.StreamResponse:
    service = request.query.get("service")
    circuit, _ = await _circuit(request, write=service == "git-receive-pack")
    if service not in SERVICES:
        raise BadRequest("only git's smart HTTP protocol is served (git ≥ 1.6.6)")
    repos = request.app[HUB_KEY].git_repos
    repo = await repos.materialize(circuit.id)
    env = _protocol(request) if service == "git-upload-pack" else {}
    async with repos.slot():
        resp = await _stream(request, f"application/x-{service}-advertisement")
        if env.get("GIT_PROTOCOL") != "version=2":
            await resp.write(_pkt_line(f"# service={service}\n") + b"0000")

        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        await repos.run_service([service[4:], "--stateless-rpc", "--advertise-refs", str(repo)], env=env,
                                body=nothing(), write=resp.write, limit=0)
    await resp.write_eof()
    return resp


async def upload_pack(request: web.Request) -> web.StreamResponse:
    circuit, _ = await _circuit(request, write=False)
    _check_length(request, MAX_NEGOTIATION_BYTES)
    repos = request.app[HUB_KEY].git_repos
    repo = await repos.materialize(circuit.id)
    async with repos.slot():
        resp = await _stream(request, "application/x-git-upload-pack-result")
        await repos.run_service(["-c", "pack.threads=1", "upload-pack", "--stateless-rpc", str(repo)],
                                env=_protocol(request), body=_body(request, MAX_NEGOTIATION_BYTES),
                                write=resp.write, limit=MAX_NEGOTIATION_BYTES)
    await resp.write_eof()
    return resp


async def receive_pack(request: web.Request) -> web.StreamResponse:
    circuit, principal = await _circuit(request, write=True)
    hub = request.app[HUB_KEY]
    repos = hub.git_repos
    limit = hub.settings.git.max_push_bytes + 1024 * 1024  # the pack plus the ref commands
    _check_length(request, limit)
    async with repos.slot():
        work, _, extra = await repos.prepare_push(circuit)
        try:
            args = extra.pop("args")
            resp = await _stream(request, "application/x-git-receive-pack-result")
            await repos.run_service(args, env=extra, body=_body(request, limit), write=resp.write, limit=limit,
                                    side_task=lambda: repos.await_plan(principal.user, circuit, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    await resp.write_eof()
    return resp


async def other(request: web.Request) -> web.StreamResponse:
    """Anything else under ``….git``: the same answer as for a clone that is not allowed, or 404."""
    await _circuit(request, write=request.method not in ("GET", "HEAD"))
    raise NotFound("not a git smart HTTP path")


def is_git_handler(handler) -> bool:
    """Whether a matched route is one of these (the auth middleware then leaves the request to it)."""
    return getattr(handler, "qubithub_git", False)


for _handler in (info_refs, upload_pack, receive_pack, other):
    _handler.qubithub_git = True  # type: ignore[attr-defined]


def setup(app: web.Application) -> None:
    """Register the git routes (after the JSON API, so they never shadow it)."""
    app.router.add_get(REPO + "/info/refs", info_refs)
    app.router.add_post(REPO + "/git-upload-pack", upload_pack)
    app.router.add_post(REPO + "/git-receive-pack", receive_pack)
    app.router.add_route("*", REPO + "{tail:(/.*)?}", other)


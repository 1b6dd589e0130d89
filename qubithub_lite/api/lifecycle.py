"""Graceful shutdown of a serving process (SIGTERM/SIGINT under ``qubithub-lite serve``).

aiohttp first stops listening (no new connections), then calls :func:`graceful_shutdown`:
running runs get up to ``[server] shutdown_timeout`` seconds to finish, and whatever is
still running then is stopped and re-queued (it runs again at the next start); then every
open WebSocket is closed with a close frame (1001 "going away") and a reason. aiohttp then
gives requests in flight up to ``shutdown_timeout`` more, and the hub closes. So the process
exits within about twice ``shutdown_timeout`` plus the workers' own exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from aiohttp import WSCloseCode, web

from ..logs import fields
from .routing import HUB_KEY

log = logging.getLogger("qubithub_lite")
SHUTDOWN_REASON = "server shutting down; reconnect in a moment"


def open_websockets(hub: Any) -> weakref.WeakSet:
    sockets = getattr(hub, "_websockets", None)
    if sockets is None:
        sockets = hub._websockets = weakref.WeakSet()
    return sockets


def track_websocket(hub: Any, ws: web.WebSocketResponse) -> None:
    """Remember an open WebSocket so a shutdown can close it properly."""
    open_websockets(hub).add(ws)


async def close_websockets(hub: Any, reason: str = SHUTDOWN_REASON) -> int:
    sockets = [ws for ws in list(open_websockets(hub)) if not ws.closed]

    async def close(ws: web.WebSocketResponse) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=reason.encode()), 5)

    await asyncio.gather(*(close(ws) for ws in sockets))
    return len(sockets)


async def graceful_shutdown(app: web.Application) -> None:
    hub = app[HUB_KEY]
    timeout = hub.settings.server.shutdown_timeout
    log.info("server.stopping", extra=fields(drain_seconds=timeout))
    finished = requeued = 0
    queue = getattr(hub, "run_queue", None)
    if queue is not None:
        finished, requeued = await queue.drain(timeout)
    closed = await close_websockets(hub)
    log.info("server.drained", extra=fields(runs_finished=finished, runs_requeued=requeued, websockets_closed=closed))

"""/runs, /circuits/{id}/runs, run statistics and the live WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from aiohttp import WSCloseCode, WSMsgType, web

from ..errors import BadRequest
from ..run_status import RunStatus
from ..schemas.runs import RunCreate, RunList, RunListQuery, RunResponse, RunStatsResponse
from ..services import permissions
from .lifecycle import track_websocket
from .middleware import resolve_principal
from .routing import Ctx, Router

router = Router("runs")


@router.post("/runs", body=RunCreate, response=RunResponse, status=201, auth="user", scope="runs:submit", errors=(403, 404))
async def create_run(ctx: Ctx):
    """Submit a run; it starts `pending` and is executed asynchronously."""
    run = await ctx.hub.runs.submit(ctx.actor, ctx.body)
    response = await ctx.hub.runs.response(run)
    response.status = RunStatus.PENDING.value  # the state this request created (the queue may already have moved it)
    return response


@router.get("/runs", query=RunListQuery, response=RunList, auth="user", scope="runs:read")
async def list_runs(ctx: Ctx):
    """The caller's runs, newest first (filters `status`, `circuit_id`)."""
    return await ctx.hub.runs.list_for(ctx.query, user_id=ctx.actor)


@router.get("/runs/users/me/stats", response=RunStatsResponse, auth="user", scope="runs:read")
async def my_run_stats(ctx: Ctx):
    """The caller's run statistics (maintained aggregates; personal: not with an organization key)."""
    permissions.ensure_personal(ctx.actor, "read personal run statistics")
    return await ctx.hub.runs.stats("user", ctx.user.id)


@router.get("/runs/circuits/{circuit_id}/stats", response=RunStatsResponse, scope="runs:read")
async def circuit_run_stats(ctx: Ctx):
    """Run statistics of one circuit."""
    return await ctx.hub.runs.circuit_stats(ctx.actor, ctx.path["circuit_id"])


@router.get("/runs/{run_id}", response=RunResponse, scope="runs:read", errors=(404, 409))
async def get_run(ctx: Ctx):
    """A run with results and metrics: its owner, or anyone who can see its circuit.
    `run_id` may be a unique prefix (at least 8 characters); an ambiguous one is 409."""
    run = await ctx.hub.runs.get_visible(ctx.actor, ctx.path["run_id"])
    return await ctx.hub.runs.response(run)


@router.delete("/runs/{run_id}", status=204, auth="user", scope="runs:submit", errors=(403, 404, 409))
async def delete_run(ctx: Ctx):
    """Cancel an active run, or delete a finished one (again: 204 for whoever deleted it; 404 for a run
    that never existed). Its submitter, or a site admin. `run_id` may be a unique prefix (at least 8
    characters) of a run the caller may see."""
    await ctx.hub.runs.cancel_or_delete(ctx.actor, ctx.path["run_id"])


@router.get("/circuits/{circuit_id}/runs", query=RunListQuery, response=RunList, scope="runs:read")
async def circuit_runs(ctx: Ctx):
    """Runs of one circuit, newest first."""
    return await ctx.hub.runs.list_for_circuit(ctx.actor, ctx.path["circuit_id"], ctx.query)


#: A socket whose unsent bytes plus the message stay under this is written to directly by the
#: publisher (the write cannot wait: asyncio's default high-water mark is 64 KiB).
DIRECT_WRITE_LIMIT = 64 * 1024


class _SocketSink:
    """A run WebSocket as the event bus's :class:`~qubithub_lite.jobs.events.Sink`."""

    __slots__ = ("ws", "transport")

    def __init__(self, ws: web.WebSocketResponse, transport) -> None:
        self.ws, self.transport = ws, transport

    def ready(self, size: int) -> bool:
        t = self.transport
        return (t is not None and not self.ws.closed and not t.is_closing()
                and t.get_write_buffer_size() + size <= DIRECT_WRITE_LIMIT)

    async def send(self, payload: bytes) -> None:
        await self.ws.send_frame(payload, WSMsgType.TEXT)


async def _run_socket(ctx: Ctx):
    """First message: the run's current state; then one message per transition (written by
    the publisher straight to this socket; this task sends only a slow reader's backlog and
    closes the socket after the terminal state)."""
    request = ctx.request
    principal = ctx.principal
    token = request.query.get("token")
    if principal is None and token:
        principal = await resolve_principal(request, token_override=token)
    if principal is not None:
        principal.require_scope("runs:read")
    events, run_id = ctx.hub.run_events, ctx.path["run_id"]
    # Subscribe before reading: a transition committed after the read is then not missed.
    sub = events.subscribe(run_id)
    try:
        run = await ctx.hub.runs.get_visible(permissions.actor(principal), run_id)
        # No per-message compression: a status message is small, and deflating it once per
        # subscriber would cost more than it saves on the wire.
        ws = web.WebSocketResponse(heartbeat=30, compress=False)
        if not ws.can_prepare(request).ok:
            raise BadRequest("this is a WebSocket endpoint: connect with a WebSocket client (an Upgrade request)")
        await ws.prepare(request)
        track_websocket(ctx.hub, ws)  # closed with a reason at shutdown
    except BaseException:
        events.unsubscribe(run_id, sub)
        raise
    reader = woken = None
    try:
        try:
            await ws.send_str((await ctx.hub.runs.response(run)).model_dump_json())
        except ConnectionError:  # the client went away right after its upgrade
            return ws
        sub.covered(run.status)  # what was published before the read is in this message
        if sub.ended:
            return ws
        sink = _SocketSink(ws, request.transport)
        async with ctx.hub.db.idle():  # the socket may stay open for minutes: no pooled connection meanwhile
            with contextlib.suppress(ConnectionError):  # the client went away while we sent
                await sub.flush(sink)
                reader = asyncio.create_task(ws.receive())
                while not (sub.ended or sub.dropped):
                    if woken is None or woken.done():
                        woken = asyncio.create_task(sub.wake.wait())
                    done, _ = await asyncio.wait({woken, reader}, return_when=asyncio.FIRST_COMPLETED)
                    if reader in done:
                        msg = reader.result()
                        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                            break
                        reader = asyncio.create_task(ws.receive())
                    if woken in done and not (sub.ended or sub.dropped):
                        await sub.flush(sink)  # a slow reader's backlog
    finally:
        events.unsubscribe(run_id, sub)
        for task in (reader, woken):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            if sub.dropped:
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too far behind: reconnect")
            else:
                await ws.close()
    return ws


@router.websocket("/ws/runs/{run_id}", errors=(400, 401, 403, 404))
async def run_updates(ctx: Ctx):
    """Live run updates (JSON). Private runs need a token: header or `?token=`."""
    return await _run_socket(ctx)


@router.websocket("/ws/runs/{run_id}/subscribe", errors=(400, 401, 403, 404))
async def run_updates_subscribe(ctx: Ctx):
    """Same as /ws/runs/{run_id}."""
    return await _run_socket(ctx)

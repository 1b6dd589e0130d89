"""Prometheus metrics (``GET /metrics``, site administrators only), with ``prometheus-client``.

Each app has its own registry. Requests are counted by route *template* (never the raw
path, so a client cannot grow the label set) and status, with a latency histogram per
route. Queue depth, runs by status and backend, worker restarts and database-pool use are
read when scraped; sandbox failures are counted by class as jobs end."""

from __future__ import annotations

import time
from typing import Any, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter as PromCounter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .counters import SANDBOX_FAILURES
from .run_status import WAITING

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Snapshot:
    """Values read from the database and the hub just before a scrape renders them."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def collect(self) -> Iterable[Any]:
        d = self.data
        if not d:
            return
        depth = GaugeMetricFamily("qubithub_run_queue_depth", "Runs waiting to execute (pending + queued).")
        depth.add_metric([], d["queue_depth"])
        yield depth
        runs = GaugeMetricFamily("qubithub_runs", "Stored runs by status and backend.", labels=["status", "backend"])
        for (status, backend), n in sorted(d["runs"].items()):
            runs.add_metric([status, backend], n)
        yield runs
        sandbox = CounterMetricFamily("qubithub_sandbox_failures", "Sandbox jobs that failed, by class.", labels=["class"])
        for cls, n in sorted(d["sandbox_failures"].items()):
            sandbox.add_metric([cls], n)
        yield sandbox
        restarts = CounterMetricFamily("qubithub_worker_restarts", "Simulator worker processes restarted.")
        restarts.add_metric([], d["worker_restarts"])
        yield restarts
        pool = GaugeMetricFamily("qubithub_db_pool_connections", "Database pool connections.", labels=["state"])
        for state, n in d["pool"].items():
            pool.add_metric([state], n)
        yield pool
        sockets = GaugeMetricFamily("qubithub_websockets_open", "Open run WebSockets.")
        sockets.add_metric([], d["websockets"])
        yield sockets


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = PromCounter("qubithub_http_requests", "HTTP requests by route, method and status.",
                                    ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("qubithub_http_request_duration_seconds", "HTTP request latency by route.",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._snapshot = _Snapshot()
        #: (route template, method, status) -> (request counter, latency histogram) children.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry.register(self._snapshot)

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        route = _route_of(request)
        method = request.method if request.method in METHODS else "other"  # clients choose the method token
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # labels() is the slow part: resolve each combination once
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                              self.latency.labels(route, method))
        children[0].inc()
        children[1].observe(seconds)

    async def render(self, hub: Any) -> bytes:
        self._snapshot.data = await _read_state(hub)
        return generate_latest(self.registry)


def _route_of(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or getattr(info, "http_exception", None) is not None:
        return "unmatched"
    return resource.canonical


async def _read_state(hub: Any) -> dict[str, Any]:
    from peewee import fn

    from .db.runs import Run

    rows = await hub.db.list(Run.select(Run.status, Run.backend_name, fn.COUNT(Run.id).alias("n"))
                             .group_by(Run.status, Run.backend_name))
    runs = {(r.status, r.backend_name or ""): int(r.n) for r in rows}
    queue = getattr(hub, "run_queue", None)
    executor_stats = queue.executor.stats() if queue is not None else {}
    from .api.lifecycle import open_websockets

    return {
        "queue_depth": sum(n for (status, _), n in runs.items() if status in WAITING),
        "runs": runs,
        "sandbox_failures": dict(SANDBOX_FAILURES),
        "worker_restarts": int(executor_stats.get("restarts", 0) or 0),
        "pool": hub.db.pool_stats(),
        "websockets": len(open_websockets(hub)),
    }


def metrics_of(app: web.Application) -> Metrics:
    """The app's metrics (one registry per app)."""
    from .api.routing import HUB_KEY

    hub = app[HUB_KEY]
    metrics = getattr(hub, "_metrics", None)
    if metrics is None:
        metrics = hub._metrics = Metrics()
    return metrics


@web.middleware
async def metrics_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Outermost: counts every answer, errors and rate-limit refusals included."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics_of(request.app).observe(request, status, time.perf_counter() - started)


CONTENT_TYPE = CONTENT_TYPE_LATEST

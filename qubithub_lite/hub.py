"""The service container: one per running app. Handlers reach services
through ``ctx.hub``; services never see HTTP objects.

Every service is built in one place, :meth:`Hub._wire`, in dependency order, each given
what it uses in its constructor. A server hub also builds the runs engine (sandbox, executor,
compiler, queue), git, the Hugging Face API and benchmarks; the CLI hub
(``maintenance.py``) builds the smaller set through the same method (``jobs=False``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

from . import __version__
from .config import Settings
from .db import migrate
from .db.circuits import Circuit
from .db.core import Db, open_database
from .db.datasets import Dataset
from .db.spaces import Space
from .jobs.events import RunEvents
from .services.accounts import Accounts
from .services.admin import UserAdmin
from .services.api_keys import ApiKeys
from .services.bundles import Bundles
from .services.circuits import Circuits
from .services.datasets import Datasets
from .services.orgs import Orgs
from .services.passwords import PasswordHasher
from .services.ratelimit import RateLimiter
from .services.runs import Runs
from .services.secrets_file import load_or_create_secret
from .services.spaces import Spaces
from .services.tokens import AccessTokens
from .sandbox.base import Sandbox, SandboxUnavailable
from .storage.blobs import BlobStore
from .storage.quota import StorageAccounts

if TYPE_CHECKING:  # built only by a server hub (imported there)
    from .jobs.queue import RunQueue
    from .services.benchmarks.service import Benchmarks
    from .services.git_repos import GitRepos
    from .services.hf_compat import HfCompat

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


class Component(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Hub:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.version = __version__
        self.db: Db
        self.accounts: Accounts
        self.api_keys: ApiKeys
        self.orgs: Orgs
        self.blobs: BlobStore
        self.storage_accounts: StorageAccounts
        self.circuits: Circuits
        self.datasets: Datasets
        self.spaces: Spaces
        self.bundles: Bundles
        self.user_admin: UserAdmin  # built after the runs service
        self.run_events: RunEvents
        self.runs: Runs
        # A server hub's only (see _wire(jobs=True)):
        self.git_repos: GitRepos
        self.hf: HfCompat
        self.benchmarks: Benchmarks
        self.run_queue: RunQueue | None = None
        self.bus: Any = None  # jobs.bus: LocalBus or PgBus (a server hub's only; docs/scale-out.md)
        self._metrics: Any = None  # metrics.metrics_of(app): made on first use (the HTTP layer's)
        self._websockets: Any = None  # api.lifecycle.open_websockets(hub): the same
        self.limiter = RateLimiter(settings.rate_limits)
        self.health_checks: dict[str, HealthCheck] = {}
        self.sandbox: Sandbox | None = None
        self.sandbox_error: str | None = None
        self._components: list[Component] = []

    async def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = load_or_create_secret(settings.secret_file)
        self.db = open_database(
            settings.database_url,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            read_concurrency=settings.database.read_concurrency,
        )
        await migrate.upgrade(self.db)
        await self._start_sandbox()
        await self._wire(secret, jobs=True)
        if settings.examples.install_on_first_start:
            from .services.examples import install_on_first_start

            await install_on_first_start(settings.examples, self.db, self.accounts, self.orgs, self.bundles)
        for component in self._components:
            await component.start()

    async def _wire(self, secret: bytes, *, jobs: bool) -> None:
        """Build every service, in dependency order. ``jobs``: a server hub, which also runs
        work (the sandbox is started before); a CLI hub never claims, queues or executes."""
        settings, db = self.settings, self.db
        # Several API processes on one PostgreSQL database behave as one (docs/scale-out.md):
        # the event bus crosses processes; services with per-process caches announce through it.
        shared = not db.is_sqlite
        if jobs:
            from .jobs.bus import LocalBus, PgBus
            from .jobs.leases import process_owner

            owner = process_owner()
            self.bus = PgBus(db, settings.database_url, owner) if shared else LocalBus(owner)
            self.add_component(self.bus)  # started before the queue: a cancel sent meanwhile is heard
        tokens = AccessTokens(secret, settings.auth.access_token_ttl_seconds)
        self.accounts = Accounts(db, PasswordHasher(settings.auth.bcrypt_rounds), tokens, settings.auth,
                                 announcer=self.bus)
        self.api_keys = ApiKeys(db)
        self.orgs = Orgs(db, {"circuit": Circuit, "dataset": Dataset, "space": Space})
        self.blobs = BlobStore(settings.data_dir / "blobs", db)
        if jobs:  # not from the CLI: it clears temp files a running server may be writing
            await self.blobs.start()
        self.storage_accounts = StorageAccounts(db, settings.storage.user_quota_bytes)
        self.circuits = Circuits(db, self.blobs, self.storage_accounts, settings.storage, announcer=self.bus)
        self.datasets = Datasets(db, self.blobs, self.storage_accounts, settings.storage, settings.datasets)
        self.spaces = Spaces(db, self.blobs, self.storage_accounts, settings.storage, settings.spaces,
                             self.require_sandbox)
        self.bundles = Bundles(db, self.blobs, self.circuits, self.datasets, self.spaces)
        self.run_events = RunEvents()
        from .backends.registry import registry

        if not jobs:
            self.runs = Runs(db, self.run_events, settings, registry)  # no scheduler: runs are only marked
            self.user_admin = self._build_user_admin()
            return
        from .jobs.queue import RunQueue
        from .jobs.scheduler import SlotBoard
        from .jobs.setup import build_compiler, build_executor, queue_health
        from .services.benchmarks.service import BenchmarkRunHooks, Benchmarks
        from .services.benchmarks.suites import load_suites
        from .services.git_repos import GitRepos
        from .services.hf_compat import HfCompat

        self.git_repos = GitRepos(self.circuits, settings.git, settings.storage, settings.data_dir / "git-cache")
        self.git_repos.discard_cut_off_pushes()
        self.hf = HfCompat(db, self.circuits, self.datasets, self.spaces)
        executor = build_executor(settings, self.sandbox, self.sandbox_error)
        compiler = build_compiler(settings, db, self.blobs, self.sandbox, self.sandbox_error)
        board = SlotBoard(executor)  # the scheduler the run service sees
        from .jobs.leases import Leases
        from .jobs.scaleout import NotifyingExtension, RunRelay
        from .services.ratelimit import PgRateLimiter

        if shared:  # the rate limits are kept in the database
            self.limiter = PgRateLimiter(settings.rate_limits, db)
        hooks = BenchmarkRunHooks(db, load_suites())
        extension = NotifyingExtension(hooks, self.bus) if shared else hooks
        self.runs = Runs(db, self.run_events, settings, registry, scheduler=board, extension=extension)
        self.user_admin = self._build_user_admin()
        leases = Leases(db, self.runs, board, settings.runs, owner, shared=shared)  # this process's
        self.run_queue = RunQueue(self.runs, board, compiler, executor, settings.runs, leases=leases)
        self.add_component(self.run_queue)
        self.add_component(leases)  # its heartbeat
        if shared:  # another process's run transitions: publish to subscribers here, stop what we lost
            self.bus.on("run", RunRelay(self.runs, board, owner).received)
        self.health_checks["queue"] = queue_health(settings.runs, self.runs, executor, self.run_events,
                                                   leases=leases if shared else None,
                                                   bus=self.bus if shared else None)
        self.benchmarks = Benchmarks(db, self.runs, self.circuits, self.accounts, hooks)

    def _build_user_admin(self) -> UserAdmin:
        return UserAdmin(self.db, self.accounts, self.blobs, self.runs,
                         {"circuits": self.circuits, "datasets": self.datasets, "spaces": self.spaces})

    async def _start_sandbox(self) -> None:
        """The sandbox for untrusted code. If the configured driver cannot isolate jobs,
        the hub still serves everything else and code execution answers 503 with the reason."""
        import asyncio

        from .sandbox.registry import get_sandbox

        settings = self.settings
        protected = [settings.data_dir, settings.secret_file]
        if settings.database_url.startswith("sqlite"):
            protected.append(settings.database_url.split("///", 1)[-1])
        if settings.config_file is not None:
            protected.append(settings.config_file)
        try:
            self.sandbox = await asyncio.to_thread(get_sandbox, settings.sandbox, protected_paths=protected)
        except SandboxUnavailable as exc:
            self.sandbox_error = str(exc)
            log.error("sandbox.unavailable", extra={"fields": {"reason": self.sandbox_error}})
            return
        self.add_component(self.sandbox)

        async def check() -> dict[str, Any]:
            return {"ok": True, "driver": settings.sandbox.driver, "isolated": self.sandbox.isolated}

        self.health_checks["sandbox"] = check

    def require_sandbox(self) -> Sandbox:
        """The working sandbox, or ServiceUnavailable explaining why untrusted code can't run."""
        if self.sandbox is None:
            from .errors import ServiceUnavailable

            raise ServiceUnavailable(f"code execution is unavailable: {self.sandbox_error or 'no sandbox configured'}")
        return self.sandbox

    def add_component(self, component: Component) -> None:
        """Something with its own lifecycle (job queue, sandbox pool), started after the database."""
        self._components.append(component)

    async def close(self) -> None:
        for component in reversed(self._components):
            try:
                await component.close()
            except Exception:
                log.exception("component.close_failed")
        if hasattr(self, "db"):
            await self.db.close()

    async def health(self) -> dict[str, Any]:
        db_state: dict[str, Any] = {"backend": "sqlite" if self.db.is_sqlite else "postgresql"}
        try:
            db_state["schema_version"] = await migrate.recorded_version(self.db)
            db_state["ok"] = True
        except Exception as exc:  # reported, not raised: health must answer
            db_state.update(ok=False, error=type(exc).__name__)
        components = {}
        for name, check in self.health_checks.items():
            try:
                components[name] = await check()
            except Exception as exc:
                components[name] = {"ok": False, "error": type(exc).__name__}
        queue = components.pop("queue", {"ok": True, "state": "not configured"})
        ok = db_state["ok"] and all(c.get("ok", True) for c in components.values()) and queue.get("ok", True)
        return {"status": "ok" if ok else "degraded", "version": self.version, "database": db_state,
                "queue": queue, "components": components}

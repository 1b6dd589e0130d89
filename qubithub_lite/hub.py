"""The service container: one per running app. Handlers reach services
through ``ctx.hub``; services never see HTTP objects."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Protocol

from . import __version__
from .config import Settings
from .db import migrate
from .db.core import Db, open_database
from .services.accounts import Accounts
from .services.api_keys import ApiKeys
from .services.orgs import Orgs
from .services.passwords import PasswordHasher
from .services.ratelimit import RateLimiter
from .services.secrets_file import load_or_create_secret
from .services.tokens import AccessTokens
from .sandbox.base import Sandbox, SandboxUnavailable

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
        tokens = AccessTokens(secret, settings.auth.access_token_ttl_seconds)
        self.accounts = Accounts(self.db, PasswordHasher(settings.auth.bcrypt_rounds), tokens, settings.auth)
        self.api_keys = ApiKeys(self.db)
        self.orgs = Orgs(self.db)
        await self._start_sandbox()
        from .services.circuits import attach_storage_and_circuits  # blobs, storage_accounts, circuits
        await attach_storage_and_circuits(self)
        from .services.git_repos import attach_git  # git_repos (needs circuits)

        await attach_git(self)
        from .services.datasets import attach_datasets  # datasets (needs blobs, storage_accounts)

        await attach_datasets(self)
        from .services.spaces import attach_spaces  # spaces (needs blobs, storage_accounts, the sandbox)

        attach_spaces(self)
        from .services.hf_compat import attach_hf  # hf (needs circuits, datasets, spaces)

        attach_hf(self)
        from .jobs.setup import attach_runs  # run service, compiler, executor, queue

        await attach_runs(self)
        from .jobs.scaleout import attach_scaleout  # leases, the event bus, shared limits (several processes)

        await attach_scaleout(self)
        from .services.benchmarks.service import attach_benchmarks  # benchmarks (needs runs, circuits)

        attach_benchmarks(self)
        if settings.examples.install_on_first_start:
            from .services.examples import install_on_first_start

            await install_on_first_start(self)
        for component in self._components:
            await component.start()

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

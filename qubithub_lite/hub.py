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
        self._components: list[Component] = []

    async def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = load_or_create_secret(settings.secret_file)
        self.db = open_database(
            settings.database_url,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
        )
        await migrate.upgrade(self.db)
        tokens = AccessTokens(secret, settings.auth.access_token_ttl_seconds)
        self.accounts = Accounts(self.db, PasswordHasher(settings.auth.bcrypt_rounds), tokens, settings.auth)
        self.api_keys = ApiKeys(self.db)
        self.orgs = Orgs(self.db)
        from .services.circuits import attach_storage_and_circuits  # blobs, storage_accounts, circuits
        await attach_storage_and_circuits(self)
        for component in self._components:
            await component.start()

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
            db_state["schema_version"] = await migrate.current_version(self.db)
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

"""The hub a CLI command opens (``users …``): the database, accounts and the resource
services, but never the run queue, the sandbox or simulator workers — a server may be
serving the same data dir right now, and a command must not claim or re-queue its runs.

A command that only reads (or changes existing accounts) never creates a data dir: when
there is none it stops with :class:`NoDataDir`, naming where it looked."""

from __future__ import annotations

import os
import secrets

from .config import Settings
from .db import migrate
from .db.core import open_database
from .hub import Hub
from .services.secrets_file import load_or_create_secret


class NoDataDir(Exception):
    """There is no data dir (or no database in it) where the settings point."""


def database_file(settings: Settings) -> str | None:
    """The SQLite file of these settings (None for another database)."""
    url = settings.database_url
    return url.split("///", 1)[-1] if url.startswith("sqlite") else None


def check_data_dir(settings: Settings) -> None:
    db_file = database_file(settings)
    where = settings.data_dir.resolve()
    if not settings.data_dir.is_dir():
        raise NoDataDir(f"no data dir at {where}: pass --data-dir (or --config, or set "
                        f"QUBITHUB_LITE_SERVER_DATA_DIR) as given to 'serve'")
    if db_file is not None and not os.path.isfile(db_file):
        raise NoDataDir(f"no database at {db_file}: is {where} the data dir 'serve' uses?")


class MaintenanceHub(Hub):
    def __init__(self, settings: Settings, *, create: bool = False):
        super().__init__(settings)
        self.create = create
        self.created_data_dir = False

    async def start(self) -> None:
        settings = self.settings
        if not self.create:
            check_data_dir(settings)
        elif not settings.data_dir.exists():
            settings.data_dir.mkdir(parents=True)
            self.created_data_dir = True
        if self.create or settings.secret_file.exists():
            secret = load_or_create_secret(settings.secret_file)
        else:
            secret = secrets.token_hex(64).encode()  # no token is issued from the CLI
        self.db = open_database(settings.database_url, pool_size=4, busy_timeout_ms=settings.database.busy_timeout_ms)
        await migrate.upgrade(self.db)
        self.sandbox_error = "not available from the command line"
        await self._wire(secret, jobs=False)  # the same wiring as a server's, without the runs engine

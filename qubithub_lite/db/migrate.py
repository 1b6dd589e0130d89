"""Versioned schema migrations.

Each module ``db/migrations/mNNNN_<name>.py`` defines ``VERSION`` (= NNNN) and
``upgrade(db)``, a synchronous function that receives the raw peewee database
and changes the schema, usually by declaring *frozen* model classes of its own
(never importing ``db.models``, which describes only the newest schema). Each
migration runs in its own transaction and is recorded in ``schema_migrations``.
An existing database is upgraded in place; nothing is dropped and recreated.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass
from types import ModuleType

from ..logs import fields
from . import migrations as migrations_pkg
from .core import Db
from .fields import utcnow

log = logging.getLogger(__name__)

_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at VARCHAR(40) NOT NULL)"
)


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: ModuleType


def discover() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(migrations_pkg.__path__):
        if not info.name.startswith("m") or "_" not in info.name:
            continue
        module = importlib.import_module(f"{migrations_pkg.__name__}.{info.name}")
        version = int(getattr(module, "VERSION"))
        found.append(Migration(version, info.name.split("_", 1)[1], module))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions: {versions}")
    return found


def head_version() -> int:
    found = discover()
    return found[-1].version if found else 0


async def current_version(db: Db) -> int:
    await db.execute_sql(_TABLE_SQL)
    return await recorded_version(db)


async def recorded_version(db: Db) -> int:
    """The schema version recorded in ``schema_migrations`` (a plain read, no DDL: for
    health checks once :func:`upgrade` has run)."""
    cursor = await db.execute_sql("SELECT MAX(version) FROM schema_migrations")
    row = cursor.fetchone()
    return int(row[0] or 0) if row else 0


#: pg_advisory_lock key held while migrating (any constant 64-bit number, the same in every process).
ADVISORY_LOCK_KEY = 0x5148_4C69_7465_0001


async def upgrade(db: Db, target: int | None = None) -> list[int]:
    """Apply every migration above the current version (up to ``target``).

    On PostgreSQL the whole upgrade holds a session-level advisory lock, so processes that
    start at once on one database migrate one after the other: the first applies the
    migrations, the others then find the schema current. (On SQLite each migration's
    ``BEGIN IMMEDIATE`` already serialises writers and the DDL is ``IF NOT EXISTS``-safe.)"""
    if db.is_sqlite:
        return await _upgrade(db, target)
    await db.execute_sql("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        return await _upgrade(db, target)
    finally:
        await db.execute_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


async def _upgrade(db: Db, target: int | None) -> list[int]:
    applied: list[int] = []
    current = await current_version(db)
    all_migrations = discover()
    head = all_migrations[-1].version if all_migrations else 0
    if current > head:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this QubitHub Lite ({head}); upgrade the software"
        )
    for migration in all_migrations:
        if migration.version <= current or (target is not None and migration.version > target):
            continue
        async with db.tx():
            await db.run(migration.module.upgrade, db.engine)
            await db.execute_sql(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
                if db.is_sqlite
                else "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, utcnow().isoformat()),
            )
        log.info("db.migrated", extra=fields(version=migration.version, name=migration.name))
        applied.append(migration.version)
    return applied

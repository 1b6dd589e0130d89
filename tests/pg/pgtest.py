"""The test suite on PostgreSQL: one fresh database per test data dir.

``QUBITHUB_LITE_TEST_DATABASE=postgresql://user:pass@host:port/db`` (an existing database to
connect to for ``CREATE DATABASE``; the role needs ``CREATEDB``). Unset: everything stays on
SQLite and nothing here connects anywhere.

Each database is a copy (``CREATE DATABASE … TEMPLATE``) of a template this process migrated
once, with the app's own ``migrate.upgrade`` in a child process (so no model binding of this
process changes): a test does not pay for every migration. ``database_for(…, empty=True)``
gives an empty database instead, for tests of migrating itself. The template is per process
(xdist workers each have their own; a template must have no other users while it is copied).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
from urllib.parse import urlparse

TEST_DATABASE: str | None = os.environ.get("QUBITHUB_LITE_TEST_DATABASE") or None
if TEST_DATABASE is not None and urlparse(TEST_DATABASE).scheme not in ("postgres", "postgresql"):
    raise RuntimeError("QUBITHUB_LITE_TEST_DATABASE must be a postgresql:// URL")

_lock = threading.Lock()
_created: list[str] = []
_known: set[str] = set()
#: the migrated template of this process (created on first use, dropped by drop_template)
_template: str | None = None


def _in_thread(coro_fn, *args):
    """Run an asyncpg coroutine from sync code that may itself be inside an event loop."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro_fn(*args))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


async def run_statements(url: str, sql_statements: list[str]) -> None:
    """Run each statement on one connection to ``url``, outside a transaction (``CREATE
    DATABASE`` may not run inside one). Also used by ``bench/bench_scaleout.py``."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for sql in sql_statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def _admin(sql_statements: list[str]) -> None:
    await run_statements(TEST_DATABASE, sql_statements)


def url_of(name: str) -> str:
    return urlparse(TEST_DATABASE)._replace(path="/" + name).geturl()


_MIGRATE = (
    "import asyncio, sys\n"
    "from qubithub_lite.db import migrate\n"
    "from qubithub_lite.db.core import open_database\n"
    "async def main():\n"
    "    db = open_database(sys.argv[1])\n"
    "    try:\n"
    "        await migrate.upgrade(db)\n"
    "    finally:\n"
    "        await db.close()\n"
    "asyncio.run(main())\n"
)


def _migrated_template() -> str:
    """The name of this process's migrated template database (call with ``_lock`` held)."""
    global _template
    if _template is None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"qh_template_{worker}_{os.getpid()}"
        _in_thread(_admin, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'])
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
        done = subprocess.run([sys.executable, "-c", _MIGRATE, url_of(name)], env=env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"migrating the test template database failed:\n{done.stdout}{done.stderr}")
        _template = name
    return _template


def database_for(data_dir, *, empty: bool = False) -> str:
    """The URL of the database that belongs to ``data_dir`` (created on first use): a copy of
    the migrated template, or with ``empty`` an empty database (schema created by whoever
    migrates it first). A data dir keeps the database it first got."""
    name = "qh_" + hashlib.sha256(os.path.abspath(os.fspath(data_dir)).encode()).hexdigest()[:24]
    with _lock:
        if name not in _known:
            create = f'CREATE DATABASE "{name}"' if empty else f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template()}"'
            _in_thread(_admin, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', create])
            _known.add(name)
            _created.append(name)
    return url_of(name)


def drop_template() -> None:
    """Drop this process's template database (at the end of the session)."""
    global _template
    with _lock:
        name, _template = _template, None
    if name is not None:
        _in_thread(_admin, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


def created_mark() -> int:
    return len(_created)


def drop_created_since(mark: int) -> None:
    with _lock:
        names = _created[mark:]
        del _created[mark:]
        _known.difference_update(names)
    if names:
        _in_thread(_admin, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names])


def cli_env(data_dir) -> dict[str, str]:
    """Environment for a CLI command or process on ``data_dir``: its database URL on PostgreSQL."""
    return {"QUBITHUB_LITE_DATABASE_URL": database_for(data_dir)} if TEST_DATABASE is not None else {}


async def _fetch(url: str, sql: str, params) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *params)]
    finally:
        await conn.close()


def rows(data_dir, sql: str, params=()) -> list[tuple]:
    """A read straight from the database of ``data_dir`` (``?`` placeholders), outside the app:
    the SQLite file ``<data_dir>/qubithub.db``, or that data dir's PostgreSQL database."""
    if TEST_DATABASE is None:
        import sqlite3

        with sqlite3.connect(os.path.join(os.fspath(data_dir), "qubithub.db")) as conn:
            return conn.execute(sql, tuple(params)).fetchall()
    counter = iter(range(1, 1000))
    pg_sql = "".join(f"${next(counter)}" if ch == "?" else ch for ch in sql)
    return _in_thread(_fetch, database_for(data_dir), pg_sql, tuple(params))

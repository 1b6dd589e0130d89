"""A consistent copy of a live SQLite database, for backups.

SQLite's online backup API copies the database page by page through its own
locking, so the server may go on reading and writing while it runs. It is done
in one step (``pages=-1``): in WAL mode that step holds only a read snapshot,
which never blocks the server's writers, and a one-step copy cannot be
restarted over and over by a busy writer the way a paged copy can.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlparse


class SnapshotError(Exception):
    pass


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///…`` URL; None for another database."""
    parsed = urlparse(database_url)
    if parsed.scheme != "sqlite":
        return None
    return Path(parsed.path if database_url.startswith("sqlite:////") else database_url[len("sqlite:///"):])


def snapshot(source: Path, dest: Path) -> None:
    """Copy the database ``source`` (live, WAL) into a new file ``dest`` (rollback journal,
    so the copy is one self-contained file) and check its integrity."""
    if not source.is_file():
        raise SnapshotError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)  # only read; a read-only URI cannot open a WAL file whose -shm is missing
    try:
        out = _scratch(dest)
        try:
            src.backup(out, pages=-1)
            out.execute("PRAGMA journal_mode=DELETE")
            (verdict,) = out.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise SnapshotError(f"the database copy failed its integrity check: {verdict}")
        finally:
            out.close()
    finally:
        src.close()


def _scratch(path: Path) -> sqlite3.Connection:
    """A connection to a copy that is only read back into an archive (which is synced when
    written): its own writes need no sync to disk, which on a busy disk costs more than the copy."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    return conn


def schema_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)
    except sqlite3.DatabaseError:
        return 0
    finally:
        conn.close()


def blob_rows(path: Path) -> list[tuple[str, int, int]]:
    """``(sha256, size, ref_count)`` of every blob the database knows."""
    conn = sqlite3.connect(path)
    try:
        return [(str(s), int(n), int(r)) for s, n, r in conn.execute("SELECT sha256, size, ref_count FROM blob ORDER BY sha256")]
    finally:
        conn.close()


def drop_blob_rows(path: Path, shas: list[str]) -> None:
    """Forget unreferenced blobs whose files are already gone (garbage a copy need not keep)."""
    if not shas:
        return
    conn = _scratch(path)
    try:
        with conn:
            conn.executemany("DELETE FROM blob WHERE sha256 = ? AND ref_count <= 0", [(s,) for s in shas])
    finally:
        conn.close()


def table_counts(path: Path) -> dict[str, int]:
    """Rows per table (recorded in a backup's manifest, shown by restore)."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )]
        return {name: int(conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]) for name in names}
    finally:
        conn.close()

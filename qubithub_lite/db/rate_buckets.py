"""The PostgreSQL rate-limit buckets (``services.ratelimit.PgRateLimiter``): GCRA, one row per
bucket in the ``UNLOGGED`` table of m0016, moved by one atomic upsert on the database's clock.

Per bucket, ``tat`` (epoch seconds): when the bucket would be full again. A request with
interval ``T`` passes when ``max(tat, now) + T - now <= 60`` and moves ``tat`` to
``max(tat, now) + T``; the upsert's ``WHERE`` refuses without writing."""

from __future__ import annotations

TABLE = "rate_limit_bucket"
_NOW = "extract(epoch from clock_timestamp())"
_T = f'"{TABLE}"'
_TAKE = (
    f'INSERT INTO {_T} AS b ("bucket", "tat") VALUES (%s, {_NOW} + %s) '
    f'ON CONFLICT ("bucket") DO UPDATE SET "tat" = GREATEST(b."tat", {_NOW}) + %s '
    f'WHERE GREATEST(b."tat", {_NOW}) + %s - {_NOW} <= 60.0 RETURNING "tat"'
)
_AHEAD = f'SELECT "tat" - {_NOW} FROM {_T} WHERE "bucket" = %s'
_PRUNE = f'DELETE FROM {_T} WHERE "tat" < {_NOW}'


async def take(db, bucket: str, interval: float) -> bool:
    """One token of ``bucket`` (``interval`` = 60 / per-minute): True if it was there."""
    cursor = await db.execute_sql(_TAKE, [bucket, interval, interval, interval])
    return cursor.fetchone() is not None


async def seconds_ahead(db, bucket: str) -> float | None:
    """How far ``bucket``'s theoretical arrival time is ahead of now (None: no row)."""
    row = (await db.execute_sql(_AHEAD, [bucket])).fetchone()
    return float(row[0]) if row else None


async def prune(db) -> None:
    """Forget the full buckets (their ``tat`` passed)."""
    await db.execute_sql(_PRUNE)

"""Space execution slots held in PostgreSQL (``services.spaces.SharedExecutionSlots``): the
per-user cap on execute/visualize calls running at once holds across every API process.

One row per running call in the ``UNLOGGED`` table of m0021 (a crash empties it, which only
forgets calls that died with the server): ``id`` (random), ``user_id``, ``expires_at`` (epoch
seconds on the database's clock). The holder renews ``expires_at`` while the call runs; a row
whose holder died (a process killed with -9) stops being renewed and no longer counts once it
expired. Taking a slot is one guarded insert, serialised per user by a transaction-scoped
advisory lock (``Db.write(serialize_on=…)``): read committed alone would let two processes
both count ``limit - 1`` and both insert."""

from __future__ import annotations

TABLE = "space_execution_slot"
_NOW = "extract(epoch from clock_timestamp())"
_T = f'"{TABLE}"'
_TAKE = (
    f'INSERT INTO {_T} ("id", "user_id", "expires_at") SELECT %s, %s, {_NOW} + %s '
    f'WHERE (SELECT COUNT(*) FROM {_T} WHERE "user_id" = %s AND "expires_at" > {_NOW}) < %s'
)
_PRUNE_USER = f'DELETE FROM {_T} WHERE "user_id" = %s AND "expires_at" <= {_NOW}'
_RENEW = f'UPDATE {_T} SET "expires_at" = {_NOW} + %s WHERE "id" = %s'
_RELEASE = f'DELETE FROM {_T} WHERE "id" = %s'
_HELD = f'SELECT COUNT(*) FROM {_T} WHERE "user_id" = %s AND "expires_at" > {_NOW}'


async def take(db, slot_id: str, user_id: str, limit: int, ttl: float) -> bool:
    """Insert slot ``slot_id`` for ``user_id`` if fewer than ``limit`` live ones exist: True if taken."""
    done = await db.write([(_TAKE, [slot_id, user_id, ttl, user_id, limit]), (_PRUNE_USER, [user_id])],
                          guard=True, serialize_on=f"space-slots:{user_id}")
    return done is not None


async def renew(db, slot_id: str, ttl: float) -> None:
    await db.execute_sql(_RENEW, [ttl, slot_id])


async def release(db, slot_id: str) -> None:
    await db.execute_sql(_RELEASE, [slot_id])


async def held(db, user_id: str) -> int:
    """How many live slots ``user_id`` holds (all processes)."""
    return int((await db.execute_sql(_HELD, [user_id])).fetchone()[0])

"""Stars and fork bookkeeping shared by circuits, datasets and spaces.

A resource model needs an ``id`` and the counter columns it uses
(``stars_count``, ``forks_count``). Stars live in the generic ``star`` table
keyed by ``(target_type, target_id, user)``; the counter moves by atomic
increments in the same write transaction as the star row, so concurrent toggles
always leave an exact count (on PostgreSQL too).
"""

from __future__ import annotations

from typing import Iterable

from ..db.circuits import Star
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.resources import bump_counter  # noqa: F401  (callers name it social.bump_counter)


async def toggle_star(db: Db, model, target_type: str, target_id: str, user_id: str) -> tuple[bool, int]:
    """Star or unstar; returns ``(starred, stars_count)``. Check visibility first.

    The counter moves by an atomic increment of exactly the star rows this transaction
    deleted or inserted (``INSERT … ON CONFLICT DO NOTHING``: a concurrent toggle by the
    same user cannot raise, and aborts nothing on PostgreSQL). Recomputing ``COUNT(*)`` and
    writing it back loses updates under PostgreSQL's read committed isolation."""
    async with db.tx():
        where = (Star.target_type == target_type) & (Star.target_id == target_id) & (Star.user == user_id)
        deleted = await db.execute(Star.delete().where(where))
        starred = not deleted
        delta = -deleted
        if starred:
            delta = await db.execute(Star.insert(id=new_id(), target_type=target_type, target_id=target_id,
                                                 user=user_id, created_at=utcnow()).on_conflict_ignore().as_rowcount())
        if delta:
            await db.execute(model.update(stars_count=model.stars_count + delta).where(model.id == target_id))
        count = await db.scalar(model.select(model.stars_count).where(model.id == target_id))
    return starred, int(count or 0)


async def starred_ids(db: Db, target_type: str, target_ids: Iterable[str], user_id: str | None) -> set[str]:
    """Which of ``target_ids`` the user has starred (empty for anonymous callers)."""
    ids = list(target_ids)
    if user_id is None or not ids:
        return set()
    rows = await db.list(
        Star.select(Star.target_id).where(
            (Star.target_type == target_type) & (Star.user == user_id) & (Star.target_id.in_(ids))
        )
    )
    return {r.target_id for r in rows}


async def is_starred(db: Db, target_type: str, target_id: str, user_id: str | None) -> bool | None:
    """``None`` for anonymous callers (the API renders null)."""
    if user_id is None:
        return None
    return bool(await starred_ids(db, target_type, [target_id], user_id))


async def delete_stars(db: Db, target_type: str, target_id: str) -> None:
    """Call inside the transaction that deletes the resource."""
    await db.execute(Star.delete().where((Star.target_type == target_type) & (Star.target_id == target_id)))

"""Stars and fork bookkeeping shared by circuits, datasets and spaces.

A resource model needs an ``id`` and the counter columns it uses
(``stars_count``, ``forks_count``). Stars live in the generic ``star`` table
keyed by ``(target_type, target_id, user)``; the counter is recomputed from
that table inside the same write transaction, so concurrent toggles always
leave an exact count.
"""

from __future__ import annotations

from typing import Iterable

from peewee import Case, IntegrityError

from ..db.circuits import Star
from ..db.core import Db
from ..db.fields import new_id, utcnow


async def toggle_star(db: Db, model, target_type: str, target_id: str, user_id: str) -> tuple[bool, int]:
    """Star or unstar; returns ``(starred, stars_count)``. Check visibility first."""
    async with db.tx():
        where = (Star.target_type == target_type) & (Star.target_id == target_id) & (Star.user == user_id)
        deleted = await db.execute(Star.delete().where(where))
        starred = not deleted
        if starred:
            try:
                await db.execute(Star.insert(id=new_id(), target_type=target_type, target_id=target_id,
                                             user=user_id, created_at=utcnow()))
            except IntegrityError:  # a concurrent toggle by the same user inserted it
                starred = True
        count = await db.count(Star.select().where((Star.target_type == target_type) & (Star.target_id == target_id)))
        await db.execute(model.update(stars_count=count).where(model.id == target_id))
    return starred, count


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


async def bump_counter(db: Db, model, target_id: str, column: str, delta: int) -> None:
    """``column = max(0, column + delta)`` in one statement (forks_count, views_count, runs_count…)."""
    field = getattr(model, column)
    value = field + delta if delta >= 0 else Case(None, [((field + delta) < 0, 0)], field + delta)
    await db.execute(model.update({field: value}).where(model.id == target_id))

"""Query functions shared by the owned resources (circuits, datasets, spaces).

Each resource table has ``owner`` and ``organization`` foreign keys, a ``namespace_id`` the
name is unique in, and (circuits, datasets) a full-text index: ``<table>_fts`` on SQLite
(FTS5, column ``<table>_id``), the generated ``search_vector`` of m0015 on PostgreSQL.
The services build no SQL of their own: they call these.
"""

from __future__ import annotations

import re
from typing import Any

from peewee import JOIN, SQL, Case, fn

from .core import Db
from .models import Membership, Organization, User


_member_org_ids_sql: dict[str, str] = {}


async def member_org_ids(db: Db, user_id: str) -> list[str]:
    """The organizations ``user_id`` is a member of, by id: every signed-in list asks, so the
    statement is compiled once per parameter style and read as plain rows (no query builder,
    no model objects: a trip through those costs ~50× the statement)."""
    p = db.engine.param
    sql = _member_org_ids_sql.get(p)
    if sql is None:
        table = Membership._meta.table_name
        sql = _member_org_ids_sql[p] = (
            f'SELECT "organization_id" FROM "{table}" WHERE "user_id" = {p} ORDER BY "organization_id"')
    return [row[0] for row in (await db.execute_sql(sql, (user_id,))).fetchall()]


def owned_select(model: Any, *columns: Any):
    """``model`` rows (or ``columns``) joined with their owner and organization (LEFT)."""
    return (
        model.select(*(columns or (model,)), User.id, User.username, User.name, User.avatar,
                     Organization.id, Organization.name, Organization.slug)
        .join(User, on=(model.owner == User.id))
        .switch(model)
        .join(Organization, JOIN.LEFT_OUTER, on=(model.organization == Organization.id))
    )


def join_namespace(query: Any, model: Any):
    """``query`` over ``model`` joined with the owner and organization (for an owner filter)."""
    return query.join(User, on=(model.owner == User.id)).switch(model).join(
        Organization, JOIN.LEFT_OUTER, on=(model.organization == Organization.id))


def owner_is(name: str):
    """Rows whose owner's username or organization's slug is ``name`` (needs the joins)."""
    return (User.username == name.lower()) | (Organization.slug == name.lower())


async def name_taken(db: Db, model: Any, namespace_id: str, name: str) -> bool:
    return await db.exists(model.select().where((model.namespace_id == namespace_id) & (model.name == name)))


def search_words(text: str) -> list[str]:
    """The (at most 10) words of a search box."""
    return re.findall(r"\w+", text.lower())[:10]


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: every word, each a prefix term."""
    return " ".join(f'"{t}"*' for t in search_words(text)) or None


def text_filter(db: Db, model: Any, text: str):
    """Rows of ``model`` matching a full-text search of ``text`` (none for a box without words)."""
    table = model._meta.table_name
    if db.is_sqlite:
        match = fts_query(text)
        if match is None:
            return SQL("1 = 0")
        return model.id.in_(SQL(f"(SELECT {table}_id FROM {table}_fts WHERE {table}_fts MATCH ?)", (match,)))
    # PostgreSQL: the generated tsvector of m0015 (GIN index), each word a prefix term.
    terms = [f"{t}:*" for t in search_words(text)]
    if not terms:
        return SQL("1 = 0")
    return model.id.in_(SQL(
        f"""(SELECT "id" FROM "{table}" WHERE "search_vector" @@ to_tsquery('simple', %s))""", (" & ".join(terms),)))


def ordering(model: Any, column: str, descending: bool) -> tuple:
    """ORDER BY ``column`` (then the id, so pages are stable)."""
    field = getattr(model, column)
    return (field.desc(), model.id.desc()) if descending else (field.asc(), model.id.asc())


async def blob_ref_counts(db: Db, file_model: Any, where: Any, *, via: Any = None) -> dict[str, int]:
    """sha256 -> how many ``file_model`` rows matching ``where`` (joined through ``via``) hold it."""
    query = file_model.select(file_model.sha256, fn.COUNT(file_model.id).alias("n"))
    if via is not None:
        query = query.join(via)
    rows = await db.list(query.where(where).group_by(file_model.sha256))
    return {r.sha256: r.n for r in rows}


async def bump_counter(db: Db, model, target_id: str, column: str, delta: int) -> None:
    """``column = max(0, column + delta)`` in one statement (forks_count, views_count, runs_count…)."""
    field = getattr(model, column)
    value = field + delta if delta >= 0 else Case(None, [((field + delta) < 0, 0)], field + delta)
    await db.execute(model.update({field: value}).where(model.id == target_id))

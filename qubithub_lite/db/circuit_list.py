"""The circuit list statements (``GET /circuits``, ``GET /orgs/{slug}/circuits``), built by
peewee (so they stay portable) and compiled once per shape; the service
(:mod:`qubithub_lite.services.circuit_list`) caches them and reads their rows as plain tuples.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from peewee import SQL, CharField, DateTimeField, ForeignKeyField, IntegerField, Select, TextField, fn

from .circuits import Circuit, CircuitTag
from .core import Db
from .models import Organization, User
from .resources import join_namespace, owned_select, owner_is, text_filter

#: Columns of a list row: the card's circuit columns, the owner's, the organization's.
LIST_COLUMNS = tuple(
    [getattr(Circuit, n) for n in Circuit._meta.sorted_field_names if n not in ("manifest", "extra_metadata", "gates")]
    + [User.id, User.username, User.name, User.avatar, Organization.id, Organization.name, Organization.slug]
)
#: Keys of a list row, and which columns need converting (JSON, booleans, timestamps);
#: text and integer columns arrive as they are.
LIST_NAMES = tuple(
    [f.name for f in LIST_COLUMNS[:-7]] + ["user.id", "user.username", "user.name", "user.avatar",
                                           "org.id", "org.name", "org.slug"]
)
LIST_CONVERTED = tuple(
    i for i, f in enumerate(LIST_COLUMNS)
    if not (isinstance(f, (CharField, IntegerField, ForeignKeyField)) or type(f) is TextField)
)


@dataclass
class CompiledList:
    key: tuple  # everything the page depends on
    total_key: tuple
    sql: str  # the page plus the total (last column)
    params: tuple
    page_sql: str  # the page alone
    page_params: tuple
    convert: tuple
    total_at: int


def fast_converter(field):
    """``field.python_value``, with a quicker path for the common cases of a list row."""
    if isinstance(field, DateTimeField):
        slow = field.python_value

        def to_datetime(value):
            if isinstance(value, dt.datetime):
                return value
            try:
                return dt.datetime.fromisoformat(value)  # what peewee stores on SQLite
            except (TypeError, ValueError):
                return slow(value)

        return to_datetime
    return field.python_value


def converters() -> tuple:
    return tuple(fast_converter(f) for f in LIST_COLUMNS)


def list_queries(db: Db, where: Any, branches: list, order: tuple, q: Any):
    """The page query (the :data:`LIST_COLUMNS`) and the matching ``COUNT(*)`` query.

    ``where`` is the caller's visibility, ``branches`` its parts (see
    :meth:`..services.permissions.Visibility.branches`). A caller who sees more than public
    rows (signed in) gets the page as a UNION of index scans, one per branch: each takes its
    first ``offset + limit`` ids in sort order, and only those are merged and joined (an OR
    of the branches would sort every visible row). Full-text searches keep the single
    statement."""
    filters = None
    conds = []
    if q.framework:
        conds.append(Circuit.framework == q.framework)
    for tag in q.tags:
        conds.append(Circuit.id.in_(CircuitTag.select(CircuitTag.circuit).where(CircuitTag.tag == tag)))
    if q.qubits_min is not None:
        conds.append(Circuit.qubits >= q.qubits_min)
    if q.qubits_max is not None:
        conds.append(Circuit.qubits <= q.qubits_max)
    if q.owner:
        conds.append(owner_is(q.owner))
    if q.q and q.q.strip():
        conds.append(text_filter(db, Circuit, q.q))
    for cond in conds:
        where &= cond
        filters = cond if filters is None else filters & cond

    count_query = Circuit.select(fn.COUNT(SQL("*")))  # COUNT(*): covered by the (is_public, …) indexes
    if q.owner:
        count_query = join_namespace(count_query, Circuit)
    # A full-text filter collects every match first (FTS5 has no index on circuit ids): once
    # in a single statement, where each branch of a UNION would collect them again.
    if len(branches) == 1 or (q.q and q.q.strip()):
        page = owned_select(Circuit, *LIST_COLUMNS[:-7]).where(where).order_by(*order).offset(q.offset).limit(q.limit)
        return page, count_query.where(where)
    union = None
    for i, branch in enumerate(branches):
        ids = Circuit.select(Circuit.id)
        if q.owner:
            ids = join_namespace(ids, Circuit)
        ids = ids.where(branch if filters is None else branch & filters).order_by(*order).limit(q.offset + q.limit)
        part = Select([ids.alias(f"b{i}")], [SQL('"id"')])
        union = part if union is None else union + part
    picked = union.alias("picked")
    page = join_namespace(
        Circuit.select(*LIST_COLUMNS).from_(picked).join(Circuit, on=(Circuit.id == picked.c.id)), Circuit
    ).order_by(*order).offset(q.offset).limit(q.limit)
    return page, count_query.where(where)


def compile_list(db: Db, key: tuple, total_key: tuple, page: Any, count_query: Any) -> CompiledList:
    """The page's SQL alone and with the total as its last column."""
    page.bind(db.engine)
    page_sql, page_params = page.sql()
    sql, params = page.select_extend(count_query.alias("total")).sql()
    convert = converters()
    return CompiledList(key, total_key, sql, tuple(params), page_sql, tuple(page_params), convert, len(convert))


async def rows(db: Db, sql: str, params: tuple) -> list[tuple]:
    return (await db.execute_sql(sql, params)).fetchall()


async def query_rows(db: Db, query: Any) -> list[tuple]:
    """A built query's rows as plain tuples (no model objects)."""
    query.bind(db.engine)
    return await rows(db, *query.sql())

"""The circuit list statements (``GET /circuits``, ``GET /orgs/{slug}/circuits``), built by
peewee (so they stay portable) and compiled once per shape; the service
(:mod:`qubithub_lite.services.circuit_list`) caches them and reads their rows as plain tuples.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from peewee import JOIN, SQL, CharField, DateTimeField, ForeignKeyField, IntegerField, Select, TextField, fn

from .circuits import Circuit, CircuitTag, Star
from .core import Db
from .models import Organization, User
from .resources import fts_query, join_namespace, owned_select, owner_is, search_words, text_filter

#: A SQLite full-text search matching at most this many circuits is driven by the FTS index
#: (it reads only the matches); a broader one walks the list's sort indexes and tests each
#: circuit against the matches (it stops after one page; see :func:`search_plan`).
NARROW_SEARCH_MATCHES = 5000

#: Search words of at most this many characters have an FTS5 prefix index (m0019): testing
#: one circuit against such a prefix term is an index seek, whatever the number of circuits.
#: A longer word is answered by merging its terms' doclists, so a broad search with one reads
#: its matches once per statement instead of once per circuit tested.
PREFIX_INDEXED = 12

#: Columns of a list row: the card's circuit columns, the owner's, the organization's.
LIST_COLUMNS = tuple(
    [getattr(Circuit, n) for n in Circuit._meta.sorted_field_names if n not in ("manifest", "extra_metadata", "gates", "search_rowid")]
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
    total_sql: str = ""  # the total alone
    total_params: tuple = ()
    separate_total: bool = False  # never in the page's statement (a broad SQLite search)


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


#: The plans of a SQLite full-text search (see :func:`search_plan`).
NARROW, DENSE, SPARSE = "narrow", "dense", "sparse"
#: A broad search is *dense* when more than this share of all circuits match it (see :func:`search_plan`).
DENSE_SEARCH_SHARE = 0.1
#: How long a search's plan is reused (see :func:`search_plan`).
PLAN_SECONDS = 5.0
_PLANS_MAX = 512
#: (database, match, narrow limit, dense share) → (expiry, plan).
_plans: dict[tuple, tuple[float, str]] = {}

_PLAN_SQL = (
    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM circuit_fts WHERE circuit_fts MATCH ? "
    "LIMIT max(?, CAST((SELECT coalesce(MAX(search_rowid), 0) FROM circuit) * ? AS INTEGER)) + 1)), "
    "(SELECT coalesce(MAX(search_rowid), 0) FROM circuit)"
)


async def search_plan(db: Db, q: Any, narrow_limit: int = NARROW_SEARCH_MATCHES,
                      dense_share: float = DENSE_SEARCH_SHARE) -> str | None:
    """How :func:`list_queries` answers a SQLite full-text search (None: not one).

    - :data:`NARROW`: at most ``narrow_limit`` circuits match; the page is read from the
      matches (counting at most that many FTS rows costs about as much as reading them).
    - :data:`DENSE`: more than ``dense_share`` of all circuits match (and more than
      ``narrow_limit``); the page walks the sort indexes and tests each circuit with a seek
      in its own FTS row (:data:`PREFIX_INDEXED`): about one test per circuit shown.
    - :data:`SPARSE`: in between; the walks test circuits against the matches' rowids, read
      once per statement (a walk may pass many circuits before it finds a match: ~1 µs
      each instead of a seek's ~15 µs).

    The circuits are counted as the highest ``search_rowid`` (an index's last entry; deleted
    circuits only make a search look sparser). A plan changes no page and no total, so it is
    reused for :data:`PLAN_SECONDS`: a search repeated by a class counts its matches once,
    not on every request."""
    if not (q.q and q.q.strip()) or not db.is_sqlite:
        return None
    match = fts_query(q.q)
    if match is None:
        return NARROW
    key, now = (id(db), match, narrow_limit, dense_share), time.monotonic()
    known = _plans.get(key)
    if known is not None and known[0] > now:
        return known[1]
    matches, circuits = (await db.execute_sql(_PLAN_SQL, (match, narrow_limit, dense_share))).fetchone()
    if matches <= narrow_limit:
        plan = NARROW
    elif matches > max(narrow_limit, int(circuits * dense_share)):
        plan = DENSE
    else:
        plan = SPARSE
    if len(_plans) >= _PLANS_MAX:
        _plans.clear()
    _plans[key] = (now + PLAN_SECONDS, plan)
    return plan


def _matched_rowids(match: str, words: list[str], seek: bool):
    """Circuits whose FTS row matches, for a walk that tests circuits one by one: with
    ``seek`` (a dense search), each circuit's own FTS row probed by rowid (``search_rowid``,
    m0017) when every word has a prefix index (:data:`PREFIX_INDEXED`); otherwise the
    matches' rowids, read once per statement, against the indexed ``search_rowid``."""
    if seek and all(len(w) <= PREFIX_INDEXED for w in words):
        own_row = (SQL("circuit_fts MATCH ?", (match,))) & (SQL('"circuit_fts"."rowid"') == Circuit.search_rowid)
        return fn.EXISTS(Select([SQL('"circuit_fts"')], [SQL("1")]).where(own_row))
    return Circuit.search_rowid.in_(SQL("(SELECT rowid FROM circuit_fts WHERE circuit_fts MATCH ?)", (match,)))


def list_queries(db: Db, where: Any, branches: list, order: tuple, q: Any, plan: str | None = None):
    """The page query (the :data:`LIST_COLUMNS`) and the matching ``COUNT(*)`` query.

    ``where`` is the caller's visibility, ``branches`` its parts (see
    :meth:`..services.permissions.Visibility.branches`). A caller who sees more than public
    rows (signed in) gets the page as a UNION of index scans, one per branch, and only the
    first ``offset + limit`` ids in sort order are joined (an OR of the branches would sort
    every visible row). On SQLite the UNION has one ORDER BY and LIMIT: the branches are
    merged lazily (each reads only as far as the merged page needs); on PostgreSQL each
    branch takes its first ``offset + limit`` ids, then they are merged.

    On SQLite a full-text search is counted from its FTS matches, each reaching its circuit
    through ``search_rowid``; its page is the same UNION of branch walks, each testing its
    circuits against the matches (a broad search: the walks stop after one page; how they
    test: see :func:`search_plan`), or, for a :data:`NARROW` one (few matches), read from
    the matches too. Tags are then tested per circuit (an index probe) instead of collected. PostgreSQL
    searches keep the single statement (the tsvector filter of m0015)."""
    filters = None
    conds = []
    searching = bool(q.q and q.q.strip())
    match = fts_query(q.q) if searching and db.is_sqlite else None
    if q.framework:
        conds.append(Circuit.framework == q.framework)
    for tag in q.tags:
        if match is not None:
            conds.append(fn.EXISTS(CircuitTag.select(SQL("1")).where(
                (CircuitTag.circuit == Circuit.id) & (CircuitTag.tag == tag))))
        else:
            conds.append(Circuit.id.in_(CircuitTag.select(CircuitTag.circuit).where(CircuitTag.tag == tag)))
    if q.qubits_min is not None:
        conds.append(Circuit.qubits >= q.qubits_min)
    if q.qubits_max is not None:
        conds.append(Circuit.qubits <= q.qubits_max)
    if q.owner:
        conds.append(owner_is(q.owner))
    if searching and match is None:
        conds.append(text_filter(db, Circuit, q.q))
    for cond in conds:
        where &= cond
        filters = cond if filters is None else filters & cond

    count_query = Circuit.select(fn.COUNT(SQL("*")))  # COUNT(*): covered by the (is_public, …) indexes
    if match is not None:
        matches = SQL('(SELECT rowid AS "r" FROM circuit_fts WHERE circuit_fts MATCH ?) AS "m"', (match,))
        on = Circuit.search_rowid == SQL('"m"."r"')
        # CROSS JOIN: SQLite keeps the left side (the matches) as the outer loop.
        count_query = count_query.from_(matches).join(Circuit, JOIN.CROSS)
        if q.owner:
            count_query = join_namespace(count_query, Circuit)
        count_query = count_query.where(on & where)
        if plan == NARROW:
            page = join_namespace(Circuit.select(*LIST_COLUMNS).from_(matches).join(Circuit, JOIN.CROSS), Circuit)
            return page.where(on & where).order_by(*order).offset(q.offset).limit(q.limit), count_query
        text = _matched_rowids(match, search_words(q.q), seek=plan == DENSE)
        where &= text
        filters = text if filters is None else filters & text
    else:
        if q.owner:
            count_query = join_namespace(count_query, Circuit)
        count_query = count_query.where(where)
    # PostgreSQL: a full-text filter in a single statement (each branch of a UNION would
    # evaluate the tsvector match again).
    if len(branches) == 1 or (searching and match is None):
        page = owned_select(Circuit, *LIST_COLUMNS[:-7]).where(where).order_by(*order).offset(q.offset).limit(q.limit)
        return page, count_query
    union = None
    if db.is_sqlite:
        # One ORDER BY over the whole UNION ALL: SQLite merges the branches as co-routines,
        # each walking its index in sort order, and pulls rows only until the page is full
        # (a branch-local LIMIT would make each branch read and test a whole page first).
        keys = [SQL(f'"k{k}"') for k in range(len(order))]
        for branch in branches:
            part = Circuit.select(*(o.node.alias(f"k{k}") for k, o in enumerate(order)), Circuit.id.alias("cid"))
            if q.owner:
                part = join_namespace(part, Circuit)
            part = part.where(branch if filters is None else branch & filters)
            union = part if union is None else union + part
        union = union.order_by(*(key.desc() if o.direction == "DESC" else key.asc() for key, o in zip(keys, order)))
        union = union.limit(q.offset + q.limit)
        picked = union.alias("picked")
        page = join_namespace(
            Circuit.select(*LIST_COLUMNS).from_(picked).join(Circuit, on=(Circuit.id == picked.c.cid)),
            Circuit,
        ).order_by(*order).offset(q.offset).limit(q.limit)
        return page, count_query
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
    return page, count_query


def compile_list(db: Db, key: tuple, total_key: tuple, page: Any, count_query: Any, *,
                 starred_by: str | None = None, separate_total: bool = False) -> CompiledList:
    """The page's SQL alone and with the total as its last column, and the total alone.
    ``starred_by``: the page also says, per circuit, whether that user starred it (an EXISTS
    on the star index, the column before the total)."""
    extra = 0
    if starred_by is not None:
        page = page.select_extend(fn.EXISTS(Star.select(SQL("1")).where(
            (Star.target_type == "circuit") & (Star.target_id == Circuit.id) & (Star.user == starred_by))))
        extra = 1
    page.bind(db.engine)
    count_query.bind(db.engine)
    page_sql, page_params = page.sql()
    total_sql, total_params = count_query.sql()
    sql, params = page.select_extend(count_query.alias("total")).sql()
    convert = converters()
    return CompiledList(key, total_key, sql, tuple(params), page_sql, tuple(page_params), convert, len(convert) + extra,
                        total_sql, tuple(total_params), separate_total)


async def rows(db: Db, sql: str, params: tuple) -> list[tuple]:
    return (await db.execute_sql(sql, params)).fetchall()


async def query_rows(db: Db, query: Any) -> list[tuple]:
    """A built query's rows as plain tuples (no model objects)."""
    query.bind(db.engine)
    return await rows(db, *query.sql())

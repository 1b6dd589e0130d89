"""Listing circuits (``GET /circuits``, ``GET /orgs/{slug}/circuits``): the statements of
:mod:`..db.circuit_list`, memoised by shape, with cached totals and anonymous pages.

:class:`CircuitListing` is a part of :class:`.circuits.Circuits`; it expects the service's
``db`` and its change ``_generation`` (moved on by every change made through the service).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..db import circuit_list as statements
from ..db.circuits import Circuit
from ..db.core import Db
from ..db.models import Organization
from ..schemas.circuits import SORT_FIELDS, CircuitListQuery
from . import access, permissions, social
from .resources import page_counts, sort_order

TARGET = "circuit"


class CircuitListing:
    """Circuit list pages: one statement per page, read as plain rows."""

    db: Db

    #: How long a cached list total (or anonymous page) may be reused. Changes made through
    #: this service drop them all at once; this only bounds changes made elsewhere (another
    #: process, direct SQL, cascades, counters kept by other services).
    TOTAL_CACHE_SECONDS = 1.0
    #: A total that took t seconds to count is kept t × this much longer (a 50 ms count: one
    #: more second): a list or a broad search over 100,000 circuits is not counted every second.
    TOTAL_COST_FACTOR = 20.0
    #: See :data:`..db.circuit_list.NARROW_SEARCH_MATCHES`.
    NARROW_SEARCH_MATCHES = statements.NARROW_SEARCH_MATCHES
    #: See :data:`..db.circuit_list.DENSE_SEARCH_SHARE`.
    DENSE_SEARCH_SHARE = statements.DENSE_SEARCH_SHARE
    _LIST_SQL_CACHE_SIZE = 256
    _LIST_COLUMNS = statements.LIST_COLUMNS

    def __init__(self) -> None:
        self._list_sql_cache: dict[tuple, statements.CompiledList] = {}
        #: List totals: filter key → (generation, expiry, total); see :meth:`list`.
        self._totals: dict[tuple, tuple[int, float, int]] = {}
        #: Anonymous list pages: list key → (generation, expiry, page); see :meth:`list`.
        self._pages: dict[tuple, tuple[int, float, dict[str, Any]]] = {}
        self._generation = 0
        #: Totals being counted: filter key → (generation, future of the total); see :meth:`list`.
        self._counting: dict[tuple, tuple[int, asyncio.Future[int | None]]] = {}
        self._clock = time.monotonic

    async def list(self, who: Any, q: CircuitListQuery) -> dict[str, Any]:
        """One statement per page, read as plain rows: no per-row model objects, and no SQL
        building for a shape seen before (see :meth:`_list_sql`). The total comes from the same
        statement (an uncorrelated scalar subquery, evaluated once) unless a recent total for
        the same filters is cached: totals are dropped by every change made through this
        service and otherwise reused for at most :data:`TOTAL_CACHE_SECONDS` (plus
        :data:`TOTAL_COST_FACTOR` times what counting took). Requests that need a total another
        request is counting read their page and wait for that count (one count, not one per
        caller, when a class opens the list at once). A signed-in caller's ``is_starred`` comes
        with the page (no second query).

        Anonymous pages (public circuits only, the same for every visitor: a class opening the
        explore page at once) are reused under the same rule; counters changed elsewhere
        (stars, views, runs) show within that bound too."""
        user_id = permissions.user_id_of(who)
        vis = await permissions.visibility(self.db, who)
        plan = await statements.search_plan(self.db, q, self.NARROW_SEARCH_MATCHES, self.DENSE_SEARCH_SHARE)
        compiled = self._list_sql(vis, q, plan=plan, starred_by=user_id)
        generation, now = self._generation, self._clock()
        if user_id is None:
            page = self._pages.get(compiled.key)
            if page is not None and page[0] == generation and page[1] > now:
                return page[2]
        cached = self._totals.get(compiled.total_key)
        counting = self._counting.get(compiled.total_key)
        if cached is not None and cached[0] == generation and cached[1] > now:
            total = cached[2]
            rows = await statements.rows(self.db, compiled.page_sql, compiled.page_params)
        elif counting is not None and counting[0] == generation:
            # Another request is counting the same rows right now: read the page, share its total.
            rows = await statements.rows(self.db, compiled.page_sql, compiled.page_params)
            total = await asyncio.shield(counting[1])
            if total is None:  # that request failed or went away: count on our own
                total = int((await statements.rows(self.db, compiled.total_sql, compiled.total_params))[0][0] or 0)
        else:
            counted: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
            self._counting[compiled.total_key] = (generation, counted)
            try:
                started = self._clock()
                if compiled.separate_total:  # a broad search: the page walks indexes, the count cannot
                    rows = await statements.rows(self.db, compiled.page_sql, compiled.page_params)
                    started = self._clock()
                    total = int((await statements.rows(self.db, compiled.total_sql, compiled.total_params))[0][0] or 0)
                else:
                    rows = await statements.rows(self.db, compiled.sql, compiled.params)
                    if rows:
                        total = int(rows[0][compiled.total_at] or 0)
                    elif q.offset == 0:
                        total = 0  # an empty first page: nothing matches
                    else:  # past the last page: count on its own
                        total = int((await statements.rows(self.db, compiled.total_sql, compiled.total_params))[0][0]
                                    or 0)
                counted.set_result(total)
            except BaseException:
                counted.set_result(None)  # the requests waiting for it count on their own
                raise
            finally:
                if self._counting.get(compiled.total_key, (None, None))[1] is counted:
                    del self._counting[compiled.total_key]
            lifetime = self.TOTAL_CACHE_SECONDS + self.TOTAL_COST_FACTOR * (self._clock() - started)
            if len(self._totals) >= self._LIST_SQL_CACHE_SIZE:
                self._totals.clear()
            self._totals[compiled.total_key] = (generation, now + lifetime, total)
        result = {"circuits": await self._cards(compiled.convert, rows, user_id, compiled.total_at - 1),
                  **page_counts(total, q)}
        if user_id is None:
            if len(self._pages) >= self._LIST_SQL_CACHE_SIZE:
                self._pages.clear()
            self._pages[compiled.key] = (generation, now + self.TOTAL_CACHE_SECONDS, result)
        return result

    async def list_for_org(self, org: Organization, who: Any, q: Any) -> dict[str, Any]:
        """``GET /orgs/{slug}/circuits``: the organization's circuits the caller may see (members:
        all; others: public), through the same list statement as ``GET /circuits``."""
        from .orgs import resources_of

        user_id = permissions.user_id_of(who)
        vis = await permissions.visibility(self.db, who)
        page, count_query = self._list_queries(vis, CircuitListQuery(page=q.page, limit=q.limit, sort=q.sort,
                                                                     order=q.order))
        scope = await resources_of(self.db, org, Circuit)
        total = int(await self.db.scalar(count_query.where(scope)) or 0)
        rows = await statements.query_rows(self.db, page.where(scope))
        return {"circuits": await self._cards(statements.converters(), rows, user_id), **page_counts(total, q)}

    async def _cards(self, convert: tuple, rows: list[tuple], user_id: str | None,
                     starred_at: int | None = None) -> list[dict[str, Any]]:
        cards = [self._card_from_row(convert, row) for row in rows]
        if user_id is not None and starred_at is not None:  # the page's own column (see _list_sql)
            for c, row in zip(cards, rows):
                c["is_starred"] = bool(row[starred_at])
        elif user_id is not None:
            starred = await social.starred_ids(self.db, TARGET, [c["id"] for c in cards], user_id)
            for c in cards:
                c["is_starred"] = c["id"] in starred
        return cards

    def _list_sql(self, vis: permissions.Visibility, q: CircuitListQuery, plan: str | None = None,
                  starred_by: str | None = None) -> statements.CompiledList:
        """The list statements for a request, compiled by peewee (so they stay portable) and
        memoised by everything they depend on: the caller's visibility (see
        :func:`permissions.visibility`) and the query. Only SQL text is cached here (pages: see
        :meth:`list`)."""
        total_key = (vis.key, q.framework, tuple(q.tags), q.qubits_min, q.qubits_max, q.owner, q.q)
        key = (total_key, q.sort, q.order, q.page, q.limit, plan, starred_by)
        hit = self._list_sql_cache.get(key)
        if hit is None:
            separate = bool(q.q and q.q.strip()) and self.db.is_sqlite and plan != statements.NARROW
            hit = statements.compile_list(self.db, key, total_key, *self._list_queries(vis, q, plan),
                                          starred_by=starred_by, separate_total=separate)
            if len(self._list_sql_cache) >= self._LIST_SQL_CACHE_SIZE:
                self._list_sql_cache.pop(next(iter(self._list_sql_cache)))
            self._list_sql_cache[key] = hit
        return hit

    def _list_queries(self, vis: permissions.Visibility, q: CircuitListQuery, plan: str | None = None):
        """The page query and the matching ``COUNT(*)`` query (see :func:`..db.circuit_list.list_queries`)."""
        order = sort_order(Circuit, q.sort, q.order, SORT_FIELDS)
        return statements.list_queries(self.db, vis.where(Circuit), vis.branches(Circuit), order, q, plan)

    @staticmethod
    def _card_from_row(convert, row) -> dict[str, Any]:
        """A list row (the list columns, then the total) as ``Circuits.card`` renders it."""
        names = statements.LIST_NAMES
        c = dict(zip(names, row))
        for i in statements.LIST_CONVERTED:
            if row[i] is not None:
                c[names[i]] = convert[i](row[i])
        ns = c["org.slug"] if c["org.id"] is not None else c["user.username"]
        return {
            "id": c["id"], "name": c["name"], "slug": c["name"], "repo_name": f"{ns}/{c['name']}", "title": c["title"],
            "description": c["description"], "framework": c["framework"], "tags": c["tags"] or [],
            "qubits": c["qubits"], "category": c["category"], "difficulty": c["difficulty"],
            "stars_count": c["stars_count"], "views_count": c["views_count"], "forks_count": c["forks_count"],
            "runs_count": c["runs_count"], "is_starred": None, "is_public": c["is_public"],
            "created_at": c["created_at"], "updated_at": c["updated_at"],
            "owner": access.owner_ref(c["user.id"], c["user.username"], c["user.name"], c["user.avatar"]),
            "organization": access.org_ref(c["org.id"], c["org.name"], c["org.slug"]),
            "forked_from": c["forked_from"],
        }

"""What the owned resources (circuits, datasets, spaces) share: loading with access checks,
cards, stars, fork sources, deletion, listing pages, sort parsing and the incoming-file
protocol. Each resource service subclasses :class:`ResourceService` and keeps only what is
its own. The statements live in :mod:`..db.resources`; the rules in :mod:`.permissions`.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from typing import Any, AsyncIterable, AsyncIterator, ClassVar, Iterable, Protocol

from peewee import IntegrityError

from ..db import resources as queries
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import User
from ..errors import BadRequest, Conflict
from ..logs import fields
from ..storage import BlobStore, StorageAccounts, owner_key
from . import permissions as perms
from . import social
from .access import UUID_RE, org_ref, owner_ref


class IncomingFileLike(Protocol):
    """One uploaded file as the HTTP layer hands it over: its name and its bytes, streamed."""

    filename: str
    chunks: AsyncIterable[bytes]


def sort_order(model: Any, sort: str, order: str | None, fields_allowed: Any) -> tuple:
    """ORDER BY for a list's ``sort`` (``[+|-]field``; names ascend by default, the rest
    descend) and optional ``order`` (``asc``/``desc``, which wins)."""
    column = sort.lstrip("+-")
    assert column in fields_allowed
    descending = column != "name"
    if sort.startswith("-"):
        descending = True
    elif sort.startswith("+"):
        descending = False
    if order:
        descending = order == "desc"
    return queries.ordering(model, column, descending)


def page_counts(total: int, q: Any) -> dict[str, int]:
    """The paging fields of a list answer."""
    return {"total": total, "page": q.page, "pages": -(-total // q.limit) if total else 0}


class ResourceService:
    """Loading, cards, stars, fork sources and deletion of one kind of owned resource.

    A subclass names its ``model`` (with ``owner``, ``organization`` and ``namespace_id``),
    the ``noun`` used in messages and the ``star_target`` of its stars, and says which blobs
    a resource holds (:meth:`_blob_refs`); rows come back joined with their owner and
    organization."""

    model: ClassVar[Any]
    noun: ClassVar[str]
    star_target: ClassVar[str]

    def __init__(self, db: Db, blobs: BlobStore, accounts: StorageAccounts) -> None:
        self.db = db
        self.blobs = blobs
        self.accounts = accounts

    @classmethod
    def _query(cls, *columns):
        return queries.owned_select(cls.model, *columns)

    @staticmethod
    def repo_name(res) -> str:
        """``namespace/name``: the organization's slug, else the owner's username."""
        ns = res.organization.slug if res.organization is not None else res.owner.username
        return f"{ns}/{res.name}"

    def base_card(self, res, starred: bool | None) -> dict[str, Any]:
        """The fields every card shares (identity, owner, organization, stars, forks, dates);
        each service adds its own."""
        return {
            "id": res.id, "name": res.name, "slug": res.name, "repo_name": self.repo_name(res), "title": res.title,
            "description": res.description, "stars_count": res.stars_count, "forks_count": res.forks_count,
            "is_starred": starred, "is_public": res.is_public, "created_at": res.created_at,
            "updated_at": res.updated_at, "owner": owner_ref(res.owner.id, res.owner.username, res.owner.name, res.owner.avatar),
            "organization": org_ref(res.organization.id, res.organization.name, res.organization.slug)
            if res.organization is not None else None,
            "forked_from": res.forked_from_id,
        }

    def card(self, res, starred: bool | None) -> dict[str, Any]:
        raise NotImplementedError

    async def _load(self, resource_id: str):
        if not UUID_RE.match(resource_id or ""):
            return None
        return await self.db.first(self._query().where(self.model.id == resource_id))

    async def get_visible(self, who: Any, resource_id: str):
        """The resource if ``who`` may see it; NotFound otherwise (private stays invisible)."""
        resource = await self._load(resource_id)
        await perms.ensure_readable(self.db, who, resource, self.noun)
        return resource

    async def _writable(self, who: Any, resource_id: str, *, admin: bool = False):
        """The resource if ``who`` may change it (``admin``: delete it); 404 / 403 otherwise."""
        resource = await self._load(resource_id)
        await perms.ensure(self.db, who, "delete" if admin else "write", resource, self.noun)
        return resource

    async def _visible_where(self, who: Any):
        return (await perms.visibility(self.db, who)).where(self.model)

    async def _name_taken(self, namespace_id: str, name: str) -> bool:
        return await queries.name_taken(self.db, self.model, namespace_id, name)

    async def _page_of(self, query: Any, count_query: Any, where: Any, order: tuple, q: Any,
                    user_id: str | None, key: str) -> dict[str, Any]:
        """One list page: the total, the page's rows as cards (with the caller's stars) under ``key``."""
        total = await self.db.count(count_query.where(where))
        rows = await self.db.list(query.where(where).order_by(*order).offset(q.offset).limit(q.limit))
        starred = await social.starred_ids(self.db, self.star_target, [r.id for r in rows], user_id)
        return {key: [self.card(r, (r.id in starred) if user_id else None) for r in rows], **page_counts(total, q)}

    async def star(self, user: User, resource_id: str) -> dict[str, Any]:
        """Toggle the caller's star; the count is exact under concurrent toggles."""
        resource = await self.get_visible(user, resource_id)
        starred, count = await social.toggle_star(self.db, self.model, self.star_target, resource.id, user.id)
        return {"starred": starred, "stars_count": count}

    async def _fork_source(self, user: User, resource_id: str, name: str | None) -> tuple[Any, str, Conflict]:
        """The visible source of a fork, the fork's name, and the 409 for a name the caller already uses."""
        perms.ensure_personal(user, "fork into a personal namespace")
        src = await self.get_visible(user, resource_id)
        name = name or src.name
        taken = Conflict(f"you already have a {self.noun} named '{name}'")
        if await self._name_taken(user.id, name):
            raise taken
        return src, name, taken

    async def _create_target(self, user: User, body: Any) -> tuple[Any, str, BadRequest]:
        """Where ``body`` (``name``, ``organization_name``) creates a resource: the organization
        (None: personal), the namespace id, and the 400 for a name already used there (raised
        now if it is)."""
        org = await perms.organization_for_create(self.db, user, body.organization_name)
        namespace = org.id if org else user.id
        taken = BadRequest(f"{self.noun} name '{body.name}' already exists for this {'organization' if org else 'user'}")
        if await self._name_taken(namespace, body.name):
            raise taken
        return org, namespace, taken

    @contextlib.asynccontextmanager
    async def _creating(self, user: User, body: Any) -> AsyncIterator[dict[str, Any]]:
        """The write transaction that creates a resource from ``body``: gives the columns every
        resource starts with (id, name, namespace, owner, organization, title, description,
        visibility, timestamps) for the body to create the row with, its own columns added; a
        name taken meanwhile is the 400 of :meth:`_create_target`."""
        org, namespace, taken = await self._create_target(user, body)
        now = utcnow()
        columns = {
            "id": new_id(), "name": body.name, "namespace_id": namespace, "owner": user.id,
            "organization": org.id if org else None, "title": body.title, "description": body.description,
            "is_public": body.is_public, "created_at": now, "updated_at": now,
        }
        try:
            async with self._changing():
                yield columns
        except IntegrityError:
            raise taken from None
        logging.getLogger(type(self).__module__).info(
            f"{self.noun}.created", extra=fields(**{f"{self.noun}_id": columns["id"], "user_id": user.id}))

    @contextlib.asynccontextmanager
    async def _forking(self, user: User, src: Any, taken: Conflict) -> AsyncIterator[tuple[str, Any]]:
        """The write transaction of a fork, giving the fork's new id and its creation time (the
        body creates that row and copies its files): the source's fork count goes up; a name
        taken meanwhile is the 409 ``taken``."""
        fork_id = new_id()
        try:
            async with self._changing():
                yield fork_id, utcnow()
                await social.bump_counter(self.db, self.model, src.id, "forks_count", 1)
        except IntegrityError:
            raise taken from None
        logging.getLogger(type(self).__module__).info(
            f"{self.noun}.forked", extra=fields(**{f"{self.noun}_id": fork_id, "source_id": src.id, "user_id": user.id}))

    async def _copy_file_rows(self, file_model: Any, rows: list[dict[str, Any]], shas: Iterable[str]) -> None:
        """Insert a fork's file rows (in chunks) and add one blob reference per row."""
        for i in range(0, len(rows), 200):
            await self.db.execute(file_model.insert_many(rows[i:i + 200]))
        await self.blobs.add_refs(Counter(shas))

    def _changing(self):
        """The write transaction of a change to these resources (circuits also drop list caches)."""
        return self.db.tx()

    async def delete(self, user: User, resource_id: str) -> None:
        """Delete a resource: its creator, an org owner/admin or a site admin (see :meth:`_delete_row`)."""
        resource = await self._writable(user, resource_id, admin=True)
        async with self._changing():
            await self._delete_row(resource)
        logging.getLogger(type(self).__module__).info(
            f"{self.noun}.deleted", extra=fields(**{f"{self.noun}_id": resource.id, "user_id": user.id}))
        await self.blobs.collect_garbage()

    #: The rows holding a resource's blob references, whose column ``<noun>`` names the resource
    #: (``_blob_refs``; a service whose files hang off another table overrides that instead).
    file_model: ClassVar[Any] = None

    async def _blob_refs(self, resource: Any) -> dict[str, int]:
        """sha256 -> how many references the resource holds."""
        return await queries.blob_ref_counts(self.db, self.file_model,
                                             getattr(self.file_model, self.noun) == resource.id)

    async def _delete_row(self, resource: Any) -> None:
        """Inside a write transaction: give back the resource's blob references and storage,
        drop its stars and its parent's fork count, and delete its row."""
        await self.blobs.release(await self._blob_refs(resource))
        await self.accounts.credit(owner_key(resource.owner_id, resource.organization_id), resource.storage_bytes)
        await social.delete_stars(self.db, self.star_target, resource.id)
        if resource.forked_from_id:
            await social.bump_counter(self.db, self.model, resource.forked_from_id, "forks_count", -1)
        await self.db.execute(self.model.delete().where(self.model.id == resource.id))

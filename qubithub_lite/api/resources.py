"""The list/create and get/update/delete handlers that circuits, datasets and spaces share:
one thin handler each (parse → ``ctx.hub.<service>`` → serialise), registered in the
resource's router under the usual names (``list_circuits``, ``get_dataset``, …), so the
route table and the OpenAPI document read as if each was written out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .routing import Ctx, Handler, Router


@dataclass(frozen=True)
class Resource:
    router: Router
    #: ``circuits``: the URL segment and the hub's service attribute.
    plural: str
    #: ``circuit``: in handler names and the ``{circuit_id}`` path parameter.
    singular: str
    read: str
    write: str

    def service(self, ctx: Ctx) -> Any:
        return getattr(ctx.hub, self.plural)

    def _register(self, method: str, path: str, name: str, doc: str, fn: Handler, **options: Any) -> None:
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = doc
        self.router.route(method, path, **options)(fn)

    def collection(self, *, query: type[BaseModel], listing: type[BaseModel], create: type[BaseModel],
                   detail: type[BaseModel], list_doc: str, create_doc: str) -> None:
        """``GET /<plural>`` (the caller's view, filtered) and ``POST /<plural>`` (create)."""
        path = f"/{self.plural}"

        async def list_handler(ctx: Ctx):
            return await self.service(ctx).list(ctx.actor, ctx.query)

        async def create_handler(ctx: Ctx):
            return await self.service(ctx).create(ctx.actor, ctx.body)

        self._register("GET", path, f"list_{self.plural}", list_doc, list_handler, query=query, response=listing,
                       scope=self.read, errors=(400,))
        self._register("POST", path, f"create_{self.singular}", create_doc, create_handler, body=create,
                       response=detail, status=201, auth="user", scope=self.write, errors=(400, 403, 404))

    def item(self, *, update: type[BaseModel], detail: type[BaseModel], get_doc: str, update_doc: str,
             delete_doc: str, view: str = "view") -> None:
        """``GET``/``PUT``/``DELETE /<plural>/{<singular>_id}``; ``view`` names the service's read
        method (``view`` counts a view, ``get`` does not)."""
        key = f"{self.singular}_id"
        path = f"/{self.plural}/{{{key}}}"

        async def get_handler(ctx: Ctx):
            return await getattr(self.service(ctx), view)(ctx.actor, ctx.path[key])

        async def update_handler(ctx: Ctx):
            return await self.service(ctx).update(ctx.actor, ctx.path[key], ctx.body)

        async def delete_handler(ctx: Ctx):
            await self.service(ctx).delete(ctx.actor, ctx.path[key])

        self._register("GET", path, f"get_{self.singular}", get_doc, get_handler, response=detail, scope=self.read,
                       errors=(404,))
        self._register("PUT", path, f"update_{self.singular}", update_doc, update_handler, body=update,
                       response=detail, auth="user", scope=self.write, errors=(400, 403, 404))
        self._register("DELETE", path, f"delete_{self.singular}", delete_doc, delete_handler, status=204,
                       auth="user", scope=self.write, errors=(403, 404))

    def star_and_fork(self, *, star: type[BaseModel], star_doc: str, star_errors: tuple[int, ...],
                      fork: type[BaseModel], detail: type[BaseModel], fork_doc: str,
                      fork_errors: tuple[int, ...]) -> None:
        """``POST /<plural>/{<singular>_id}/star`` (toggle the caller's star) and ``…/fork`` (copy it
        into the caller's namespace under ``body.name``)."""
        key = f"{self.singular}_id"
        path = f"/{self.plural}/{{{key}}}"

        async def star_handler(ctx: Ctx):
            return await self.service(ctx).star(ctx.actor, ctx.path[key])

        async def fork_handler(ctx: Ctx):
            return await self.service(ctx).fork(ctx.actor, ctx.path[key], ctx.body.name)

        self._register("POST", f"{path}/star", f"star_{self.singular}", star_doc, star_handler, response=star,
                       auth="user", scope=self.write, action="star", errors=star_errors)
        self._register("POST", f"{path}/fork", f"fork_{self.singular}", fork_doc, fork_handler, body=fork,
                       response=detail, status=201, auth="user", scope=self.write, action="fork", errors=fork_errors)

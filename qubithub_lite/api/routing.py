"""Declarative routes: a handler states its body, query and response models,
whether it needs a signed-in user, the API-key scope it needs and its rate-limit
action. The wrapper parses and validates input, enforces auth/scope/limits, and
serialises the result; the same table generates the OpenAPI document.

    router = Router("circuits")

    @router.post("/circuits", body=CircuitCreate, response=CircuitDetail, status=201,
                 auth="user", scope="circuit:write")
    async def create_circuit(ctx: Ctx) -> CircuitDetail: ...
"""

from __future__ import annotations

import asyncio
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import BadRequest, NotFound, Unauthorized
from ..hub import Hub
from ..services import permissions
from ..services.permissions import Actor
from ..schemas.bounded import JsonInputError, load_json
from ..schemas.common import describe_validation
from ..services.principal import Principal

HUB_KEY = web.AppKey("hub", Hub)
PRINCIPAL_KEY = "qubithub.principal"

Auth = Literal["public", "user"]
Handler = Callable[["Ctx"], Awaitable[Any]]


@dataclass
class Ctx:
    request: web.Request
    hub: Hub
    principal: Principal | None
    body: Any = None
    query: Any = None

    @property
    def path(self) -> typing.Mapping[str, str]:
        return self.request.match_info

    @property
    def user(self):
        if self.principal is None:
            raise Unauthorized()
        return self.principal.user

    @property
    def user_or_none(self):
        return self.principal.user if self.principal else None

    @property
    def actor(self) -> Actor:
        """The caller as the permission service sees it (user, key, site-admin powers); what
        handlers hand to services."""
        return permissions.actor(self.principal)

    @property
    def client_ip(self) -> str:
        return self.request.remote or "unknown"


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    auth: Auth = "public"
    scope: str | None = None
    action: str | None = None
    summary: str = ""
    tags: tuple[str, ...] = ()
    #: Multipart file fields (name -> description); with ``body`` too, either may be sent
    #: (the handler reads the multipart body itself when ``ctx.body`` is None).
    multipart: dict[str, str] | None = None
    #: Media type of a non-JSON response ("*/*": the stored file's own type).
    raw_response: str | None = None
    errors: tuple[int, ...] = ()
    websocket: bool = False
    _adapter: TypeAdapter | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.handler.__name__

    def adapter(self) -> TypeAdapter | None:
        if self.response is None:
            return None
        if self._adapter is None:
            self._adapter = TypeAdapter(self.response)
        return self._adapter


class Router:
    def __init__(self, tag: str):
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            summary = options.pop("summary", None) or (fn.__doc__ or "").strip().split("\n")[0]
            self.specs.append(RouteSpec(method, path, fn, summary=summary, tags=(self.tag,), **options))
            return fn

        return decorate

    def get(self, path: str, **o: Any):
        return self.route("GET", path, **o)

    def post(self, path: str, **o: Any):
        return self.route("POST", path, **o)

    def put(self, path: str, **o: Any):
        return self.route("PUT", path, **o)

    def patch(self, path: str, **o: Any):
        return self.route("PATCH", path, **o)

    def delete(self, path: str, **o: Any):
        return self.route("DELETE", path, **o)

    def websocket(self, path: str, **o: Any):
        return self.route("GET", path, websocket=True, **o)


# Validation ------------------------------------------------------------------------
# describe_validation (imported above) turns a pydantic error into the ``detail`` text.


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return False


#: (query model, raw query string) -> the validated query. Lists are mostly requested
#: with the same few query strings; handlers treat query objects as read-only.
_QUERY_CACHE: dict[tuple[type[BaseModel], str], BaseModel] = {}
_QUERY_CACHE_SIZE = 1024


def parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    key = (model, request.query_string)
    hit = _QUERY_CACHE.get(key)
    if hit is not None:
        return hit
    parsed = _parse_query(model, request)
    if len(_QUERY_CACHE) >= _QUERY_CACHE_SIZE:
        _QUERY_CACHE.clear()
    _QUERY_CACHE[key] = parsed
    return parsed


def _parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _is_list(info.annotation):
            values = request.query.getall(key, []) or request.query.getall(f"{key}[]", [])
            if values:
                data[key] = values
        elif key in request.query:
            data[key] = request.query[key]
    for key, value in request.query.items():
        if "\x00" in value:  # PostgreSQL cannot even compare one
            raise BadRequest(f"query.{key[:60]}: must not contain NUL characters")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc, "query")) from None


#: Bodies larger than this are parsed and validated off the event loop.
_INLINE_JSON_BYTES = 64 * 1024
#: Content types a browser may send cross-origin without asking first: never taken as JSON.
_NOT_JSON = ("text/", "multipart/", "application/x-www-form-urlencoded")


async def parse_body(model: type[BaseModel], request: web.Request) -> BaseModel:
    raw = await request.read()
    if not raw.strip():
        payload: Any = {}
    else:
        ctype = request.headers.get("Content-Type", "").lower()
        if ctype.startswith(_NOT_JSON):
            raise BadRequest("Content-Type must be application/json")
        try:
            if len(raw) > _INLINE_JSON_BYTES:
                payload = await asyncio.to_thread(load_json, raw)
            else:
                payload = load_json(raw)
        except JsonInputError as exc:
            raise BadRequest(str(exc)) from None
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        if len(raw) > _INLINE_JSON_BYTES:
            return await asyncio.to_thread(model.model_validate, payload)
        return model.model_validate(payload)
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc, "body")) from None


# Responses ---------------------------------------------------------------------------
def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if isinstance(data, BaseModel):
        body = data.model_dump_json().encode()
    else:
        body = json.dumps(data, default=str, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def render(spec: RouteSpec, result: Any) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if spec.status == 204 or result is None:
        return web.Response(status=204)
    adapter = spec.adapter()
    if adapter is not None and not isinstance(result, BaseModel):
        body = adapter.dump_json(adapter.validate_python(result, from_attributes=True))
        return web.Response(body=body, status=spec.status, content_type="application/json")
    return json_response(result, spec.status)


def make_handler(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        hub = request.app[HUB_KEY]
        principal: Principal | None = request.get(PRINCIPAL_KEY)
        if spec.auth == "user" and principal is None:
            raise Unauthorized("authentication required")
        if principal is not None:
            principal.require_scope(spec.scope)
            if spec.action:
                await hub.limiter.take(spec.action, principal.user_id, hub.limiter.action_limit(spec.action))
        if any("\x00" in value for value in request.match_info.values()):
            raise NotFound()  # no name or id holds a NUL character (PostgreSQL cannot even compare one)
        ctx = Ctx(request, hub, principal)
        if spec.query is not None:
            ctx.query = parse_query(spec.query, request)
        if spec.body is not None and not (spec.multipart and request.content_type == "multipart/form-data"):
            ctx.body = await parse_body(spec.body, request)
        return render(spec, await spec.handler(ctx))

    handler.__name__ = spec.name
    return handler


PREFIXES = ("", "/api")


def register(app: web.Application, specs: list[RouteSpec]) -> None:
    """Add every route under ``/`` and ``/api``; plain paths before templated ones."""
    ordered = sorted(specs, key=lambda s: "{" in s.path)
    for spec in ordered:
        handler = make_handler(spec)
        for prefix in PREFIXES:
            if spec.method == "GET":
                app.router.add_get(prefix + spec.path, handler, allow_head=not spec.websocket)
            else:
                app.router.add_route(spec.method, prefix + spec.path, handler)

"""Shapes shared by every resource."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, create_model, field_validator

#: Timestamps are rendered as naive-UTC ISO 8601, like the reference's examples.
Timestamp = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]


#: Published patterns (ECMA-262, no look-around) equal to or stricter than the validators.
NAME_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"  # circuits, datasets, spaces (1-100 characters)
SLUG_PATTERN = NAME_PATTERN  # usernames and organization slugs (3-39 characters)
TAG_PATTERN = r"^[a-z0-9][a-z0-9+#._-]{0,49}$"


def sort_pattern(fields: tuple[str, ...]) -> str:
    """``sort``: a field name, optionally prefixed by ``+`` or ``-``."""
    return rf"^[+-]?(?:{'|'.join(fields)})$"


def sort_field(value: str) -> str:
    """The field of a ``sort`` value: at most one ``+``/``-`` prefix is removed (so ``--name`` is refused)."""
    return value[1:] if value[:1] in ("+", "-") else value


def sort_by(fields: tuple[str, ...], default: str = "created_at") -> Any:
    """The ``sort`` field of a list query whose values are ``fields`` (published as a pattern)."""
    return Field(default, json_schema_extra={"pattern": sort_pattern(fields)})


def normalized(field: str, normalize: Any, *, check_fields: bool | None = None) -> Any:
    """A validator of ``field`` that returns ``normalize(value)`` (tags: stripped, lowercased, unique),
    ``None`` as it is; ``check_fields=False`` in a base class that does not declare the field."""
    return field_validator(field, check_fields=check_fields)(
        classmethod(lambda cls, v: normalize(v) if v is not None else v))


def refuse_null(*fields: str, mode: Literal["before", "after"] = "after") -> Any:
    """A validator for partial updates: ``fields`` may be omitted but not sent as ``null``."""
    def check(cls, v, info):
        if v is None:
            raise ValueError(f"{info.field_name} cannot be null")
        return v

    return field_validator(*fields, mode=mode)(classmethod(check))


def tag_list(max_items: int) -> dict[str, Any]:
    """json_schema_extra of a list of tags (the validator also lowercases and strips)."""
    return {"items": {"type": "string", "pattern": TAG_PATTERN}, "maxItems": max_items}


#: A title: not blank (the validators strip it).
TITLE_DOC = {"pattern": r"\S"}


def not_null_title(schema: dict[str, Any]) -> None:
    not_null(schema)
    schema.update(TITLE_DOC)


def not_null(schema: dict[str, Any]) -> None:
    """json_schema_extra of a field that may be omitted but not sent as null."""
    variants = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    if len(variants) == 1:
        schema.update(variants[0])
    elif variants:
        schema["anyOf"] = variants
    schema.pop("default", None)


class Schema(BaseModel):
    """Base for response models (built from ORM objects or dicts)."""

    model_config = ConfigDict(from_attributes=True)


class Request(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ErrorResponse(BaseModel):
    detail: str


class PageQuery(BaseModel):
    """``page`` ≥ 1 and ``limit`` 1–100 (default 20); out of range is a 400."""

    model_config = ConfigDict(extra="ignore")
    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(20, ge=1, le=100)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


class PageInfo(BaseModel):
    total: int
    page: int
    pages: int


def page_of(name: str, items: str, card: type[BaseModel], module: str) -> type[BaseModel]:
    """The response model ``name`` of one page of a resource list: ``{<items>: [card, …]}``
    followed by :class:`PageInfo`'s fields."""
    fields: dict[str, Any] = {items: (list[card], ...)}
    fields.update({field: (info.annotation, ...) for field, info in PageInfo.model_fields.items()})
    return create_model(name, __module__=module, **fields)


def page_info(total: int, query: PageQuery) -> dict[str, int]:
    """``{total, page, pages}`` for a list response."""
    return {"total": total, "page": query.page, "pages": math.ceil(total / query.limit) if total else 0}


class UserSummary(Schema):
    """A user as others see them (owner of a resource)."""

    id: str
    username: str
    name: str
    avatar: str | None = None


class OrganizationSummary(Schema):
    id: str
    name: str
    slug: str


# The first fields of creating a circuit or a dataset: ``class XCreate(_XFields, CreateHead)``
# (base-first field order: these come first). No docstring: it would become a description.
class CreateHead(Request):
    name: str = Field(min_length=1, max_length=100, json_schema_extra={"pattern": NAME_PATTERN})
    title: str = Field(min_length=1, max_length=500, json_schema_extra=TITLE_DOC)
    description: str | None = Field(None, max_length=20_000)


# Shared parts of the resource (circuit, dataset, space) models. A model lists them as
# ``class XCard(CardTail, _XCardFields)`` with ``_XCardFields(CardHead)``: pydantic orders
# fields base-first along the MRO, so the properties (and the OpenAPI document) keep the
# order head, own fields, tail. The parts carry no docstring (it would become a description).
class CardHead(Schema):
    id: str
    name: str
    slug: str
    repo_name: str
    title: str
    description: str | None = None


class CardTail(Schema):
    is_starred: bool | None = None
    is_public: bool
    created_at: Timestamp
    updated_at: Timestamp
    owner: UserSummary
    organization: OrganizationSummary | None = None
    forked_from: str | None = None


def check_sort(value: str, fields: tuple[str, ...]) -> str:
    if sort_field(value) not in fields:
        raise ValueError(f"must be one of {', '.join(fields)} (prefix '-' or '+' for the direction)")
    return value


class SortedQuery(PageQuery):
    # ``sort`` (one of the subclass's ``sort_fields``, see :func:`sort_pattern`) and ``order``.
    sort_fields: ClassVar[tuple[str, ...]] = ()
    sort: str = "created_at"
    order: Literal["asc", "desc"] | None = None

    @field_validator("sort")
    @classmethod
    def _sort(cls, v: str) -> str:
        return check_sort(v, cls.sort_fields)


class SearchQuery(SortedQuery):
    # A resource list: sorted, with the search box and the owner filter last. A list query is
    # ``class XListQuery(SearchQuery, _XFilters)`` with ``_XFilters(PageQuery)`` (see CardHead).
    q: str | None = Field(None, max_length=200)
    owner: str | None = Field(None, max_length=39)


def describe_validation(exc: ValidationError, where: str = "", *, unknown: str = "unknown field",
                        missing: str = "field required", empty: str = "invalid input") -> str:
    """The first five errors of ``exc`` as ``loc: message; …`` (``where`` prefixes each location;
    ``unknown``/``missing`` word the errors for extra and absent keys; ``empty`` when there are none)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = unknown
        elif err["type"] == "missing":
            msg = missing
        prefix = ".".join(p for p in (where, loc) if p)
        parts.append(f"{prefix}: {msg}" if prefix else msg)
    return "; ".join(parts) or empty

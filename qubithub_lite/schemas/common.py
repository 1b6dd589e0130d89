"""Shapes shared by every resource."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

#: Timestamps are rendered as naive-UTC ISO 8601, like the reference's examples.
Timestamp = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]


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

"""Organizations and their members."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .auth import EMAIL_PATTERN, USERNAME_DOC, check_username, normalize_email
from .common import Request, Schema, Timestamp

Role = Literal["owner", "admin", "member"]


class OrganizationCreate(Request):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(max_length=39, description="URL name; shares the namespace with usernames.",
                      json_schema_extra=USERNAME_DOC)
    description: str | None = Field(None, max_length=5000)

    _slug = field_validator("slug")(check_username)


class OrganizationProfile(Schema):
    id: str
    name: str
    slug: str
    description: str | None = None
    avatar_url: str | None = None
    created_at: Timestamp
    circuit_count: int = 0
    dataset_count: int = 0
    space_count: int = 0
    member_count: int = 0


class PublicMember(Schema):
    username: str
    full_name: str
    avatar: str | None = None
    role: str


class Member(Schema):
    user_id: str
    username: str
    email: str
    full_name: str
    avatar: str | None = None
    role: str
    joined_at: Timestamp


class MemberList(Schema):
    members: list[Member]
    total: int


class MemberAdd(Request):
    email: str = Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN})
    role: Role = "member"

    _email = field_validator("email")(normalize_email)


class MemberUpdate(Request):
    role: Role

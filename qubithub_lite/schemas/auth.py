"""Accounts and sessions (platform-notes §2)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .common import SLUG_PATTERN, Request, Schema, not_null

USERNAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,37})[a-z0-9]$")
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
#: Published forms of the rules above (the validators also refuse '..' and '--').
EMAIL_PATTERN = EMAIL_RE.pattern
USERNAME_DOC = {"pattern": SLUG_PATTERN, "minLength": 3}
MIN_PASSWORD = 8
MAX_PASSWORD = 256


def normalize_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not EMAIL_RE.match(value) or ".." in value:
        raise ValueError("not a valid email address")
    return value.lower()


def check_username(value: str) -> str:
    if not USERNAME_RE.match(value) or "--" in value:
        raise ValueError(
            "must be 3-39 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit"
        )
    return value


class RegisterRequest(Request):
    email: str = Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN})
    username: str = Field(max_length=39, json_schema_extra=USERNAME_DOC)
    password: str = Field(max_length=MAX_PASSWORD, json_schema_extra={"minLength": MIN_PASSWORD})
    name: str = Field("", max_length=200)

    _email = field_validator("email")(normalize_email)
    _username = field_validator("username")(check_username)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if any(ord(c) < 32 for c in v):
            raise ValueError("must not contain control characters")
        return v


def _given(schema: dict) -> None:
    not_null(schema)
    schema["minLength"] = 1


class LoginRequest(Request):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["identifier"]}, {"required": ["email"]}]})
    identifier: str | None = Field(None, max_length=254, description="Email or username.",
                                   json_schema_extra=_given)
    email: str | None = Field(None, max_length=254, description="Older clients send the email here.",
                              json_schema_extra=_given)
    password: str = Field(max_length=MAX_PASSWORD)

    @model_validator(mode="after")
    def _one_identifier(self) -> "LoginRequest":
        if not (self.identifier or self.email):
            raise ValueError("identifier (email or username) is required")
        return self

    @property
    def login_name(self) -> str:
        return (self.identifier or self.email or "").strip()


class RefreshRequest(Request):
    refresh_token: str | None = Field(None, max_length=200)


class OrganizationMembership(Schema):
    id: str
    name: str
    slug: str
    role: str


class UserResponse(Schema):
    id: str
    email: str
    username: str
    name: str
    avatar: str | None = None
    is_admin: bool = False
    organizations: list[OrganizationMembership] = []


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = 900


class AuthResponse(TokenResponse):
    user: UserResponse

"""Site administration (``/admin/…``) and the own password change (``/auth/password``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from .auth import MAX_PASSWORD, TokenResponse
from .common import Request, Schema, Timestamp

class ChangePasswordRequest(Request):
    current_password: str = Field(max_length=MAX_PASSWORD)
    new_password: str = Field(max_length=MAX_PASSWORD)


class ChangePasswordResponse(TokenResponse):
    """A fresh session for the caller: every session of the account (this one too) ended."""

    sessions_ended: int = Field(description="Other sessions (refresh tokens) that were revoked.")
    detail: str


class AdminUser(Schema):
    id: str
    username: str
    email: str
    name: str
    is_admin: bool
    is_pro: bool
    disabled: bool
    disabled_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class AdminUserOrganization(Schema):
    slug: str
    name: str
    role: str
    is_personal: bool


class AdminUserDetail(AdminUser):
    organizations: list[AdminUserOrganization]
    circuits: int
    datasets: int
    spaces: int
    runs: int
    api_keys: int


class AdminUserListQuery(BaseModel):
    search: str | None = Field(None, min_length=1, max_length=100, description="Part of a username, email or name.")
    status: Literal["active", "disabled"] | None = None
    role: Literal["admin", "pro", "member"] | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class AdminUserList(BaseModel):
    items: list[AdminUser]
    total: int
    limit: int
    offset: int


class AdminPasswordRequest(Request):
    password: str | None = Field(None, max_length=MAX_PASSWORD, description="Omit (or null) to generate one.")


class AdminPasswordResponse(BaseModel):
    user: AdminUser
    password: str | None = Field(None, description="The generated password (only when none was given).")
    sessions_ended: int


class AdminDeleteResponse(BaseModel):
    deleted: str
    circuits: int
    datasets: int
    spaces: int
    runs: int
    stars: int
    reassigned: int = Field(description="Resources of shared organizations passed to an owner of theirs.")


class AdminImportRow(Request):
    username: str = Field(max_length=254)
    email: str = Field(max_length=254)
    password: str | None = Field(None, max_length=MAX_PASSWORD)
    name: str = Field("", max_length=200)
    role: str = Field("", max_length=20)
    org: str | None = Field(None, max_length=39)
    org_role: str | None = Field(None, max_length=20)


class AdminImportRequest(Request):
    """Rows as JSON, or the class list's CSV text (any common dialect); all or nothing."""

    rows: list[AdminImportRow] | None = Field(None, max_length=1000)
    csv: str | None = Field(None, max_length=900_000)
    org: str | None = Field(None, max_length=39, description="Enrol every row into this organization.")
    skip_existing: bool = False
    dry_run: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "AdminImportRequest":
        if (self.rows is None) == (self.csv is None):
            raise ValueError("give exactly one of rows or csv")
        return self


class AdminCredential(BaseModel):
    username: str
    email: str
    name: str
    password: str
    org: str


class AdminImportResponse(BaseModel):
    created: int
    skipped: int
    enrolled: int
    organizations_created: int
    dry_run: bool = False
    credentials: list[AdminCredential] = Field(description="Generated passwords (shown once).")

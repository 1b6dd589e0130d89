"""API keys (platform-notes §3)."""

from __future__ import annotations

from pydantic import Field, field_validator

from .common import Request, Schema, Timestamp

#: Every scope a key can carry. A route declares the one it needs.
SCOPES: dict[str, str] = {
    "circuit:read": "Read circuits and their files",
    "circuit:write": "Create, change, upload, star and fork circuits",
    "dataset:read": "Read datasets, previews and downloads",
    "dataset:write": "Create, change, upload, star and fork datasets",
    "space:read": "Read spaces",
    "space:write": "Create and change spaces, execute and visualize code",
    "runs:read": "Read runs and their results",
    "runs:submit": "Submit and cancel runs",
    "org:read": "Read organization members and keys",
    "org:write": "Manage organization members and keys",
    "keys:manage": "Create, list and revoke API keys",
}


class ApiKeyCreateRequest(Request):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=lambda: ["circuit:read"], max_length=len(SCOPES),
                              json_schema_extra={"items": {"type": "string", "enum": list(SCOPES)}})
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    rate_limit_per_minute: int | None = Field(60, ge=1, le=100_000)

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise ValueError(f"unknown scope(s) {', '.join(unknown)}; valid: {', '.join(SCOPES)}")
        return sorted(set(scopes), key=list(SCOPES).index)


class ApiKeyResponse(Schema):
    id: str
    name: str
    key_prefix: str
    scopes: list[str]
    rate_limit_per_minute: int
    is_active: bool
    last_used_at: Timestamp | None = None
    created_at: Timestamp
    expires_at: Timestamp | None = None


class ApiKeyCreateResponse(Schema):
    id: str
    name: str
    key: str = Field(description="The plaintext key. Shown once; only its hash is stored.")
    key_prefix: str
    scopes: list[str]
    rate_limit_per_minute: int
    created_at: Timestamp
    expires_at: Timestamp | None = None


class ApiKeyList(Schema):
    api_keys: list[ApiKeyResponse]
    total: int

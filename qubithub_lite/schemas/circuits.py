"""Circuit shapes (platform-notes §4)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .bounded import FreeForm
from .common import (
    NAME_PATTERN, CardHead, CardTail, CreateHead, PageQuery, Request, Schema, SearchQuery, SortedQuery, Timestamp,
    normalized, not_null, not_null_title, page_of, refuse_null, sort_by, tag_list,
)

Framework = Literal["qiskit", "pennylane", "cirq", "openqasm3"]
FRAMEWORKS = ("qiskit", "pennylane", "cirq", "openqasm3")
Difficulty = Literal["beginner", "intermediate", "advanced"]
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9+#._-]{0,49}$")
GATE_RE = re.compile(r"^[A-Za-z0-9_+\-†']{1,32}$")
MAX_TAGS = 20
GATES_DOC = {"items": {"type": "string", "pattern": r"^[A-Za-z0-9_+\-†']{1,32}$"}, "maxItems": 100}
SORT_FIELDS = ("created_at", "updated_at", "stars_count", "views_count", "runs_count", "forks_count", "name", "qubits")


def check_name(value: str) -> str:
    if not NAME_RE.match(value) or "--" in value:
        raise ValueError(
            "must be 1-100 characters of lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return value


def normalize_labels(values: list[str], one: str, many: str) -> list[str]:
    """Labels (tags, a dataset's task categories) stripped, lowercased and deduplicated, each
    matching :data:`TAG_RE`, at most :data:`MAX_TAGS`; ``one``/``many`` name them in errors."""
    out: list[str] = []
    for raw in values:
        if not isinstance(raw, str):
            raise ValueError(f"{many} must be strings")
        label = raw.strip().lower()
        if not TAG_RE.match(label):
            raise ValueError(f"invalid {one} {raw[:60]!r}: 1-50 characters of lowercase letters, digits and + # . _ -")
        if label not in out:
            out.append(label)
    if len(out) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} {many}")
    return out


def normalize_tags(values: list[str]) -> list[str]:
    return normalize_labels(values, "tag", "tags")


def check_gates(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    if len(values) > 100:
        raise ValueError("at most 100 gate names")
    for gate in values:
        if not GATE_RE.match(gate):
            raise ValueError(f"invalid gate name {gate[:40]!r}")
    return values


def not_null_tags(schema: dict[str, Any]) -> None:
    not_null(schema)
    schema.update(tag_list(MAX_TAGS))


class _CircuitFields(Request):
    _tags = normalized("tags", normalize_tags, check_fields=False)
    _gates = normalized("gates", check_gates, check_fields=False)


class CircuitCreate(_CircuitFields, CreateHead):
    framework: Framework
    tags: list[str] = Field(default_factory=list, json_schema_extra=tag_list(MAX_TAGS))
    qubits: int = Field(0, ge=0, le=10_000)
    gates: list[str] | None = Field(None, json_schema_extra=GATES_DOC)
    depth: int | None = Field(None, ge=0, le=10_000_000)
    is_public: bool = True
    organization_name: str | None = Field(None, max_length=39)
    extra_metadata: FreeForm | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class CircuitUpdate(_CircuitFields):
    """Partial update: only the fields sent change."""

    title: str | None = Field(None, min_length=1, max_length=500, json_schema_extra=not_null_title)
    description: str | None = Field(None, max_length=20_000)
    tags: list[str] | None = Field(None, json_schema_extra=not_null_tags)
    is_public: bool | None = Field(None, json_schema_extra=not_null)
    extra_metadata: FreeForm | None = None
    framework: Framework | None = Field(None, json_schema_extra=not_null)
    qubits: int | None = Field(None, ge=0, le=10_000, json_schema_extra=not_null)
    gates: list[str] | None = Field(None, json_schema_extra=GATES_DOC)
    depth: int | None = Field(None, ge=0, le=10_000_000)
    category: str | None = Field(None, max_length=100)
    difficulty: Difficulty | None = None

    _not_null = refuse_null("title", "is_public", "tags", "framework", "qubits")


class ForkRequest(Request):
    name: str | None = Field(None, min_length=1, max_length=100, json_schema_extra={"pattern": NAME_PATTERN})

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return check_name(v) if v is not None else v


class _CircuitFilters(PageQuery):
    framework: Framework | None = None
    tags: list[str] = Field(default_factory=list, json_schema_extra=tag_list(MAX_TAGS))
    qubits_min: int | None = Field(None, ge=0)
    qubits_max: int | None = Field(None, ge=0)


class CircuitListQuery(SearchQuery, _CircuitFilters):
    sort_fields = SORT_FIELDS
    sort: str = sort_by(SORT_FIELDS)
    _tags = normalized("tags", normalize_tags)


class OrgCircuitsQuery(SortedQuery):
    """``GET /orgs/{slug}/circuits``: page, limit, sort (as ``GET /circuits``), order."""

    sort_fields = SORT_FIELDS


class ResolveQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    repo_name: str = Field(min_length=3, max_length=200, json_schema_extra={"pattern": r"^[a-z0-9-]{1,39}/[a-z0-9-]{1,100}$"})


class UploadQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    commit_message: str | None = Field(None, max_length=2000)


class FilesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str | None = Field(None, max_length=12, json_schema_extra={"pattern": r"^v?[1-9][0-9]{0,8}$"})
    ref: str | None = Field(None, max_length=40, pattern=r"^([0-9a-fA-F]{7,40}|v?[1-9][0-9]{0,8}|main|HEAD)$",
                            description="A git commit sha (or unique prefix of 7+ hex digits), a version number or `main`")

    @field_validator("version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not re.fullmatch(r"v?[1-9][0-9]{0,8}", v):
            raise ValueError("must be a version number such as 2 or v2")
        return v


# Responses ------------------------------------------------------------------------------
class VersionOut(Schema):
    id: str
    circuit_id: str
    version_number: int
    commit_hash: str
    parent_hash: str | None = None
    file_path: str
    file_size: int
    commit_message: str | None = None
    created_at: Timestamp
    git_commit: str | None = Field(None, description="The version's git commit sha (as `git clone` shows it)")


class _CircuitCardFields(CardHead):
    framework: str
    tags: list[str]
    qubits: int
    category: str | None = None
    difficulty: str | None = None
    stars_count: int
    views_count: int
    forks_count: int
    runs_count: int


class CircuitCard(CardTail, _CircuitCardFields):
    pass


class CircuitDetail(CircuitCard):
    gates: list[str] | None = None
    depth: int | None = None
    extra_metadata: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    versions: list[VersionOut] = Field(default_factory=list)
    latest_version: VersionOut | None = None


CircuitList = page_of("CircuitList", "circuits", CircuitCard, __name__)


class StarResponse(BaseModel):
    starred: bool
    stars_count: int


class FileEntry(BaseModel):
    name: str
    path: str
    type: str
    size: int
    sha256: str


class FileList(BaseModel):
    files: list[FileEntry]
    version: str | None
    version_number: int | None


class UploadError(BaseModel):
    filename: str
    error: str


class UploadResult(BaseModel):
    """The version an upload created, its uploaded files and (batch) per-file errors."""

    version: VersionOut
    files: list[FileEntry]
    errors: list[UploadError] = Field(default_factory=list)

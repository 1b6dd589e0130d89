"""Dataset shapes (API reference, "Datasets"). Names and tags follow the circuit rules."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .circuits import (MAX_TAGS, ForkRequest, StarResponse, check_name, normalize_labels, normalize_tags,
                       not_null_tags)
from . import common
from .common import (
    CardHead, CardTail, CreateHead, PageQuery, Request, Schema, SearchQuery, SortedQuery, Timestamp, normalized,
    not_null, not_null_title, page_of, refuse_null, sort_by, tag_list,
)

#: The bounds of ``formats.model`` (not imported: the formats package loads numpy, an optional extra).
MIN_PREVIEW_ROWS, MAX_PREVIEW_ROWS, DEFAULT_PREVIEW_ROWS = 1, 1000, 100

DatasetFormat = Literal["csv", "npy", "hdf5", "json", "parquet"]
SORT_FIELDS = ("created_at", "updated_at", "stars_count", "forks_count", "downloads_count", "size_bytes", "name")
LICENSE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+\-_ ]{0,99}$")
LICENSE_DOC = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9.+_ -]{0,99}$"}


def normalize_task_categories(values: list[str]) -> list[str]:
    return normalize_labels(values, "task category", "task categories")


def check_sort(value: str) -> str:
    return common.check_sort(value, SORT_FIELDS)


def parse_version(value: str | int | None) -> int | None:
    """``2``, ``"2"`` or ``"v2"`` → 2; empty → None."""
    if value is None or value == "":
        return None
    text = str(value)
    if not re.fullmatch(r"v?[1-9][0-9]{0,8}", text):
        raise ValueError("must be a version number such as 2 or v2")
    return int(text.lstrip("v"))


class _DatasetFields(Request):
    _tags = normalized("tags", normalize_tags, check_fields=False)
    _tasks = normalized("task_categories", normalize_task_categories, check_fields=False)

    @field_validator("title", check_fields=False)
    @classmethod
    def _title(cls, v):
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v.strip() if v is not None else v

    @field_validator("license", check_fields=False)
    @classmethod
    def _license(cls, v):
        if v is not None and not LICENSE_RE.match(v):
            raise ValueError("must be a license identifier such as CC-BY-4.0 or MIT")
        return v


class DatasetCreate(_DatasetFields, CreateHead):
    format: DatasetFormat
    tags: list[str] = Field(default_factory=list, json_schema_extra=tag_list(MAX_TAGS))
    task_categories: list[str] = Field(default_factory=list, json_schema_extra=tag_list(MAX_TAGS))
    license: str | None = Field(None, max_length=100, json_schema_extra=LICENSE_DOC)
    citation: str | None = Field(None, max_length=5_000)
    is_public: bool = True
    organization_name: str | None = Field(None, max_length=39)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


class DatasetUpdate(_DatasetFields):
    """Partial update: only the fields sent change. ``format`` only while there are no versions."""

    title: str | None = Field(None, min_length=1, max_length=500, json_schema_extra=not_null_title)
    description: str | None = Field(None, max_length=20_000)
    format: DatasetFormat | None = Field(None, json_schema_extra=not_null)
    tags: list[str] | None = Field(None, json_schema_extra=not_null_tags)
    task_categories: list[str] | None = Field(None, json_schema_extra=not_null_tags)
    license: str | None = Field(None, max_length=100, json_schema_extra=LICENSE_DOC)
    citation: str | None = Field(None, max_length=5_000)
    is_public: bool | None = Field(None, json_schema_extra=not_null)

    _not_null = refuse_null("title", "is_public", "tags", "task_categories", "format", mode="before")


class DatasetForkRequest(ForkRequest):
    pass


class _DatasetFilters(PageQuery):
    format: DatasetFormat | None = None
    tags: list[str] = Field(default_factory=list, json_schema_extra=tag_list(MAX_TAGS))
    task_categories: list[str] = Field(default_factory=list, json_schema_extra=tag_list(MAX_TAGS))


class DatasetListQuery(SearchQuery, _DatasetFilters):
    sort_fields = SORT_FIELDS
    sort: str = sort_by(SORT_FIELDS)
    _tags = normalized("tags", normalize_tags)
    _tasks = normalized("task_categories", normalize_task_categories)


class OrgDatasetsQuery(SortedQuery):
    sort_fields = SORT_FIELDS
    sort: str = sort_by(SORT_FIELDS)


class VersionQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: int | None = Field(None, json_schema_extra={"minimum": 1, "maximum": 999_999_999})

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v):
        return parse_version(v)


class PreviewQuery(VersionQuery):
    rows: int = Field(DEFAULT_PREVIEW_ROWS, ge=MIN_PREVIEW_ROWS, le=MAX_PREVIEW_ROWS)


class VersionUploadQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    commit_message: str | None = Field(None, max_length=2000)


# Responses ------------------------------------------------------------------------------
class DatasetVersionOut(Schema):
    id: str
    dataset_id: str
    version_number: int
    commit_hash: str
    parent_hash: str | None = None
    file_name: str
    file_path: str
    file_size: int
    sha256: str
    total_rows: int | None = None
    downloads_count: int
    commit_message: str | None = None
    created_at: Timestamp


class _DatasetCardFields(CardHead):
    format: str
    tags: list[str]
    task_categories: list[str]
    license: str | None = None
    stars_count: int
    forks_count: int
    downloads_count: int
    size_bytes: int


class DatasetCard(CardTail, _DatasetCardFields):
    pass


class DatasetDetail(DatasetCard):
    citation: str | None = None
    storage_bytes: int
    versions: list[DatasetVersionOut] = Field(default_factory=list)
    latest_version: DatasetVersionOut | None = None


DatasetList = page_of("DatasetList", "datasets", DatasetCard, __name__)


class DatasetStarResponse(StarResponse):
    pass


class DatasetStats(BaseModel):
    downloads_count: int
    stars_count: int
    forks_count: int
    size_bytes: int
    #: The version the figures are for (``None``: the whole dataset, sizes of the latest version).
    version: int | None = None
    versions_count: int
    total_rows: int | None = None


class DatasetPreview(BaseModel):
    """``{columns, rows, total_rows, dataset_schema}`` plus the details that apply to the format."""

    model_config = ConfigDict(extra="allow")
    columns: list[str]
    rows: list[list[Any]]
    total_rows: int | None
    dataset_schema: dict[str, str]
    total_columns: int
    version: int
    format: str
    truncated: str | None = Field(None, description="Why fewer rows than asked for are shown (a memory budget).")

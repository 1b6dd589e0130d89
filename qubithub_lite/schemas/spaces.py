"""Space shapes (API reference, Spaces; platform-notes §8)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .circuits import ForkRequest, StarResponse, check_name
from .common import (
    NAME_PATTERN, TITLE_DOC, CardHead, CardTail, PageQuery, Request, Schema, SearchQuery, Timestamp, not_null,
    not_null_title, page_of, sort_by,
)

Sdk = Literal["qiskit", "pennylane", "cirq"]
SDKS = ("qiskit", "pennylane", "cirq")
SpaceType = Literal["notebook", "app", "demo"]
SORT_FIELDS = ("created_at", "updated_at", "stars_count", "forks_count", "views_count", "name")

__all__ = [
    "SDKS", "SORT_FIELDS", "Sdk", "SpaceType", "SpaceCreate", "SpaceUpdate", "SpaceForkRequest", "SpaceListQuery",
    "SpaceFileCreate", "SpaceFileUpdate", "ExecuteRequest", "ExecuteResponse", "VisualizeRequest",
    "VisualizeResponse", "SpaceFileOut", "SpaceCard", "SpaceDetail", "SpaceList", "StarResponse",
]


def _title(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank")
    return v.strip()


class SpaceCreate(Request):
    name: str = Field(min_length=1, max_length=100, description="URL-safe name (lowercase letters, digits, hyphens)",
                      json_schema_extra={"pattern": NAME_PATTERN})
    title: str = Field(min_length=1, max_length=500, json_schema_extra=TITLE_DOC)
    description: str | None = Field(None, max_length=20_000)
    sdk: Sdk = "qiskit"
    space_type: SpaceType = "notebook"
    is_public: bool = Field(True, description="Public visibility (default true, as in the API reference)")
    organization_name: str | None = Field(None, max_length=39)

    _name = field_validator("name")(classmethod(lambda cls, v: check_name(v)))
    _t = field_validator("title")(classmethod(lambda cls, v: _title(v)))


class SpaceUpdate(Request):
    """Partial update: only the fields sent change."""

    title: str | None = Field(None, min_length=1, max_length=500, json_schema_extra=not_null_title)
    description: str | None = Field(None, max_length=20_000)
    sdk: Sdk | None = Field(None, json_schema_extra=not_null)
    space_type: SpaceType | None = Field(None, json_schema_extra=not_null)
    is_public: bool | None = Field(None, json_schema_extra=not_null)

    @field_validator("title", "sdk", "space_type", "is_public")
    @classmethod
    def _not_null(cls, v, info):
        if v is None:
            raise ValueError(f"{info.field_name} cannot be null")
        return _title(v) if info.field_name == "title" else v


class SpaceForkRequest(ForkRequest):
    pass


class _SpaceFilters(PageQuery):
    sdk: Sdk | None = None
    space_type: SpaceType | None = None


class SpaceListQuery(SearchQuery, _SpaceFilters):
    sort_fields = SORT_FIELDS
    sort: str = sort_by(SORT_FIELDS)


class _FileBody(Request):
    content: str | None = Field(None, description="The file's content: text, or base64 with encoding='base64'")
    encoding: Literal["utf-8", "base64"] = "utf-8"

    def data(self) -> bytes | None:
        """The content as bytes (None when no content was sent); ValueError on bad base64."""
        if self.content is None:
            return None
        if self.encoding == "base64":
            import base64
            import binascii

            try:
                return base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("content is not valid base64") from None
        return self.content.encode("utf-8", "surrogatepass")


class SpaceFileCreate(_FileBody):
    """JSON body of ``POST /spaces/{id}/files`` (multipart field ``file`` works too)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["path"]}, {"required": ["filename"]}]})
    path: str | None = Field(None, max_length=1000, description="File name; may contain '/' (sub-folders)",
                             json_schema_extra=not_null)
    filename: str | None = Field(None, max_length=1000, description="Alias of path", json_schema_extra=not_null)
    content: str = Field(description="The file's content: text, or base64 with encoding='base64'")

    @model_validator(mode="after")
    def _one_name(self):
        if self.path is None and self.filename is None:
            raise ValueError("give the file name as 'path' (or 'filename')")
        if self.path is not None and self.filename is not None and self.path != self.filename:
            raise ValueError("'path' and 'filename' differ; give one of them")
        return self

    @property
    def name(self) -> str:
        return self.path if self.path is not None else self.filename  # type: ignore[return-value]


class SpaceFileUpdate(_FileBody):
    """JSON body of ``PUT /spaces/files/{file_id}``: new content and/or a new path."""

    model_config = ConfigDict(json_schema_extra={
        "anyOf": [{"required": [n]} for n in ("content", "path", "filename")],
        "not": {"required": ["path", "filename"]},
    })
    path: str | None = Field(None, max_length=1000, description="Rename the file", json_schema_extra=not_null)
    filename: str | None = Field(None, max_length=1000, description="Alias of path", json_schema_extra=not_null)

    @model_validator(mode="after")
    def _something(self):
        if self.path is not None and self.filename is not None and self.path != self.filename:
            raise ValueError("'path' and 'filename' differ; give one of them")
        if self.content is None and self.path is None and self.filename is None:
            raise ValueError("give 'content' and/or a new 'path'")
        return self

    @property
    def name(self) -> str | None:
        return self.path if self.path is not None else self.filename


def _code_or(file_field: str) -> tuple[ConfigDict, Any]:
    """The model config and validator of a request that sends ``code`` or ``file_field``,
    exactly one of them (published as ``oneOf``)."""
    def check(self):
        if (self.code is None) == (getattr(self, file_field) is None):
            raise ValueError(f"give exactly one of 'code' and '{file_field}'")
        return self

    config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["code"]}, {"required": [file_field]}]})
    return config, model_validator(mode="after")(check)


def _code_field(description: str) -> Any:
    """``code`` of an execute or visualize request: up to 1 MB of Python, never null."""
    return Field(None, max_length=1_000_000, description=description, json_schema_extra=not_null)


class ExecuteRequest(Request):
    model_config, _one = _code_or("file_to_run")
    code: str | None = _code_field("Python code (or file_to_run)")
    file_to_run: str | None = Field(None, max_length=1000, description="A file of the space to run instead of code",
                                    json_schema_extra=not_null)
    timeout: int = Field(30, ge=1, le=300, description="Wall-clock limit in seconds (1-300)")


class ExecuteResponse(BaseModel):
    status: Literal["success", "error", "timeout"]
    output: str | None = None
    error: str | None = None
    execution_time: float | None = None


class VisualizeRequest(Request):
    model_config, _one = _code_or("file_to_visualize")
    code: str | None = _code_field("Python code that builds a circuit")
    file_to_visualize: str | None = Field(None, max_length=1000, description="A file of the space to visualize",
                                          json_schema_extra=not_null)
    framework: Sdk | None = Field(None, description="qiskit, pennylane or cirq (auto-detected when omitted)")


class VisualizeResponse(BaseModel):
    status: Literal["success", "error", "timeout"]
    diagram: str | None = Field(None, description="base64 of the SVG document")
    framework: str | None = None
    format: Literal["svg"] = "svg"
    error: str | None = None


# Responses ------------------------------------------------------------------------------
class SpaceFileOut(Schema):
    id: str
    space_id: str
    path: str
    filename: str
    size: int
    sha256: str
    content: str | None = Field(None, description="UTF-8 text content (GET /spaces/{id}; null when binary or large)")
    created_at: Timestamp
    updated_at: Timestamp


class _SpaceCardFields(CardHead):
    sdk: str
    space_type: str
    stars_count: int
    forks_count: int
    views_count: int


class SpaceCard(CardTail, _SpaceCardFields):
    pass


class SpaceDetail(SpaceCard):
    files: list[SpaceFileOut] = Field(default_factory=list)
    storage_bytes: int = 0


SpaceList = page_of("SpaceList", "spaces", SpaceCard, __name__)

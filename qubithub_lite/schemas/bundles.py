"""The manifest of a course bundle (``bundle.json``): what :mod:`..services.bundles` writes,
and validates before it imports anything. Every list and string is bounded: a bundle may
come from anyone."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .circuits import Framework
from .datasets import DatasetFormat
from .spaces import Sdk, SpaceType

Sha256 = Field(pattern=r"^[0-9a-f]{64}$")
Name = Field(min_length=1, max_length=100)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BundleFile(_Strict):
    path: str = Field(min_length=1, max_length=255)
    sha256: str = Sha256
    size: int = Field(ge=0)


class BundleVersion(_Strict):
    number: int = Field(ge=1)
    message: str | None = Field(None, max_length=10_000)
    changed: list[BundleFile] = Field(default_factory=list, max_length=1_000)
    removed: list[str] = Field(default_factory=list, max_length=1_000)


class DatasetBundleVersion(_Strict):
    number: int = Field(ge=1)
    message: str | None = Field(None, max_length=10_000)
    file_name: str = Field(min_length=1, max_length=255)
    sha256: str = Sha256
    size: int = Field(ge=0)


class _Resource(_Strict):
    owner: str = Field(min_length=1, max_length=39)
    organization: str | None = Field(None, max_length=39)
    name: str = Name
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(None, max_length=20_000)
    is_public: bool = True


class BundleCircuit(_Resource):
    framework: Framework
    qubits: int = Field(0, ge=0, le=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    versions: list[BundleVersion] = Field(default_factory=list, max_length=10_000)


class BundleDataset(_Resource):
    format: DatasetFormat
    tags: list[str] = Field(default_factory=list, max_length=50)
    task_categories: list[str] = Field(default_factory=list, max_length=50)
    license: str | None = Field(None, max_length=100)
    citation: str | None = Field(None, max_length=5_000)
    versions: list[DatasetBundleVersion] = Field(default_factory=list, max_length=10_000)


class BundleSpace(_Resource):
    sdk: Sdk = "qiskit"
    space_type: SpaceType = "notebook"
    files: list[BundleFile] = Field(default_factory=list, max_length=1_000)


class BundleManifest(_Strict):
    format: Literal["qubithub-lite-bundle"] = "qubithub-lite-bundle"
    format_version: Literal[1] = 1
    created_at: str = Field("", max_length=40)
    circuits: list[BundleCircuit] = Field(default_factory=list, max_length=10_000)
    datasets: list[BundleDataset] = Field(default_factory=list, max_length=10_000)
    spaces: list[BundleSpace] = Field(default_factory=list, max_length=10_000)


# ---- over HTTP: GET /admin/export, POST /admin/import ---------------------------------------
Repo = Field(min_length=3, max_length=140, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
Slug = Field(min_length=1, max_length=39, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class BundleExportQuery(BaseModel):
    """What to export (at least one): repeat a parameter for several."""

    model_config = ConfigDict(extra="ignore")
    org: list[Annotated[str, Slug]] = Field(default_factory=list, max_length=50, description="Every circuit, dataset and space of this organization.")
    user: list[Annotated[str, Slug]] = Field(default_factory=list, max_length=50, description="Every personal circuit, dataset and space of this user.")
    circuit: list[Annotated[str, Repo]] = Field(default_factory=list, max_length=500, description="owner/name")
    dataset: list[Annotated[str, Repo]] = Field(default_factory=list, max_length=500, description="owner/name")
    space: list[Annotated[str, Repo]] = Field(default_factory=list, max_length=500, description="owner/name")


class BundleImportQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    as_org: str | None = Field(None, min_length=1, max_length=39, description="Import everything into this organization (it must exist).")
    as_user: str | None = Field(None, min_length=1, max_length=39, description="Import everything as this user's personal resources.")

    @model_validator(mode="after")
    def _one_target(self):
        if self.as_org and self.as_user:
            raise ValueError("give as_org or as_user, not both")
        return self


class BundleOutcomeOut(BaseModel):
    kind: Literal["circuit", "dataset", "space"]
    name: str = Field(description="Where it went: owner/name.")
    result: Literal["created", "updated", "unchanged", "clash", "error"]
    detail: str


class BundleImportReportOut(BaseModel):
    """Importing again is idempotent (``unchanged``); a name holding other content is a
    ``clash``, never overwritten."""

    outcomes: list[BundleOutcomeOut]
    created: int
    updated: int
    unchanged: int
    clash: int
    error: int
    ok: bool = Field(description="No clash and no error.")

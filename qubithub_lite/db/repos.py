"""Lookups shared by the git and Hugging Face Hub surfaces: a resource by ``owner/name``,
and the file trees of circuit versions, dataset versions and spaces."""

from __future__ import annotations

from .circuits import CircuitFile, CircuitVersion
from .datasets import DatasetVersion
from .models import Organization, User
from .spaces import SpaceFile


async def namespace_id(db, owner: str) -> str | None:
    """The namespace a name is unique in: a username's user id, else an organization's id."""
    owner = owner.lower()
    user = await db.first(User.select(User.id).where(User.username == owner))
    if user is not None:
        return user.id
    org = await db.first(Organization.select(Organization.id).where(
        (Organization.slug == owner) & (Organization.is_personal == False)))  # noqa: E712
    return org.id if org is not None else None


async def circuit_versions(db, circuit_id: str) -> list[CircuitVersion]:
    return await db.list(CircuitVersion.select().where(CircuitVersion.circuit == circuit_id)
                         .order_by(CircuitVersion.version_number))


async def circuit_files(db, version_id: str) -> list[tuple[str, str, int]]:
    rows = await db.list(CircuitFile.select(CircuitFile.path, CircuitFile.sha256, CircuitFile.size)
                         .where(CircuitFile.version == version_id))
    return [(r.path, r.sha256, r.size) for r in rows]


async def dataset_versions(db, dataset_id: str) -> list[DatasetVersion]:
    return await db.list(DatasetVersion.select().where(DatasetVersion.dataset == dataset_id)
                         .order_by(DatasetVersion.version_number))


async def space_files(db, space_id: str) -> list[SpaceFile]:
    return await db.list(SpaceFile.select().where(SpaceFile.space == space_id).order_by(SpaceFile.path))

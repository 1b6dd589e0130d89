"""The example content that ships with the package (``qubithub_lite/examples``): circuits
(Bell, GHZ, Deutsch–Jozsa, Bernstein–Vazirani, Grover, QFT, teleportation, VQE for H₂, QAOA
MaxCut — each in every framework that fits, with a ``qubithub.toml`` carrying its educational
section and ``[expected_output]``), one dataset per format and one space per SDK.

Installing builds a course bundle from those files and imports it
(:mod:`.bundles`): the same checks as any upload, and installing twice changes nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

from .. import __version__
from ..db.core import Db
from ..db.models import Organization, User
from ..schemas.bundles import (
    BundleCircuit, BundleDataset, BundleFile, BundleManifest, BundleSpace, BundleVersion, DatasetBundleVersion,
)
from .bundles import Bundles, BundleError, ImportReport

OWNER_PLACEHOLDER = "examples"  # the bundle's owner name; installs always target an organization


@contextmanager
def examples_root() -> Iterator[Path]:
    with resources.as_file(resources.files("qubithub_lite") / "examples") as path:
        yield Path(path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Catalogue:
    manifest: BundleManifest
    files: dict[str, Path]  # sha256 → file


def catalogue(root: Path) -> Catalogue:
    files: dict[str, Path] = {}

    def entry(path: Path, name: str) -> BundleFile:
        sha = _sha(path)
        files[sha] = path
        return BundleFile(path=name, sha256=sha, size=path.stat().st_size)

    message = f"Example from QubitHub Lite {__version__}"
    circuits = []
    for folder in sorted(p for p in (root / "circuits").iterdir() if p.is_dir()):
        manifest = tomllib.loads((folder / "qubithub.toml").read_text())
        project = manifest["project"]
        changed = [entry(p, p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*")) if p.is_file()]
        circuits.append(BundleCircuit(
            owner=OWNER_PLACEHOLDER, name=project["name"], title=project["title"], description=project.get("description"),
            framework=project["framework"], qubits=project["qubits"], tags=project.get("tags", []),
            versions=[BundleVersion(number=1, message=message, changed=changed)],
        ))
    catalog = tomllib.loads((root / "catalog.toml").read_text())
    datasets = []
    for d in catalog.get("datasets", []):
        f = entry(root / d["file"], Path(d["file"]).name)
        datasets.append(BundleDataset(
            owner=OWNER_PLACEHOLDER, name=d["name"], title=d["title"], description=d.get("description"),
            format=d["format"], tags=d.get("tags", []), task_categories=d.get("task_categories", []),
            license=d.get("license"),
            versions=[DatasetBundleVersion(number=1, message=message, file_name=f.path, sha256=f.sha256, size=f.size)],
        ))
    spaces = []
    for s in catalog.get("spaces", []):
        folder = root / s["folder"]
        spaces.append(BundleSpace(
            owner=OWNER_PLACEHOLDER, name=s["name"], title=s["title"], description=s.get("description"),
            sdk=s["sdk"], space_type=s.get("space_type", "notebook"),
            files=[entry(p, p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*")) if p.is_file()],
        ))
    return Catalogue(BundleManifest(circuits=circuits, datasets=datasets, spaces=spaces), files)


async def ensure_organization(db: Db, orgs, slug: str, owner: User) -> Organization:
    org = await db.first(Organization.select().where(Organization.slug == slug))
    if org is not None:
        return org
    return await orgs.create(owner, "Examples" if slug == "examples" else slug, slug,
                             "Example circuits, datasets and spaces that ship with QubitHub Lite.")


async def install(bundles: Bundles, organization: str, scratch: Path) -> ImportReport:
    """Install every example into ``organization`` (which must exist)."""
    with examples_root() as root:
        cat = catalogue(root)
        objects = scratch / "objects"
        objects.mkdir(parents=True, exist_ok=True)
        for sha, path in cat.files.items():
            shutil.copyfile(path, objects / sha)
    return await bundles.import_bundle(cat.manifest, scratch, as_org=organization)


SYSTEM_USER = "qubithub-examples"


async def install_on_first_start(config, db: Db, accounts, orgs, bundles: Bundles) -> ImportReport | None:
    """``[examples] install_on_first_start``: on a hub that holds no circuit yet, create the
    examples organization (owned by a system account nobody can sign in to) and install.
    ``config``: the ``[examples]`` settings."""
    import logging
    import secrets
    import tempfile

    from ..db.circuits import Circuit
    from ..logs import fields
    from .accounts import NewUser

    log = logging.getLogger(__name__)
    slug = config.organization
    if await db.exists(Organization.select().where(Organization.slug == slug)) or await db.exists(Circuit.select()):
        return None
    owner = await db.first(User.select().where(User.username == SYSTEM_USER))
    if owner is None:
        # A long random password nobody is told: the account only owns the examples.
        owner = await accounts.create_user(NewUser(
            email=f"{SYSTEM_USER}@localhost.invalid", username=SYSTEM_USER, password=secrets.token_urlsafe(48),
            name="QubitHub Lite examples"))
    await ensure_organization(db, orgs, slug, owner)
    with tempfile.TemporaryDirectory(prefix="qubithub-examples-") as scratch:
        report = await install(bundles, slug, Path(scratch))
    log.info("examples.installed", extra=fields(organization=slug, created=report.count("created"),
                                                 errors=report.count("error")))
    return report


__all__ = ["install_on_first_start", "BundleError", "Catalogue", "catalogue", "ensure_organization", "examples_root", "install"]

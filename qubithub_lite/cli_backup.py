"""``qubithub-lite backup`` and ``restore``: a data dir to one archive and back."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from .cli_options import cli_settings as _cli_settings, data_options


def _progress(total: int, label: str):
    bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=False, show_percent=True)
    return bar


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@click.command()
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--verify", "verify_only", is_flag=True, help="Check an existing archive against its manifest instead.")
@click.option("--include-secret", is_flag=True, help="Also store the signing secret (then keep the archive as safe as the key).")
@data_options
@click.pass_obj
def backup(obj: dict[str, Any], archive: Path, verify_only: bool, include_secret: bool) -> None:
    """Write a consistent backup of the data dir to ARCHIVE (.tar, or .tar.gz), while the server runs.

    The archive holds the database (SQLite's online backup), every stored object, the config
    file and a manifest of hashes; the signing secret only with --include-secret.
    """
    from .storage import backup as archive_mod

    if verify_only:
        try:
            with _progress(archive.stat().st_size if archive.is_file() else 0, "Verifying") as bar:
                report = archive_mod.verify(archive, progress=bar.update)
        except archive_mod.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        if not report.ok:
            for problem in report.problems[:50]:
                click.echo(f"  {problem}", err=True)
            raise click.ClickException(f"{archive}: {len(report.problems)} problem(s); the archive is damaged")
        click.echo(f"{archive}: ok ({report.files} files, {_human(report.bytes)}, schema version {report.schema_version})")
        return
    settings = _cli_settings(obj)
    if not settings.data_dir.is_dir():
        raise click.ClickException(f"no data dir at {settings.data_dir} (give --data-dir)")
    try:
        with _progress(archive_mod.plan_size(settings.data_dir, settings.database_url), "Backing up") as bar:
            report = archive_mod.create(
                archive, settings.data_dir, settings.database_url, config_file=settings.config_file,
                secret_file=settings.secret_file if include_secret else None, progress=bar.update,
            )
    except (archive_mod.BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    size = report.path.stat().st_size
    click.echo(f"wrote {report.path} ({report.files} files, {_human(size)}, schema version {report.schema_version}"
               f"{', with the signing secret' if include_secret else ''})")


@click.command()
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The data dir to create (must be empty or absent).")
def restore(archive: Path, data_dir: Path) -> None:
    """Restore ARCHIVE (made by `backup`) into an empty data dir, checking every hash first."""
    from .storage import backup as archive_mod

    try:
        with _progress(archive.stat().st_size if archive.is_file() else 0, "Restoring") as bar:
            report = archive_mod.restore(archive, data_dir, progress=bar.update)
    except (archive_mod.BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    users = report.counts.get("user", 0)
    click.echo(f"restored {report.files} files ({_human(report.bytes)}) into {report.path}: {users} user(s), "
               f"schema version {report.schema_version}")
    if not (report.path / "secret.key").exists():
        click.echo("no signing secret in the archive: a new one is made at the first start, so everyone signs in again "
                   "(API keys keep working)")
    if (report.path / "config.toml").exists():
        click.echo(f"the server's config was restored as {report.path / 'config.toml'}; start with --config pointing at it")


# ---- course bundles: export / import ---------------------------------------------------

@contextlib.asynccontextmanager
async def _resource_hub(settings):
    """A maintenance hub (never the run queue or the sandbox: a server may be serving this data
    dir right now); its wiring includes the bundle service."""
    from .maintenance import MaintenanceHub, NoDataDir

    hub = MaintenanceHub(settings)
    try:
        try:
            await hub.start()
        except NoDataDir as exc:
            raise click.ClickException(str(exc)) from None
        yield hub
    finally:
        await hub.close()


@click.command("export")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--org", "orgs", multiple=True, help="Every circuit, dataset and space of this organization.")
@click.option("--user", "users", multiple=True, help="Every personal circuit, dataset and space of this user.")
@click.option("--circuit", "circuits", multiple=True, metavar="OWNER/NAME")
@click.option("--dataset", "datasets", multiple=True, metavar="OWNER/NAME")
@click.option("--space", "spaces", multiple=True, metavar="OWNER/NAME")
@data_options
@click.pass_obj
def export_bundle(obj, bundle: Path, orgs, users, circuits, datasets, spaces) -> None:
    """Write a course bundle: the chosen circuits (every version), datasets (every version) and
    spaces, for `qubithub-lite import` on another appliance."""
    import asyncio

    from .services.bundles import BundleError, Selection

    settings = _cli_settings(obj)
    selection = Selection(list(orgs), list(users), list(circuits), list(datasets), list(spaces))

    async def run():
        async with _resource_hub(settings) as hub:
            return await hub.bundles.collect(selection), hub.bundles

    try:
        manifest, bundles = asyncio.run(run())
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(bundles.objects(manifest).values())
    bundle.parent.mkdir(parents=True, exist_ok=True)
    partial = bundle.with_name(f".{bundle.name}.partial")
    try:
        with open(partial, "wb") as out, _progress(total, "Exporting") as bar:
            bundles.write(manifest, out, progress=bar.update)
            out.flush()
            import os

            os.fsync(out.fileno())
        partial.replace(bundle)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    click.echo(f"wrote {bundle}: {len(manifest.circuits)} circuit(s), {len(manifest.datasets)} dataset(s), "
               f"{len(manifest.spaces)} space(s), {_human(bundle.stat().st_size)}")


@click.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--as-org", help="Import everything into this organization (it must exist).")
@click.option("--as-user", help="Import everything as this user's personal resources.")
@data_options
@click.pass_obj
def import_bundle(obj, bundle: Path, as_org, as_user) -> None:
    """Import a course bundle made by `qubithub-lite export`. Importing again changes nothing;
    a resource of the same name with other content is reported as a clash, never overwritten."""
    import asyncio

    from .services.bundles import BundleError, describe, read_bundle

    if as_org and as_user:
        raise click.ClickException("give --as-org or --as-user, not both")
    settings = _cli_settings(obj)
    try:
        manifest, tmp = read_bundle(bundle)
    except BundleError as exc:
        raise click.ClickException(f"{bundle}: {exc}") from None

    async def run():
        async with _resource_hub(settings) as hub:
            return await hub.bundles.import_bundle(manifest, Path(tmp.name), as_org=as_org, as_user=as_user)

    try:
        report = asyncio.run(run())
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        tmp.cleanup()
    click.echo(describe(report))
    if not report.ok:
        raise click.ClickException("some resources were not imported (see above)")


# ---- example content --------------------------------------------------------------------

@click.group()
def examples() -> None:
    """The example circuits, datasets and spaces that ship with QubitHub Lite."""


@examples.command("list")
def examples_list() -> None:
    """List the examples."""
    from .services.examples import catalogue, examples_root

    with examples_root() as root:
        cat = catalogue(root).manifest
    for c in cat.circuits:
        click.echo(f"circuit  {c.name:32} {c.framework:10} {c.qubits} qubits  {c.title}")
    for d in cat.datasets:
        click.echo(f"dataset  {d.name:32} {d.format:10} {d.title}")
    for s in cat.spaces:
        click.echo(f"space    {s.name:32} {s.sdk:10} {s.title}")


@examples.command("install")
@click.option("--org", "org_slug", help="Organization to install into (default: [examples] organization, 'examples').")
@click.option("--owner", help="User who owns the organization when it has to be created (default: the first site admin).")
@data_options
@click.pass_obj
def examples_install(obj, org_slug, owner) -> None:
    """Install the examples into an organization. Installing again changes nothing."""
    import asyncio
    import tempfile

    from .db.models import Organization, User
    from .services.bundles import BundleError, describe
    from .services.examples import ensure_organization, install

    settings = _cli_settings(obj)
    slug = org_slug or settings.examples.organization

    async def run():
        async with _resource_hub(settings) as hub:
            if owner:
                user = await hub.db.first(User.select().where(User.username == owner))
                if user is None:
                    raise click.ClickException(f"no user {owner!r}")
            else:
                user = await hub.db.first(User.select().where(User.is_admin == True).order_by(User.created_at))  # noqa: E712
            org = await hub.db.first(Organization.select().where(Organization.slug == slug))
            if org is None:
                if user is None:
                    raise click.ClickException(
                        f"organization {slug!r} does not exist and there is no site admin to own it: "
                        "create one (`users create NAME --email … --admin`) or give --owner")
                await ensure_organization(hub.db, hub.orgs, slug, user)
            with tempfile.TemporaryDirectory(prefix="qubithub-examples-") as scratch:
                return await install(hub.bundles, slug, Path(scratch))

    try:
        report = asyncio.run(run())
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(report))
    if not report.ok:
        raise click.ClickException("some examples were not installed (see above)")

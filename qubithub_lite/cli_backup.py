"""``qubithub-lite backup`` and ``restore``: a data dir to one archive and back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


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
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), help="TOML config file.")
@click.pass_obj
def backup(obj: dict[str, Any], archive: Path, verify_only: bool, include_secret: bool, data_dir: Path | None,
           config: Path | None) -> None:
    """Write a consistent backup of the data dir to ARCHIVE (.tar, or .tar.gz), while the server runs.

    The archive holds the database (SQLite's online backup), every stored object, the config
    file and a manifest of hashes; the signing secret only with --include-secret.
    """
    from .cli import _settings
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
    if config is not None:
        obj["config"] = config
    if data_dir is not None:
        obj["data_dir"] = data_dir
    settings = _settings(obj)
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

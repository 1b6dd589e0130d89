"""The ``qubithub-lite`` command."""

from __future__ import annotations

import asyncio
import csv
import logging
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import ConfigError, Settings, load_settings
from .logs import fields, setup_logging

log = logging.getLogger("qubithub_lite")


def _settings(ctx_obj: dict[str, Any], **server: Any) -> Settings:
    overrides = {"server": {k: v for k, v in server.items() if v is not None}}
    if ctx_obj.get("data_dir") is not None:
        overrides["server"]["data_dir"] = ctx_obj["data_dir"]
    try:
        settings = load_settings(ctx_obj.get("config"), overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.logging.level, settings.logging.format)
    return settings


@click.group()
@click.version_option(__version__, prog_name="qubithub-lite")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), help="TOML config file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory.")
@click.pass_context
def main(ctx: click.Context, config: Path | None, data_dir: Path | None) -> None:
    """QubitHub Lite: quantum circuits, datasets, spaces and runs in one process."""
    ctx.ensure_object(dict)
    ctx.obj.update(config=config, data_dir=data_dir)


@main.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8000).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), help="TOML config file.")
@click.pass_obj
def serve(obj: dict[str, Any], host: str | None, port: int | None, data_dir: Path | None, config: Path | None) -> None:
    """Run the server until SIGINT/SIGTERM."""
    from aiohttp import web

    from .app import create_app

    if config is not None:
        obj["config"] = config
    if data_dir is not None:
        obj["data_dir"] = data_dir
    settings = _settings(obj, host=host, port=port)
    sys.setswitchinterval(settings.server.gil_switch_interval_ms / 1000)
    app = create_app(settings)
    host_shown = f"[{settings.server.host}]" if ":" in settings.server.host else settings.server.host
    url = f"http://{host_shown}:{settings.server.port}"

    async def announce(_: web.Application) -> None:
        log.info("server.started", extra=fields(url=url, data_dir=str(settings.data_dir.resolve()), version=__version__))

    app.on_startup.append(announce)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if settings.server.access_log else None,
        shutdown_timeout=settings.server.shutdown_timeout,
        handle_signals=True,
    )
    log.info("server.stopped")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: dict[str, Any]) -> None:
    """Apply pending schema migrations."""
    settings = _settings(obj)

    async def run() -> list[int]:
        from .db import migrate
        from .db.core import open_database

        database = open_database(settings.database_url)
        try:
            return await migrate.upgrade(database)
        finally:
            await database.close()

    applied = asyncio.run(run())
    click.echo(f"applied migrations: {applied}" if applied else "database is up to date")


async def _with_hub(settings: Settings, fn):
    from .hub import Hub

    hub = Hub(settings)
    await hub.start()
    try:
        return await fn(hub)
    finally:
        await hub.close()


@main.group()
def users() -> None:
    """Create accounts (for classes with registration closed)."""


@users.command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--pro", is_flag=True, help="Give the user the pro rate limit.")
@click.pass_obj
def users_create(obj, username, email, name, password, admin, pro) -> None:
    """Create one user."""
    from .errors import ApiError

    settings = _settings(obj)
    new = _validated_user(username, email, password, name, admin, pro)

    async def run(hub):
        return await hub.accounts.create_user(new)

    try:
        user = asyncio.run(_with_hub(settings, run))
    except ApiError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"created {'admin ' if admin else ''}user {user.username} ({user.id})")


def _validated_user(username, email, password, name="", admin=False, pro=False):
    from pydantic import ValidationError

    from .schemas.auth import RegisterRequest
    from .services.accounts import NewUser

    try:
        req = RegisterRequest(email=email, username=username, password=password, name=name or "")
    except ValidationError as exc:
        from .api.routing import describe_validation

        raise click.ClickException(describe_validation(exc)) from None
    return NewUser(email=req.email, username=req.username, password=req.password, name=req.name, is_admin=admin, is_pro=pro)


@users.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-existing", is_flag=True, help="Skip rows whose email or username already exists.")
@click.pass_obj
def users_import(obj, csv_file: Path, skip_existing: bool) -> None:
    """Create users from a CSV with columns username,email,password[,name][,role].

    role is "admin", "pro" or empty. Every row is checked before any account is created.
    """
    from .errors import ApiError

    settings = _settings(obj)
    with open(csv_file, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"username", "email", "password"} - set(reader.fieldnames or [])
        if missing:
            raise click.ClickException(f"{csv_file}: missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    planned = []
    for line, row in enumerate(rows, start=2):
        role = (row.get("role") or "").strip().lower()
        if role not in ("", "admin", "pro", "member", "student"):
            raise click.ClickException(f"{csv_file}:{line}: unknown role {role!r}")
        try:
            planned.append(_validated_user(
                row["username"].strip(), row["email"].strip(), row["password"], (row.get("name") or "").strip(),
                role == "admin", role == "pro",
            ))
        except click.ClickException as exc:
            raise click.ClickException(f"{csv_file}:{line}: {exc.message}") from None

    async def run(hub):
        created = skipped = 0
        with click.progressbar(planned, label="Creating users", file=sys.stderr) as bar:
            for new in bar:
                try:
                    await hub.accounts.create_user(new)
                    created += 1
                except ApiError as exc:
                    if skip_existing and "already" in exc.detail:
                        skipped += 1
                        continue
                    raise click.ClickException(f"{new.username}: {exc.detail}") from None
        return created, skipped

    created, skipped = asyncio.run(_with_hub(settings, run))
    click.echo(f"created {created} user(s)" + (f", skipped {skipped} existing" if skipped else ""))


@main.command("config-example")
def config_example() -> None:
    """Print a config file documenting every setting (its defaults)."""
    from .config import render_example

    click.echo(render_example(), nl=False)


@main.command()
@click.pass_obj
def doctor(obj: dict[str, Any]) -> None:
    """Check the installation: data dir, database, sandbox, quantum frameworks."""
    settings = _settings(obj)
    from .doctor import run_checks

    ok = True
    for name, good, message in asyncio.run(run_checks(settings)):
        ok &= good
        click.echo(f"[{'ok' if good else 'FAIL'}] {name}: {message}")
    sys.exit(0 if ok else 1)


from .cli_backup import backup as _backup_command, examples as _examples_group, export_bundle as _export_command, import_bundle as _import_command, restore as _restore_command  # noqa: E402

main.add_command(_backup_command)
main.add_command(_restore_command)
main.add_command(_export_command)
main.add_command(_import_command)
main.add_command(_examples_group)

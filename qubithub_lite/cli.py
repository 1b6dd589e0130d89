"""The ``qubithub-lite`` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cli_options import cli_settings as _settings, data_options
from .logs import fields, setup_logging

log = logging.getLogger("qubithub_lite")


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
    host_shown = f"[{settings.server.host}]" if ":" in settings.server.host else settings.server.host
    url = f"http://{host_shown}:{settings.server.port}"
    # Bind before anything starts, so a port in use is one clear line (not a traceback
    # after the database, sandbox and workers came up).
    sock = _listen(settings.server.host, settings.server.port, url)
    sys.setswitchinterval(settings.server.gil_switch_interval_ms / 1000)
    from .api.lifecycle import graceful_shutdown

    app = create_app(settings)
    app.on_shutdown.append(graceful_shutdown)

    async def announce(_: web.Application) -> None:
        log.info("server.started", extra=fields(url=url, data_dir=str(settings.data_dir.resolve()), version=__version__))

    app.on_startup.append(announce)
    app.on_startup.append(_freeze_heap)
    web.run_app(
        app,
        sock=sock,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if settings.server.access_log else None,
        shutdown_timeout=settings.server.shutdown_timeout,
        handle_signals=True,
    )
    log.info("server.stopped")


async def _freeze_heap(_app) -> None:
    """What start-up loaded (modules, schemas, the route table, the hub) lives as long as the
    process: keep it out of the garbage collector's full passes, so one of them scans only what
    requests made since and does not pause the event loop for hundreds of milliseconds (in the
    middle of a completion fanned out to hundreds of sockets, say)."""
    import gc

    gc.collect()
    gc.freeze()


def _listen(host: str, port: int, url: str):
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {url}: unknown host {host!r} ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    try:
        sock = socket.create_server(address, family=family, backlog=1024,
                                    dualstack_ipv6=False)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"cannot listen on {url}: the port is already in use (another qubithub-lite serve?); "
                f"stop it or choose another --port") from None
        if exc.errno == errno.EACCES:
            raise click.ClickException(f"cannot listen on {url}: permission denied (ports below 1024 need "
                                       f"privileges; use --port 8000 or a reverse proxy)") from None
        raise click.ClickException(f"cannot listen on {url}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@data_options
@click.pass_obj
def db_upgrade(obj: dict[str, Any]) -> None:
    """Apply pending schema migrations."""
    settings = _settings(obj)
    if not settings.data_dir.exists():
        click.echo(f"note: creating a new data dir {settings.data_dir.resolve()}", err=True)

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


def _admin(obj: dict[str, Any], work, *, create: bool = False):
    """Run ``work(user_admin, hub)`` on a maintenance hub of the configured data dir (never the
    run queue or sandbox). Domain errors become one clear line; a command that does not create
    accounts never creates a data dir."""
    from .errors import ApiError
    from .maintenance import MaintenanceHub, NoDataDir

    settings = _settings(obj)
    if settings.logging.level == "info":  # a command's own output says what happened (and the audit log)
        setup_logging("warning", settings.logging.format)

    async def run():
        hub = MaintenanceHub(settings, create=create)
        try:
            await hub.start()
            if hub.created_data_dir:
                click.echo(f"note: created a new data dir {settings.data_dir.resolve()}", err=True)
            return await work(hub.user_admin, hub)
        finally:
            await hub.close()

    try:
        return asyncio.run(run())
    except NoDataDir as exc:
        raise click.ClickException(str(exc)) from None
    except ApiError as exc:
        raise click.ClickException(exc.detail) from None


def _admin_call(obj: dict[str, Any], method: str, *args: Any):
    """``_admin`` running one method of the user admin service with ``args``."""
    return _admin(obj, lambda admin, _: getattr(admin, method)(*args))


@main.group()
@data_options
def users() -> None:
    """Manage accounts: create, import a class, list, disable, reset passwords, delete."""


@users.command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="Make the user a site administrator.")
@click.option("--pro", is_flag=True, help="Give the user the pro rate limit.")
@data_options
@click.pass_obj
def users_create(obj, username, email, name, password, admin, pro) -> None:
    """Create one user."""
    new = _validated_user(username, email, password, name, admin, pro)

    async def work(_, hub):
        return await hub.accounts.create_user(new)

    user = _admin(obj, work, create=True)
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
@click.option("--org", "org", metavar="SLUG", help="Enrol every row into this organization.")
@click.option("--credentials", "credentials", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the credentials sheet (CSV; the printable page goes next to it as .html); "
                   "- prints the CSV on stdout.")
@click.option("--dry-run", is_flag=True, help="Check the file and report; create nothing.")
@data_options
@click.pass_obj
def users_import(obj, csv_file: Path, skip_existing: bool, org: str | None, credentials: Path | None,
                 dry_run: bool) -> None:
    """Create a class from a CSV: columns username,email[,password][,name][,role][,org][,org_role].

    All or nothing: every row is checked first (format, duplicates, existing accounts,
    organizations), then every account is created in one transaction. Any common CSV
    dialect is read (comma, semicolon, tab; UTF-8 or UTF-16). role is "admin", "pro" or
    empty (the site role); org/org_role (owner, admin, member) enrol the row into an
    organization, --org enrols every row. Rows without a password get a strong generated
    one; those are written to a credentials sheet (CSV plus a printable HTML page, mode
    0600) whose path is printed.
    """
    from .services.class_csv import (
        ClassFileError, credentials_csv, free_credentials_path, read_class_csv, write_credentials,
    )

    try:
        rows = read_class_csv(csv_file)
    except ClassFileError as exc:
        raise click.ClickException(f"{csv_file}: {exc}") from None
    if not rows:
        raise click.ClickException(f"{csv_file}: no rows")
    org = org.strip().lower() if org else None
    sheet: dict[str, Path] = {}

    async def work(admin, hub):
        from .services.admin import ImportProblems

        try:
            plan = await admin.plan_import(rows, org=org, skip_existing=skip_existing)
        except ImportProblems as exc:
            raise click.ClickException(f"{csv_file}: nothing imported:\n" + "\n".join(
                f"  {csv_file}:{p.removeprefix('line ')}" if p.startswith("line ") else f"  {p}" for p in exc.problems))
        if dry_run:
            return plan, None
        generated = [{"username": r.user.username, "email": r.user.email, "name": r.user.name,
                      "password": r.user.password, "org": r.org or ""} for r in plan.to_create if r.generated]
        if generated and str(credentials) != "-":
            target = credentials or free_credentials_path(csv_file)
            try:
                sheet["csv"], sheet["html"] = write_credentials(target, generated)
            except OSError as exc:
                raise click.ClickException(f"nothing imported: cannot write the credentials sheet {target}: "
                                           f"{exc.strerror or exc} (choose --credentials FILE, or - for stdout)") from None
        try:
            with click.progressbar(length=len(plan.to_create), label="Hashing passwords", file=sys.stderr) as bar:
                result = await admin.run_import(plan, progress=bar.update)
        except BaseException:
            for path in sheet.values():  # nothing was created: the sheet would lie
                path.unlink(missing_ok=True)
            sheet.clear()
            raise
        if generated and str(credentials) == "-":
            click.echo(credentials_csv(generated), nl=False)
        return plan, result

    plan, result = _admin(obj, work, create=not dry_run)
    if result is None:
        click.echo(f"{csv_file}: {len(plan.rows)} row(s) OK; would create {len(plan.to_create)}"
                   + (f", skip {plan.skipped} existing" if plan.skipped else "") + " (dry run: nothing created)")
        return
    click.echo(f"created {result['created']} user(s)" + (f", skipped {result['skipped']} existing" if result["skipped"] else "")
               + (f", enrolled {result['enrolled']}" if result["enrolled"] else "")
               + (f", created {result['organizations_created']} organization(s)" if result["organizations_created"] else ""),
               err=str(credentials) == "-")  # stdout is the sheet then
    if sheet:
        click.echo(f"credentials sheet (generated passwords): {sheet['csv']} and {sheet['html']} (print it, then delete both)")


def _echo_users(rows: list[dict[str, Any]], as_json: bool) -> None:
    import json

    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    headers = ("username", "email", "name", "admin", "pro", "status", "created")
    table = [(r["username"], r["email"], r["name"], "yes" if r["is_admin"] else "", "yes" if r["is_pro"] else "",
              "disabled" if r["disabled"] else "active", str(r["created_at"])[:10]) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


@users.command("list")
@click.option("--search", help="Part of a username, email or name.")
@click.option("--status", type=click.Choice(["active", "disabled"]), help="Only active or only disabled accounts.")
@click.option("--role", type=click.Choice(["admin", "pro", "member"]), help="Only this site role.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@data_options
@click.pass_obj
def users_list(obj, search, status, role, limit, as_json) -> None:
    """List accounts (a table, or --json)."""
    from .services.admin import user_dict

    async def work(admin, _):
        total, rows = await admin.list(search=search, status=status, role=role, limit=limit)
        return total, [user_dict(u) for u in rows]

    total, rows = _admin(obj, work)
    _echo_users(rows, as_json)
    if not as_json and total > len(rows):
        click.echo(f"({len(rows)} of {total} shown: use --limit or --search)", err=True)


@users.command("show")
@click.argument("user")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@data_options
@click.pass_obj
def users_show(obj, user, as_json) -> None:
    """Show one account (username, email or id): roles, organizations, what it owns."""
    import json

    async def work(admin, _):
        return await admin.describe(await admin.find(user))

    data = _admin(obj, work)
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2))
        return
    for key in ("username", "email", "name", "id", "is_admin", "is_pro", "disabled", "disabled_at", "created_at",
                "circuits", "datasets", "spaces", "runs", "api_keys"):
        click.echo(f"{key + ':':13} {data[key] if data[key] is not None else '-'}")
    orgs = ", ".join(f"{o['slug']} ({o['role']}{', personal' if o['is_personal'] else ''})" for o in data["organizations"])
    click.echo(f"{'organizations:':13} {orgs or '-'}")


def _each(obj, names, change, done: str) -> None:
    async def work(admin, _):
        return [await change(admin, name) for name in names]

    for user in _admin(obj, work):
        click.echo(f"{done} {user.username}")


def _each_command(name: str, help_text: str, change, done: str):
    """``qubithub-lite users <name> NAMES...``: ``change(admin, name)`` for each account, one line each."""

    @users.command(name, help=help_text)
    @click.argument("names", nargs=-1, required=True)
    @data_options
    @click.pass_obj
    def command(obj, names) -> None:
        _each(obj, names, change, done)

    return command


users_disable = _each_command("disable", "Disable accounts: their sessions end and their API keys are refused at once.",
                              lambda a, n: a.set_active(n, False), "disabled")
users_enable = _each_command("enable", "Enable disabled accounts again (they log in anew; their API keys work again).",
                             lambda a, n: a.set_active(n, True), "enabled")
users_promote = _each_command("promote", "Make accounts site administrators.",
                              lambda a, n: a.set_admin(n, True), "promoted")
users_demote = _each_command("demote", "Take site administration away (never from the last active administrator).",
                             lambda a, n: a.set_admin(n, False), "demoted")


@users.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@data_options
@click.pass_obj
def users_delete(obj, user, yes) -> None:
    """Delete an account. Their personal circuits, datasets, spaces and runs are deleted (blobs
    released); what they made in a shared organization passes to its owner; their stars,
    memberships, sessions and keys go. Refused for the only owner of a shared organization."""
    if not yes:
        click.confirm(f"Delete {user} and everything they own personally?", abort=True)

    summary = _admin_call(obj, "delete", user)
    click.echo(f"deleted {user}: " + ", ".join(f"{v} {k}" for k, v in summary.items()))


@users.command("set-password")
@click.argument("user")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@data_options
@click.pass_obj
def users_set_password(obj, user, password) -> None:
    """Set an account's password (prompted); every session of theirs ends."""
    changed, _, ended = _admin_call(obj, "set_password", user, password)
    click.echo(f"password of {changed.username} set; {ended} session(s) ended")


@users.command("reset-password")
@click.argument("user")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the generated password to this file (mode 0600) instead of printing it.")
@data_options
@click.pass_obj
def users_reset_password(obj, user, output) -> None:
    """Give an account a generated password (printed, or written to --output); every session ends."""
    changed, password, ended = _admin_call(obj, "set_password", user, None)
    if output is not None:
        from .services.class_csv import write_private

        write_private(output, password + "\n")
        click.echo(f"new password of {changed.username} written to {output}; {ended} session(s) ended")
    else:
        click.echo(password)
        click.echo(f"(new password of {changed.username}; {ended} session(s) ended)", err=True)


@main.command("config-example")
def config_example() -> None:
    """Print a config file documenting every setting (its defaults)."""
    from .config import render_example

    click.echo(render_example(), nl=False)


@main.command()
@data_options
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

"""Options shared by the ``qubithub-lite`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .config import ConfigError, Settings, load_settings
from .logs import setup_logging


class ConfigUsageError(click.ClickException):
    """A bad setting: one line, exit status 2 (like a bad command-line option)."""

    exit_code = 2


def cli_settings(ctx_obj: dict[str, Any], **server: Any) -> Settings:
    """The settings a command runs with: the config file and ``--data-dir`` from the command
    line (``ctx_obj``), then ``server`` overrides; logging set up from them."""
    overrides = {"server": {k: v for k, v in server.items() if v is not None}}
    if ctx_obj.get("data_dir") is not None:
        overrides["server"]["data_dir"] = ctx_obj["data_dir"]
    try:
        settings = load_settings(ctx_obj.get("config"), overrides)
    except ConfigError as exc:
        raise ConfigUsageError(str(exc)) from None
    setup_logging(settings.logging.level, settings.logging.format)
    return settings


def _store_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--data-dir``/``--config`` after a subcommand: the same as before it (and wins)."""
    if value is not None:
        ctx.ensure_object(dict)[param.name] = value
    return value


def data_options(fn):
    """Accept ``--data-dir`` and ``--config`` after the subcommand too (same resolution as serve)."""
    fn = click.option("--data-dir", "data_dir", type=click.Path(file_okay=False, path_type=Path), expose_value=False,
                      callback=_store_option, is_eager=True, help="Data directory (as given to serve).")(fn)
    return click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), expose_value=False,
                        callback=_store_option, is_eager=True, help="TOML config file (as given to serve).")(fn)

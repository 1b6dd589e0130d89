"""Options shared by the ``qubithub-lite`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


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

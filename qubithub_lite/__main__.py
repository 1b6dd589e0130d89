"""The entry point of ``python -m qubithub_lite`` and of the PyInstaller binary
(``packaging/entry.py``): the CLI, or Python (when frozen, or with ``python-compat``; see
:mod:`qubithub_lite.frozen`). It decides before the CLI (and its imports) is loaded."""

from __future__ import annotations

import sys

from .frozen import PYTHON_COMPAT, is_frozen, python_argv, run_python


def cli_commands() -> set[str]:
    """The CLI's command names (loads the CLI)."""
    from .cli import main

    return set(main.commands)  # type: ignore[attr-defined]


def entry(argv: list[str] | None = None) -> None:
    """The CLI, or Python (frozen, or with ``python-compat``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [PYTHON_COMPAT] or is_frozen():
        interpreter = python_argv(argv, cli_commands)
        if interpreter is not None:
            sys.exit(run_python(interpreter))
    from .cli import main

    main(args=argv, prog_name="qubithub-lite")


if __name__ == "__main__":
    entry()

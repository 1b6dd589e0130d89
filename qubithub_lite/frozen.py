"""Running as a PyInstaller one-file binary (``packaging/``).

The server starts helper Python processes with ``sys.executable``: simulator workers
(``-m qubithub_lite.jobs.simworker``), calibration (``-m qubithub_lite.backends.calibration``)
and, inside the sandbox, the warm runner (``-I -B -c SOURCE``) and probes. In a frozen binary
``sys.executable`` is the binary itself, which runs the CLI, so those commands go through a
hidden mode of the binary instead::

    qubithub-lite python-compat [-I] [-B] ... (-c CODE | -m MODULE | SCRIPT) [ARGS ...]

:func:`python_command` builds the right argv in both cases. :func:`entry` is what
``python -m qubithub_lite`` and the binary run: it handles ``python-compat`` before the CLI
(and its imports) is loaded.
"""

from __future__ import annotations

import os
import sys

#: The hidden first argument of the binary that makes it behave like ``python``.
PYTHON_COMPAT = "python-compat"

#: Environment variables with which a child of a one-file binary reuses the parent's
#: unpacked bundle (``sys._MEIPASS``) instead of unpacking it again (PyInstaller ≥ 6.10).
_BOOTLOADER_ENV = ("_PYI_ARCHIVE_FILE", "_PYI_APPLICATION_HOME_DIR", "_PYI_PARENT_PROCESS_LEVEL")


def is_frozen() -> bool:
    """True when running from a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def is_frozen_interpreter(python: str | None = None) -> bool:
    """True when ``python`` (default ``sys.executable``) is this frozen binary."""
    return is_frozen() and (python is None or _same_file(python, sys.executable))


def python_command(*args: str, python: str | None = None) -> list[str]:
    """argv that runs ``python *args``: ``[python or sys.executable, *args]``, except when
    that interpreter is this frozen binary: ``[binary, "python-compat", *args]``."""
    if is_frozen_interpreter(python):
        return [sys.executable, PYTHON_COMPAT, *args]
    return [python or sys.executable, *args]


def bundle_paths() -> list[str]:
    """Host paths a sandboxed child of the frozen binary needs (bound read-only): the
    unpacked bundle and the binary itself (the bootloader re-reads its archive)."""
    if not is_frozen():
        return []
    return [os.path.realpath(sys._MEIPASS), os.path.realpath(sys.executable)]  # type: ignore[attr-defined]


def child_env() -> dict[str, str]:
    """Variables a child started with a cleared environment (the sandbox) needs to reuse
    this process's unpacked bundle: the bootloader's own and a library path limited to
    the bundle. Empty when not frozen."""
    if not is_frozen():
        return {}
    env = {name: os.environ[name] for name in _BOOTLOADER_ENV if name in os.environ}
    env["LD_LIBRARY_PATH"] = os.path.realpath(sys._MEIPASS)  # type: ignore[attr-defined]
    return env


# --- the ``python-compat`` mode ----------------------------------------------------------

_FLAGS_WITH_VALUE = "XWQ"
_IGNORED_FLAGS = "IEsSPqOdRv"


def python_compat(argv: list[str]) -> int:
    """Run ``argv`` (without the interpreter) the way ``python`` would: ``-c CODE``,
    ``-m MODULE`` or ``SCRIPT``, each with its arguments. Supports the flags the server
    uses (``-I``, ``-B``, ``-u``); other single-letter flags are accepted and ignored."""
    import runpy

    i = 0
    isolated = False
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--"):
        arg = argv[i]
        if arg[:2] in ("-c", "-m"):
            break
        flags = arg[1:]
        i += 1
        for pos, flag in enumerate(flags):
            if flag in _FLAGS_WITH_VALUE:
                if pos == len(flags) - 1:
                    i += 1  # value is the next argument
                break
            if flag in "cm":
                raise SystemExit(f"{PYTHON_COMPAT}: -{flag} must be a separate argument")
            if flag == "B":
                sys.dont_write_bytecode = True
            elif flag == "u":
                for stream in (sys.stdout, sys.stderr):
                    stream.reconfigure(write_through=True)  # type: ignore[union-attr]
            elif flag == "I":
                isolated = True
            elif flag not in _IGNORED_FLAGS:
                raise SystemExit(f"{PYTHON_COMPAT}: unsupported option -{flag}")
    if i < len(argv) and argv[i] == "--":
        i += 1
    if i >= len(argv):
        raise SystemExit(f"usage: {PYTHON_COMPAT} [-I] [-B] [-u] (-c CODE | -m MODULE | SCRIPT) [ARGS ...]")
    arg = argv[i]
    if arg.startswith("-c"):
        code, rest = (arg[2:], argv[i + 1:]) if len(arg) > 2 else (argv[i + 1], argv[i + 2:])
        import types

        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = main
        sys.argv = ["-c", *rest]
        if not isolated:
            sys.path.insert(0, "")
        exec(compile(code, "<string>", "exec"), main.__dict__)
    elif arg.startswith("-m"):
        module, rest = (arg[2:], argv[i + 1:]) if len(arg) > 2 else (argv[i + 1], argv[i + 2:])
        sys.argv = [module, *rest]  # runpy replaces argv[0] with the module's file
        if not isolated:
            sys.path.insert(0, os.getcwd())
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [arg, *argv[i + 1:]]
        if not isolated:
            sys.path.insert(0, os.path.dirname(os.path.abspath(arg)))
        runpy.run_path(arg, run_name="__main__")
    return 0


def entry(argv: list[str] | None = None) -> None:
    """``python -m qubithub_lite`` and the frozen binary: the CLI, or ``python-compat``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [PYTHON_COMPAT]:
        sys.exit(python_compat(argv[1:]))
    from .cli import main

    main(args=argv, prog_name="qubithub-lite")

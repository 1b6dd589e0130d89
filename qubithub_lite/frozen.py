"""Running as a PyInstaller one-file binary (``packaging/``).

The server starts helper Python processes with ``sys.executable``: simulator workers
(``-m qubithub_lite.jobs.simworker``), calibration (``-m qubithub_lite.backends.calibration``)
and, inside the sandbox, the warm runner (``-I -B -c SOURCE``) and probes. In a frozen binary
``sys.executable`` is the binary itself, so the binary also behaves as a Python interpreter:
when its first argument is not a CLI command or option, it runs it the way ``python`` would::

    qubithub-lite [-I] [-B] [-u] ... (-c CODE | -m MODULE | SCRIPT | -) [ARGS ...]
    qubithub-lite --multiprocessing-fork KEY=VALUE ...    # multiprocessing's spawn children
    qubithub-lite python-compat ...                        # the same, explicitly

so that user code in a space that starts ``sys.executable -c …`` (subprocess, multiprocessing
with the spawn or forkserver start method, its resource tracker) gets a Python, not the CLI.
The CLI has no single-dash option at the top level, so a first argument that starts with one
dash is always Python's; a first argument that names a file is a script unless it is a CLI
command. :func:`python_argv` decides (given the CLI's command names); the entry point that
``python -m qubithub_lite`` and the binary run (``qubithub_lite/__main__.py``'s ``entry``)
dispatches with it before the CLI (and its imports) is loaded. This module imports nothing of
the package: it is a leaf every layer may use.
:func:`python_command` builds the server's own helper commands (``python-compat`` first when
frozen, which keeps them unambiguous).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Container

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
_IGNORED_FLAGS = "IEsSPqOdRvb"


def _usage(message: str) -> SystemExit:
    print(f"{message}\nusage: qubithub-lite [-I] [-B] [-u] (-c CODE | -m MODULE | SCRIPT | -) [ARGS ...]",
          file=sys.stderr)
    return SystemExit(2)


def python_compat(argv: list[str]) -> int:
    """Run ``argv`` (without the interpreter) the way ``python`` would: ``-c CODE``,
    ``-m MODULE``, ``SCRIPT`` or ``-`` (stdin), each with its arguments. Supports the flags
    the server and multiprocessing use (``-I``, ``-B``, ``-u``; ``-W``/``-X`` take a value),
    also combined (``-IBc CODE``); other single-letter flags are accepted and ignored."""
    import runpy

    i = 0
    isolated = False
    mode = None  # ("c" | "m", value) once found
    while mode is None and i < len(argv) and argv[i].startswith("-") and argv[i] != "-" and not argv[i].startswith("--"):
        flags = argv[i][1:]
        i += 1
        for pos, flag in enumerate(flags):
            if flag in "cm":
                value = flags[pos + 1:]
                if not value:
                    if i >= len(argv):
                        raise _usage(f"Argument expected for the -{flag} option")
                    value = argv[i]
                    i += 1
                mode = (flag, value)
                break
            if flag in _FLAGS_WITH_VALUE:
                if pos == len(flags) - 1:
                    i += 1  # value is the next argument
                break
            if flag == "B":
                sys.dont_write_bytecode = True
            elif flag == "u":
                for stream in (sys.stdout, sys.stderr):
                    stream.reconfigure(write_through=True)  # type: ignore[union-attr]
            elif flag == "I":
                isolated = True
            elif flag not in _IGNORED_FLAGS:
                raise _usage(f"Unknown option: -{flag}")
    if mode is None and i < len(argv) and argv[i] == "--":
        i += 1
    rest = argv[i:]
    if mode is None and not rest:
        raise _usage("no interactive interpreter in the binary: give -c, -m, a script or -")
    if mode is not None and mode[0] == "m":
        sys.argv = [mode[1], *rest]  # runpy replaces argv[0] with the module's file
        if not isolated:
            sys.path.insert(0, os.getcwd())
        runpy.run_module(mode[1], run_name="__main__", alter_sys=True)
        return 0
    if mode is not None or rest[0] == "-":
        import types

        if mode is not None:
            code, name, sys.argv = mode[1], "<string>", ["-c", *rest]
        else:
            code, name, sys.argv = sys.stdin.read(), "<stdin>", ["-", *rest[1:]]
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = main
        if not isolated:
            sys.path.insert(0, "")
        exec(compile(code, name, "exec"), main.__dict__)
        return 0
    script = rest[0]
    if not os.path.exists(script):
        print(f"qubithub-lite: can't open file {os.path.abspath(script)!r}: [Errno 2] No such file or directory",
              file=sys.stderr)
        return 2
    sys.argv = list(rest)
    if not isolated:
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


#: The option multiprocessing's spawn start method gives a frozen executable
#: (``multiprocessing.spawn.get_command_line`` when ``sys.frozen`` is set).
MULTIPROCESSING_FORK = "--multiprocessing-fork"

_SCRIPT_SUFFIXES = (".py", ".pyc", ".pyw", ".pyz", ".zip")


def python_argv(argv: list[str], cli_commands: Callable[[], Container[str]]) -> list[str] | None:
    """The interpreter arguments when ``argv`` (the binary's arguments) asks for Python
    rather than the CLI, else None. ``python-compat`` forces Python; multiprocessing's
    ``--multiprocessing-fork`` is passed through as it is. ``cli_commands`` gives the CLI's
    command names; it is called only when a first argument names an existing file (so the
    CLI is not loaded for the common cases)."""
    if not argv:
        return None
    first = argv[0]
    if first == PYTHON_COMPAT:
        return argv[1:]
    if first == MULTIPROCESSING_FORK:
        return argv
    if first == "-" or (first.startswith("-") and not first.startswith("--")):
        return argv  # -c, -m, -I, -B, -u, -W…, -X…: the CLI has no short options here
    if first.endswith(_SCRIPT_SUFFIXES) or os.sep in first:
        return argv if os.path.exists(first) else None
    if os.path.isfile(first) and first not in cli_commands():
        return argv
    return None


def _multiprocessing_child(argv: list[str]) -> int:
    """A child of multiprocessing's spawn start method (what ``freeze_support`` does)."""
    import multiprocessing.spawn

    kwds: dict[str, int | None] = {}
    for arg in argv[1:]:
        name, _, value = arg.partition("=")
        kwds[name] = None if value == "None" else int(value)
    multiprocessing.spawn.spawn_main(**kwds)  # exits
    return 0


def run_python(argv: list[str]) -> int:
    """Run interpreter arguments (see :func:`python_argv`); uncaught exceptions are printed
    like Python prints them, without this module's frames, and give exit status 1."""
    if argv[:1] == [MULTIPROCESSING_FORK]:
        return _multiprocessing_child(argv)
    try:
        return python_compat(argv)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 (the interpreter's own top level)
        import traceback

        tb = exc.__traceback__
        # (a frozen module's co_filename is relative, so frames are told by their module name)
        while tb is not None and tb.tb_frame.f_globals.get("__name__") in (__name__, "runpy"):
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1


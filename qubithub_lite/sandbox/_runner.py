"""Warm interpreter that runs INSIDE a sandbox (its source is passed with ``python -c``).

Protocol: argv[1] is JSON ``{"status_fd": int, "preload": [module, ...]}``. The runner
imports the preload modules with stdout/stderr sent to /dev/null, writes
``{"ready": true, ...}`` as one line to the status fd, then reads ONE job as a JSON line
on stdin: ``{"cwd", "env", "argv", "code" | "script", "limits"}``.

It then forks. The child closes the status fd, applies the job's rlimits, environment and
work dir and runs the code as ``__main__``; the parent (not dumpable, so the child can
neither ptrace it nor open its /proc files or descriptors) waits for the child and writes
``{"done": true, "exit": int, "kind": "memory" | "file_size" | null}`` before exiting with
the child's status. The user's code never holds the protocol descriptor and never shares
memory with the process that writes the status; the only thing it can tell the parent is
one byte through a pipe, naming the limit it hit. Each runner serves exactly one job.
"""

import errno
import importlib
import json
import os
import resource
import signal
import sys
import threading
import traceback
import types


def _preload(modules):
    errors = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # reported to the host, the job sees the ImportError itself
            errors[name] = repr(exc)
    return errors


def _apply_limits(limits):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    cpu = spent + limits["cpu"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    for name, value in (
        ("RLIMIT_AS", limits["as"]),
        ("RLIMIT_FSIZE", limits["fsize"]),
        ("RLIMIT_NPROC", limits["nproc"]),
        ("RLIMIT_NOFILE", limits["nofile"]),
        ("RLIMIT_CORE", 0),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))


def _exit_code(exc):
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run(job):
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    if job.get("script"):
        main.__file__ = job["script"]
        with open(job["script"], "rb") as handle:
            source = handle.read()
        code = compile(source, job["script"], "exec")
    else:
        code = compile(job["code"], "<string>", "exec")
    exec(code, main.__dict__)


PR_SET_DUMPABLE = 4
#: Signals the supervising parent ignores, so the user's code can stop it only with
#: SIGKILL or SIGSTOP (which end or stall the job itself, cleanly).
PARENT_IGNORES = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                  "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGXCPU", "SIGXFSZ")
#: Bound before any user code runs: the user's code may replace the ``os`` attributes.
_EXIT, _WRITE, _CLOSE = os._exit, os.write, os.close
#: What the child may tell the parent (one byte each): the limit its exception showed.
KINDS = {b"m": "memory", b"f": "file_size"}


def _set_dumpable(value):
    """prctl(PR_SET_DUMPABLE): a non-dumpable process cannot be ptraced, and its /proc
    files (fd, mem, environ) belong to root, by a process without capabilities."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _child(job, kind_w):
    """Runs the user's code; never returns."""
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.argv = job["argv"]
    sys.path.insert(0, job["cwd"])
    _set_dumpable(1)
    _apply_limits(job["limits"])
    code = 0
    try:
        _run(job)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:  # report like the interpreter would, plus the limit seen
        kind = None
        if isinstance(exc, MemoryError):
            kind = b"m"
        elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            kind = b"f"
        if kind is not None:
            try:
                _WRITE(kind_w, kind)
            except OSError:
                pass
        try:  # like the interpreter would: from the user's code on, without our frames
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_name in ("_child", "_run"):
                tb = tb.tb_next
            traceback.print_exception(type(exc), exc, tb)
        except BaseException:
            pass
        code = 1
    try:
        _CLOSE(kind_w)
    except OSError:
        pass
    try:  # the user's own interpreter: whatever its code did to these is its business
        threading._shutdown()  # wait for non-daemon threads, like a normal interpreter exit
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _EXIT(code & 0xFF)


def _supervise(pid, kind_r, status):
    """The parent: wait for the child, then report. Never runs user code."""
    while True:
        try:
            _, wait_status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            wait_status = 1 << 8
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:
        code = 128 - code  # killed by signal N: 128 + N, like a shell (and bwrap) reports
    kind = None
    try:
        os.set_blocking(kind_r, False)
        kind = KINDS.get(os.read(kind_r, 2))
    except OSError:
        pass
    try:
        status.write(json.dumps({"done": True, "exit": code, "kind": kind}) + "\n")
        status.flush()
    except (OSError, ValueError):
        pass
    os._exit(code & 0xFF)


def main():
    config = json.loads(sys.argv[1])
    status = os.fdopen(config["status_fd"], "w", buffering=1)
    os.set_inheritable(config["status_fd"], False)
    saved_out, saved_err = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    errors = _preload(config["preload"])
    sys.stdout.flush()
    sys.stderr.flush()
    status.write(json.dumps({"ready": True, "preload_errors": errors}) + "\n")
    line = sys.stdin.buffer.readline()
    if not line:
        os._exit(0)
    job = json.loads(line)
    os.dup2(devnull, 0)
    kind_r, kind_w = os.pipe()
    _set_dumpable(0)  # before the fork: the child never sees a dumpable parent
    saved = {}
    for name in PARENT_IGNORES:  # before the fork too: no window for the child's signals
        number = getattr(signal, name, None)
        if number is not None:
            saved[number] = signal.signal(number, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        for number, handler in saved.items():
            signal.signal(number, handler)
        status_fd = status.fileno()
        os.close(kind_r)
        os.close(status_fd)  # the protocol descriptor is gone before user code runs
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, devnull):
            os.close(fd)
        try:
            _child(job, kind_w)
        finally:
            _EXIT(1)  # never fall through into the parent's code
    os.close(kind_w)
    for fd in (saved_out, saved_err, devnull):
        os.close(fd)  # the job's output pipes: only the child (and its children) hold them
    _supervise(pid, kind_r, status)


main()

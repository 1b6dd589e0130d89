"""Warm interpreter that runs INSIDE a sandbox (its source is passed with ``python -c``).

Protocol: argv[1] is JSON ``{"status_fd": int, "preload": [module, ...]}``. The runner
imports the preload modules with stdout/stderr sent to /dev/null, writes
``{"ready": true, ...}`` as one line to the status fd, then reads ONE job as a JSON line
on stdin: ``{"cwd", "env", "argv", "code" | "script", "limits"}``. It applies the job's
rlimits, environment and work dir, runs the code as ``__main__`` and writes
``{"done": true, "exit": int, "kind": "memory" | "file_size" | null}`` before exiting.
Each runner serves exactly one job.
"""

import errno
import importlib
import json
import os
import resource
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


def _finish(status, code, kind):
    try:
        status.write(json.dumps({"done": True, "exit": code, "kind": kind}) + "\n")
        status.flush()
    except (OSError, ValueError):
        pass
    threading._shutdown()  # wait for non-daemon threads, like a normal interpreter exit
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
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
    os.dup2(saved_out, 1)
    os.dup2(saved_err, 2)
    for fd in (saved_out, saved_err, devnull):
        os.close(fd)
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.argv = job["argv"]
    sys.path.insert(0, job["cwd"])
    _apply_limits(job["limits"])
    code, kind = 0, None
    try:
        _run(job)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:  # report like the interpreter would, plus the limit seen
        traceback.print_exc()
        code = 1
        if isinstance(exc, MemoryError):
            kind = "memory"
        elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            kind = "file_size"
    _finish(status, code, kind)


main()

"""``qubithub-lite doctor``: what works on this machine."""

from __future__ import annotations

import importlib.util
import os

from .config import Settings


async def run_checks(settings: Settings) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    data_dir = settings.data_dir
    # doctor only reads: it never creates the data dir or the database.
    if data_dir.is_dir():
        writable = os.access(data_dir, os.W_OK)
        results.append(("data dir", writable, f"{data_dir.resolve()} ({'writable' if writable else 'not writable'})"))
    elif data_dir.exists():
        results.append(("data dir", False, f"{data_dir.resolve()} is not a directory"))
    else:
        parent = next((p for p in data_dir.resolve().parents if p.exists()), None)
        can_create = parent is not None and os.access(parent, os.W_OK)
        results.append(("data dir", can_create, f"{data_dir.resolve()} does not exist yet (serve creates it; "
                                                f"{'it can' if can_create else 'it CANNOT: parent not writable'})"))
    from .db import migrate
    from .db.core import open_database, redact_url, scrub_secret

    db_file = settings.database_url.split("///", 1)[-1] if settings.database_url.startswith("sqlite") else None
    if db_file is not None and not os.path.exists(db_file):
        results.append(("database", True, f"{redact_url(settings.database_url)} not created yet (schema {migrate.head_version()} at first start)"))
    else:
        try:
            database = open_database(settings.database_url)
            try:
                version = await migrate.recorded_version(database)
            finally:
                await database.close()
            head = migrate.head_version()
            results.append(("database", version <= head, f"{redact_url(settings.database_url)} schema {version}/{head}"))
        except Exception as exc:  # never the password, even if the driver quotes the URL back
            message = scrub_secret(f"{type(exc).__name__}: {exc}", settings.database_url)
            results.append(("database", False, f"{redact_url(settings.database_url)}: {message}"))
    results += await sandbox_checks(settings)
    for module in ("qiskit", "qiskit_aer", "cirq", "pennylane", "numpy", "pyarrow", "h5py"):
        found = importlib.util.find_spec(module) is not None
        results.append((f"python: {module}", found, "installed" if found else "missing"))
    return results


async def sandbox_checks(settings: Settings) -> list[tuple[str, bool, str]]:
    """Which sandbox driver is active, whether it really starts a sandbox, how processes are capped."""
    import asyncio

    from .sandbox import SandboxUnavailable, get_sandbox
    from .sandbox.registry import resolve_driver_name

    protected = [settings.data_dir, settings.secret_file] + ([settings.config_file] if settings.config_file else [])
    wanted = f"[sandbox] driver = {settings.sandbox.driver!r}"
    try:
        sandbox = await asyncio.to_thread(get_sandbox, settings.sandbox, protected_paths=protected)
    except SandboxUnavailable as exc:
        return [("sandbox", False, f"{wanted} -> {resolve_driver_name(settings.sandbox)}: "
                                   f"UNAVAILABLE, code execution is refused: {exc}"),
                await simulator_check(settings, None, str(exc))]
    try:
        report = await sandbox.doctor()
        simulators = await simulator_check(settings, sandbox)
    finally:
        await sandbox.close()
    isolation = "isolated" if report["isolated"] else "NO ISOLATION (trusted single-user machine only)"
    works = f"works ({isolation})" if report["works"] else f"does NOT work: {report['why']}"
    return [
        ("sandbox", bool(report["works"]), f"{wanted} -> {report['driver']}: {works}"),
        ("sandbox: process limit", True, report["process_limit"]),
        ("sandbox: memory limit", True, report["memory_limit"]),
        simulators,
        ("sandbox: read-only paths", True, ", ".join(report["read_only_paths"]) or "-"),
    ]


async def simulator_check(settings: Settings, sandbox, sandbox_error: str | None = None) -> tuple[str, bool, str]:
    """Where simulations run: the local worker processes (checked in their sandbox), or the
    configured executor (``[runs] executor``): for Dask, its scheduler, reached for real."""
    executor = settings.runs.executor
    if executor == "local":
        from .jobs.workers import probe_workers

        return ("simulator workers", *(await probe_workers(settings, sandbox, sandbox_error)))
    if executor == "dask":
        return ("simulator executor", *(await probe_dask(settings.runs.dask_scheduler)))
    return ("simulator executor", True, f"[runs] executor = {executor!r} (a plugin: not checked here)")


def address_without_credentials(address: str) -> str:
    """A scheduler address as doctor and logs may show it: no user, password, query or fragment."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
    except ValueError:
        return "(unparsable address)"
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else host


def _credentials_of(address: str) -> list[str]:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
    except ValueError:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    return [x for x in (userinfo, parts.password, parts.query) if x]


async def probe_dask(address: str, timeout: float = 10.0) -> tuple[bool, str]:
    """(ok, what doctor shows) about the Dask scheduler at ``address``: connected, how many
    workers; nothing is submitted and no plugin is registered (doctor only reads)."""
    import asyncio

    shown = address_without_credentials(address)
    what = f'[runs] executor = "dask" at {shown}'
    if importlib.util.find_spec("distributed") is None:
        return False, f"{what}: the dask extra is not installed (pip install 'qubithub-lite[dask]')"
    import logging

    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.ERROR)  # doctor prints its own line
    client = None
    try:
        client = Client(address, asynchronous=True, timeout=timeout, set_as_default=False, name="qubithub-lite-doctor")
        await asyncio.wait_for(client, timeout + 5)  # connecting (bounded); closed below either way
        info = await client.scheduler.identity()
        workers = info.get("workers", {}) if isinstance(info, dict) else {}
        threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
        if not workers:
            return False, f"{what}: reachable, but NO workers are connected (runs wait until one is)"
        return True, f"{what}: reachable, {len(workers)} worker(s), {threads} thread(s)"
    except Exception as exc:  # noqa: BLE001 - doctor reports, never raises
        message = f"{type(exc).__name__}: {exc}".replace(address, shown)
        for secret in _credentials_of(address):
            message = message.replace(secret, "***")
        return False, f"{what}: UNREACHABLE ({message[:300]}); runs fail until it is reachable"
    finally:
        if client is not None:
            try:
                await client.close()
            except Exception:  # noqa: BLE001
                pass

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
        from .jobs.workers import probe_workers

        return [("sandbox", False, f"{wanted} -> {resolve_driver_name(settings.sandbox)}: "
                                   f"UNAVAILABLE, code execution is refused: {exc}"),
                ("simulator workers", *(await probe_workers(settings, None, str(exc))))]
    try:
        report = await sandbox.doctor()
        from .jobs.workers import probe_workers

        workers = await probe_workers(settings, sandbox)
    finally:
        await sandbox.close()
    isolation = "isolated" if report["isolated"] else "NO ISOLATION (trusted single-user machine only)"
    works = f"works ({isolation})" if report["works"] else f"does NOT work: {report['why']}"
    return [
        ("sandbox", bool(report["works"]), f"{wanted} -> {report['driver']}: {works}"),
        ("sandbox: process limit", True, report["process_limit"]),
        ("sandbox: memory limit", True, report["memory_limit"]),
        ("simulator workers", *workers),
        ("sandbox: read-only paths", True, ", ".join(report["read_only_paths"]) or "-"),
    ]

"""/backends: the registry of drivers, and calibration of emulated/hardware devices."""

from __future__ import annotations

from ..errors import NotFound, ServiceUnavailable
from ..schemas.runs import BackendList
from .routing import Ctx, Router

router = Router("backends")


@router.get("/backends", response=BackendList)
async def list_backends(ctx: Ctx):
    """Every backend driver with type, status, qubit limit, frameworks and queue length."""
    return {"backends": await ctx.hub.runs.backend_infos(), "total": len(ctx.hub.runs.backends())}


@router.get("/backends/{backend_id}/calibration/latest", errors=(503,))
async def backend_calibration(ctx: Ctx):
    """Latest calibration (qubit T1/T2, readout error, gate errors and durations)."""
    from ..backends.base import BackendError
    from ..backends.calibration import fetch_calibration

    name = ctx.path["backend_id"]
    if name not in ctx.hub.runs.backends():
        raise NotFound(f"unknown backend {name!r}")
    try:
        data = await fetch_calibration(name)
    except BackendError as exc:
        raise ServiceUnavailable(exc.message) from None
    if data is None:
        raise NotFound(f"{name} is an ideal simulator: it has no calibration data")
    return data

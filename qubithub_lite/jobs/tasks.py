"""Small asyncio helpers the jobs share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended, whatever it raised."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class HealthResponse(BaseModel):
    status: str
    version: str
    database: dict[str, Any]
    queue: dict[str, Any]
    components: dict[str, Any] = {}

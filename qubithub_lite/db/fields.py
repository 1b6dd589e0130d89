"""Portable column types (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from peewee import CharField, TextField


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    """Naive UTC timestamp (the API renders it as ISO 8601)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class IdField(CharField):
    """A UUID stored as its 36-character text form."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("max_length", 36)
        super().__init__(*args, **kwargs)


class JSONField(TextField):
    """JSON stored as text; ``None`` stays NULL."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)

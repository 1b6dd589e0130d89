"""Helpers for the format tests: every file is generated in tmp_path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qubithub_lite.formats import Preview


def assert_json_safe(preview: Preview) -> dict[str, Any]:
    """The preview body must survive strict JSON (no NaN/Inf, only JSON types)."""
    body = preview.to_dict()
    text = json.dumps(body, allow_nan=False)
    assert json.loads(text) == body
    assert set(body["dataset_schema"]) == set(body["columns"])
    assert len(set(body["columns"])) == len(body["columns"])
    for row in body["rows"]:
        assert len(row) == len(body["columns"])
    return body


@pytest.fixture
def write_bytes(tmp_path):
    def _write(name: str, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write

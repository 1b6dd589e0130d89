"""Helpers for the format tests: every file is generated in tmp_path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qubithub_lite.formats import FormatError, Preview, count_rows, sniff


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


def assert_refused(path, fmt: str, match: str, *, counting_too: bool = False) -> None:
    """The upload check (``sniff``) refuses the file saying ``match``; with ``counting_too``,
    so does the full counting pass."""
    with pytest.raises(FormatError, match=match):
        sniff(path, fmt)
    if counting_too:
        with pytest.raises(FormatError, match=match):
            count_rows(path, fmt)


@pytest.fixture
def write_bytes(tmp_path):
    def _write(name: str, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write

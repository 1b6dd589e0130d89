from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from decimal import Decimal

import numpy as np

from qubithub_lite.formats import to_jsonable


def test_non_finite_floats_become_null():
    assert to_jsonable(float("nan")) is None
    assert to_jsonable(float("inf")) is None
    assert to_jsonable(np.float32("-inf")) is None
    assert to_jsonable(1.5) == 1.5


def test_numpy_scalars_become_python():
    values = [np.int64(7), np.uint8(3), np.bool_(True), np.float16(0.5), np.str_("s")]
    out = [to_jsonable(v) for v in values]
    assert out == [7, 3, True, 0.5, "s"]
    assert [type(v) for v in out] == [int, int, bool, float, str]
    assert to_jsonable(np.complex64(1 - 2j)) == [1.0, -2.0]


def test_bytes_dates_decimals_uuid():
    assert to_jsonable(b"bell") == "bell"
    assert base64.b64decode(to_jsonable(b"\xff\x00")) == b"\xff\x00"
    assert to_jsonable(dt.date(2024, 2, 29)) == "2024-02-29"
    assert to_jsonable(dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc)) == "2024-01-01T12:00:00+00:00"
    assert to_jsonable(np.datetime64("2024-01-01T00:00:01")) == "2024-01-01T00:00:01"
    assert to_jsonable(np.datetime64("NaT")) is None
    assert to_jsonable(Decimal("1.25")) == 1.25
    assert to_jsonable(Decimal("12345678901234567890.5")) == "12345678901234567890.5"
    assert to_jsonable(Decimal("NaN")) is None
    u = uuid.uuid4()
    assert to_jsonable(u) == str(u)


def test_nested_values_are_converted_recursively():
    value = {"a": [np.float64("nan"), (1, b"x")], 2: {"d": dt.date(2020, 1, 1)}, "arr": np.arange(3)}
    out = to_jsonable(value)
    assert out == {"a": [None, [1, "x"]], "2": {"d": "2020-01-01"}, "arr": [0, 1, 2]}
    json.dumps(out, allow_nan=False)


def test_big_cells_are_cut():
    assert len(to_jsonable("x" * 100_000)) < 2_000
    long_list = to_jsonable(list(range(10_000)))
    assert long_list[:3] == [0, 1, 2] and long_list[-1] == "…" and len(long_list) < 200
    deep: list = []
    cur = deep
    for _ in range(100):
        cur.append([])
        cur = cur[0]
    json.dumps(to_jsonable(deep))  # bounded depth, no RecursionError
    assert math.isfinite(to_jsonable(np.float64(1e308)))

"""Helpers for the dataset tests: small files of every format, generated in memory or tmp."""

from __future__ import annotations

import asyncio
import io
import json
import time

import aiohttp
import numpy as np

CSV = b"qubit_0,qubit_1,label\n0.707,0.293,bell\n0.5,0.5,ghz\n0.25,0.75,w\n"


def csv_bytes(rows: int = 3, delimiter: str = ",") -> bytes:
    out = io.StringIO()
    out.write(delimiter.join(["bond_distance", "energy", "label"]) + "\n")
    for i in range(rows):
        out.write(delimiter.join([f"{0.5 + i * 0.01:.2f}", f"{-1.1 + i * 0.001:.4f}", f"s{i}"]) + "\n")
    return out.getvalue().encode()


def json_records(rows: int = 3) -> bytes:
    return json.dumps([{"shot": i, "bits": f"{i % 4:02b}", "p": i / 10} for i in range(rows)]).encode()


def jsonl_records(rows: int = 3) -> bytes:
    return "".join(json.dumps({"shot": i, "bits": f"{i % 4:02b}"}) + "\n" for i in range(rows)).encode()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=array.dtype == object)
    return buf.getvalue()


def parquet_bytes(rows: int = 5) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"qubit_0": [i / rows for i in range(rows)], "label": [f"l{i}" for i in range(rows)],
                      "shots": list(range(rows))})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def hdf5_bytes(tmp_path, *, with_data: bool = True) -> bytes:
    import h5py

    path = tmp_path / f"f{time.monotonic_ns()}.h5"
    with h5py.File(path, "w") as f:
        grp = f.create_group("experiment")
        grp.attrs["note"] = "tomography"
        if with_data:
            grp.create_dataset("shots", data=np.arange(20, dtype=np.float64).reshape(10, 2))
    return path.read_bytes()


def form(name: str, content: bytes, field: str = "file") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field(field, content, filename=name, content_type="application/octet-stream")
    return data


async def create(client, user, name="tomography", fmt="csv", expect=201, **extra):
    body = {"name": name, "title": extra.pop("title", name.replace("-", " ").title()), "format": fmt}
    body.update(extra)
    resp = await client.post("/datasets", json=body, headers=user.headers)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def upload(client, user, dataset_id, name, content, message=None, expect=201):
    params = {"commit_message": message} if message else {}
    resp = await client.post(f"/datasets/{dataset_id}/versions", data=form(name, content), params=params,
                             headers=user.headers)
    body = await resp.json()
    assert resp.status == expect, body
    return body


async def eventually(check, timeout: float = 5.0):
    """Poll ``await check()`` until it returns truthy (download counts land after the last byte is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)

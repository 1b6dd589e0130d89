"""Helpers for the circuit tests."""

from __future__ import annotations

import aiohttp

CIRCUIT_PY = b"from qiskit import QuantumCircuit\n\ndef create_circuit():\n    qc = QuantumCircuit(2)\n    qc.h(0)\n    qc.cx(0, 1)\n    qc.measure_all()\n    return qc\n\ncircuit = create_circuit()\n"

MANIFEST = b"""schema_version = "1.0.0"

[project]
name = "bell"
title = "Bell from manifest"
type = "circuit"
framework = "qiskit"
entry_point = "circuit.py"
qubits = 2
depth = 3
gates = ["H", "CX"]
tags = ["entanglement", "bell"]
category = "foundations"
difficulty = "beginner"
description = "Two qubits, maximally entangled."

[execution]
default_backend = "qiskit_aer"
default_shots = 2048
"""


async def create(client, user, name="bell", **extra):
    body = {"name": name, "title": extra.pop("title", name.title()), "framework": extra.pop("framework", "qiskit")}
    body.update(extra)
    resp = await client.post("/circuits", json=body, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def form(*files: tuple[str, bytes], field: str = "files") -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, content in files:
        data.add_field(field, content, filename=name, content_type="application/octet-stream")
    return data


async def upload(client, user, circuit_id, name, content, message=None, expect=201):
    params = {"commit_message": message} if message else {}
    resp = await client.post(f"/circuits/{circuit_id}/upload", data=form((name, content), field="file"),
                             params=params, headers=user.headers)
    body = await resp.json()
    assert resp.status == expect, body
    return body


async def upload_batch(client, user, circuit_id, files, message=None, expect=201):
    params = {"commit_message": message} if message else {}
    resp = await client.post(f"/circuits/{circuit_id}/upload-batch", data=form(*files), params=params,
                             headers=user.headers)
    body = await resp.json()
    assert resp.status == expect, body
    return body

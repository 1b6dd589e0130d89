"""Helpers for the space tests."""

from __future__ import annotations

import aiohttp


async def create_space(client, user, **body) -> dict:
    payload = {"name": "demo", "title": "Demo space"}
    payload.update(body)
    resp = await client.post("/spaces", json=payload, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def add_file(client, user, space_id: str, path: str, content: str | bytes, *, multipart: bool = False):
    """POST a file (JSON, or multipart field ``file``); returns the response."""
    if multipart:
        form = aiohttp.FormData()
        data = content.encode() if isinstance(content, str) else content
        form.add_field("file", data, filename=path, content_type="application/octet-stream")
        return await client.post(f"/spaces/{space_id}/files", data=form, headers=user.headers)
    return await client.post(f"/spaces/{space_id}/files", json={"path": path, "content": content},
                             headers=user.headers)

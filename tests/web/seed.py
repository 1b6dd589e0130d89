"""Content for the web UI tests and screenshots, created through the real JSON API."""

from __future__ import annotations

import requests

from tests.runs.helpers import example_source

PASSWORD = "Qu4ntum!Leap#42"

BELL_QASM = example_source("bell-qasm")

BELL_QASM_V2 = BELL_QASM.replace("h q[0];", "h q[0];\n// entangle the pair\n")

MANIFEST = """[project]
name = "{name}"
title = "{title}"
type = "circuit"
framework = "openqasm3"
entry_point = "bell.qasm"
qubits = 2
tags = ["bell", "entanglement", "beginner"]
difficulty = "beginner"
description = "Two qubits in the Bell state |00> + |11>."

[educational]
level = "beginner"
concepts = ["superposition", "entanglement"]
learning_outcomes = ["prepare a Bell pair", "read a histogram in Qiskit bit order"]
estimated_time = "10 min"

[expected_output]
dominant_states = ["00", "11"]
probability_range = [0.9, 1.0]
"""

#: A hostile README: none of this may run in the page.
README = """# Bell state

Prepare **entanglement** with `h` and `cx`.

<script>window.__pwned = 1</script>
<img src=x onerror="window.__pwned = 2">
[click me](javascript:window.__pwned=3)
![remote](http://example.com/tracker.png)

| state | probability |
|---|---|
| 00 | 0.5 |
| 11 | 0.5 |
"""

CSV = "shot,bitstring,energy\n" + "".join(f"{i},{i % 4:02b},{-1.0 + i / 100:.3f}\n" for i in range(120))

SPACE_CODE = 'print("hello from the space")\n'


class Seeder:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.api = self.base + "/api"

    def user(self, username: str) -> dict:
        r = requests.post(f"{self.api}/auth/register", json={
            "email": f"{username}@example.org", "username": username, "password": PASSWORD, "name": username.title()})
        assert r.status_code == 201, r.text
        data = r.json()
        return {"id": data["user"]["id"], "username": username,
                "headers": {"Authorization": f"Bearer {data['access_token']}"}}

    def circuit(self, user: dict, name: str, title: str, *, second_version: bool = True) -> dict:
        r = requests.post(f"{self.api}/circuits", headers=user["headers"], json={
            "name": name, "title": title, "framework": "openqasm3", "qubits": 2, "tags": ["bell"]})
        assert r.status_code == 201, r.text
        c = r.json()
        files = {"qubithub.toml": MANIFEST.format(name=name, title=title), "bell.qasm": BELL_QASM, "README.md": README}
        self._upload(user, c["id"], files, "first version")
        if second_version:
            self._upload(user, c["id"], {**files, "bell.qasm": BELL_QASM_V2}, "explain the entangling step")
        return c

    def _upload(self, user: dict, cid: str, files: dict[str, str], message: str) -> None:
        r = requests.post(f"{self.api}/circuits/{cid}/upload-batch", headers=user["headers"], params={"commit_message": message},
                          files=[("files", (p, t.encode(), "application/octet-stream")) for p, t in files.items()])
        assert r.status_code in (200, 201), r.text

    def dataset(self, user: dict, name: str = "bell-shots") -> dict:
        r = requests.post(f"{self.api}/datasets", headers=user["headers"], json={
            "name": name, "title": "Bell measurement shots", "format": "csv", "tags": ["bell"]})
        assert r.status_code == 201, r.text
        d = r.json()
        r = requests.post(f"{self.api}/datasets/{d['id']}/versions", headers=user["headers"],
                          files=[("file", ("shots.csv", CSV.encode(), "text/csv"))])
        assert r.status_code in (200, 201), r.text
        return d

    def space(self, user: dict, name: str = "playground") -> dict:
        r = requests.post(f"{self.api}/spaces", headers=user["headers"], json={
            "name": name, "title": "Qiskit playground", "sdk": "qiskit"})
        assert r.status_code == 201, r.text
        s = r.json()
        r = requests.post(f"{self.api}/spaces/{s['id']}/files", headers=user["headers"],
                          json={"path": "main.py", "content": SPACE_CODE})
        assert r.status_code in (200, 201), r.text
        return s

"""The backup's object copy: a large object is hashed on a second thread while tarfile writes
it, and the hash is still exactly the object's (in order, every byte)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from qubithub_lite.storage.backup import CHUNK, _HashingReader


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 12345])
@pytest.mark.parametrize("threaded", [False, True])
def test_hashing_reader_hashes_what_tarfile_copies(tmp_path, size, threaded):
    source = tmp_path / "object"
    source.write_bytes(os.urandom(size))
    seen: list[int] = []
    out = io.BytesIO()
    with ThreadPoolExecutor(1) as pool, open(source, "rb") as fh, tarfile.open(fileobj=out, mode="w") as tar:
        tar.copybufsize = CHUNK
        reader = _HashingReader(fh, seen.append, pool if threaded else None)
        info = tarfile.TarInfo("object")
        info.size = size
        tar.addfile(info, reader)
        digest = reader.hexdigest()
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert sum(seen) == size
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert tar.extractfile("object").read() == source.read_bytes()


def test_a_changed_byte_changes_the_threaded_hash(tmp_path):
    data = bytearray(os.urandom(2 * CHUNK + 7))
    source = tmp_path / "object"
    source.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    data[CHUNK + 3] ^= 1  # one bit in the second chunk
    source.write_bytes(data)
    with ThreadPoolExecutor(1) as pool, open(source, "rb") as fh:
        reader = _HashingReader(fh, None, pool)
        while reader.read(CHUNK):
            pass
        assert reader.hexdigest() != expected

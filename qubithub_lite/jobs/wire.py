"""The wire between the executor (``jobs.executor``) and a simulator worker
(``jobs.simworker``): length-prefixed pickle frames over the worker's stdin/stdout. (A task's
time limit is capped once, by the queue: ``[runs] max_timeout_seconds``.)

A frame is a 4-byte big-endian length followed by that many bytes of pickle. The parent
only ever unpickles a worker's reply as plain data (``executor.load_reply``): the worker
parses untrusted input. Import-light: the worker imports it before its frameworks.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
#: Largest reply frame accepted from a worker (a statevector of 24 qubits is ~400 MB as
#: pairs of floats; the runs service allows far fewer qubits for statevectors).
MAX_REPLY_BYTES = 512 * 1024 * 1024


def encode(message: Any) -> bytes:
    """One frame: the length header and the pickled ``message``."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def read_frame(stream: BinaryIO) -> Any | None:
    """The next message from a blocking stream (the worker's side), or None at its end."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


def write_frame(stream: BinaryIO, message: Any) -> None:
    stream.write(encode(message))
    stream.flush()

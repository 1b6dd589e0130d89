"""The live-update fan-out (jobs/events.py): one serialisation per transition, written straight
to every live subscriber that can take it now, a slow one's messages through its own backlog."""

from __future__ import annotations

from qubithub_lite.jobs.events import MAX_BACKLOG, RunEvents


class Socket:
    """A subscriber's end, as the WebSocket handler gives it to the bus: ``ready`` is whether
    it can take a message without waiting (a reader that keeps up)."""

    def __init__(self, keeps_up: bool = True):
        self.keeps_up = keeps_up
        self.got: list[bytes] = []

    def ready(self, size: int) -> bool:
        return self.keeps_up

    async def send(self, payload: bytes) -> None:
        self.got.append(payload)


async def test_publish_writes_once_serialised_message_to_live_subscribers_directly():
    events = RunEvents()
    socks = [Socket() for _ in range(3)]
    subs = [events.subscribe("r1") for _ in socks]
    other = events.subscribe("r2")
    for sub, sock in zip(subs, socks):
        sub.covered("queued")
        await sub.flush(sock)
    await events.publish("r1", "running", '{"status": "running"}')
    assert [s.got for s in socks] == [[b'{"status": "running"}']] * 3
    assert not any(sub.wake.is_set() for sub in subs)  # no task woken for a non-final state
    await events.publish("r1", "completed", '{"status": "completed"}')
    assert all(s.got[-1] == b'{"status": "completed"}' for s in socks)
    assert all(sub.ended and sub.wake.is_set() for sub in subs)  # the owners close their sockets
    assert not other.backlog and other.stage == -1  # another run's subscriber saw nothing


async def test_states_the_first_message_covered_are_not_sent_again():
    events = RunEvents()
    sub = events.subscribe("r")
    # published between subscribing and the handler's read of the run: queued in the backlog
    await events.publish("r", "queued", '{"status": "queued"}')
    await events.publish("r", "running", '{"status": "running"}')
    sub.covered("running")  # the first message (the read) already showed "running"
    sock = Socket()
    await sub.flush(sock)
    assert sock.got == []
    await events.publish("r", "running", '{"status": "running"}')  # a late duplicate
    await events.publish("r", "queued", '{"status": "queued"}')  # a retry: never backwards on a socket
    assert sock.got == []
    await events.publish("r", "completed", '{"status": "completed"}')
    assert sock.got == [b'{"status": "completed"}'] and sub.ended


async def test_backlog_published_before_the_first_message_keeps_its_order():
    events = RunEvents()
    sub = events.subscribe("r")
    await events.publish("r", "queued", '{"status": "queued"}')
    await events.publish("r", "running", '{"status": "running"}')
    await events.publish("r", "completed", '{"status": "completed"}')
    sub.covered("pending")
    sock = Socket()
    await sub.flush(sock)
    assert [m.decode() for m in sock.got] == ['{"status": "queued"}', '{"status": "running"}', '{"status": "completed"}']
    assert sub.ended


async def test_a_slow_reader_gets_its_messages_through_its_backlog_and_holds_no_one_up():
    events = RunEvents()
    fast, slow = Socket(), Socket(keeps_up=False)
    sub_fast, sub_slow = events.subscribe("r"), events.subscribe("r")
    for sub, sock in ((sub_fast, fast), (sub_slow, slow)):
        sub.covered("queued")
        await sub.flush(sock)
    await events.publish("r", "running", '{"status": "running"}')
    await events.publish("r", "completed", '{"status": "completed"}')
    assert len(fast.got) == 2 and slow.got == []
    assert sub_slow.wake.is_set() and len(sub_slow.backlog) == 2
    # its own task sends the backlog, in order, and sees the final state
    await sub_slow.flush(slow)
    assert slow.got == fast.got and sub_slow.ended


async def test_a_subscriber_too_far_behind_is_dropped():
    events = RunEvents()
    sub = events.subscribe("r")  # never goes live: everything waits in its backlog
    sub.covered("pending")
    for i in range(MAX_BACKLOG):
        sub.stage = -1  # let the same stage through again, to fill the backlog
        await events.publish("r", "queued", f'{{"n": {i}}}')
    assert len(sub.backlog) == MAX_BACKLOG and not sub.dropped
    sub.stage = -1
    await events.publish("r", "queued", '{"n": "one too many"}')
    assert sub.dropped and sub.wake.is_set() and not events.has_subscribers("r")


async def test_a_send_that_fails_drops_only_that_subscriber():
    class Gone(Socket):
        async def send(self, payload: bytes) -> None:
            raise ConnectionResetError("Cannot write to closing transport")

    events = RunEvents()
    good, gone = Socket(), Gone()
    subs = [events.subscribe("r"), events.subscribe("r")]
    for sub, sock in zip(subs, (good, gone)):
        sub.covered("queued")
        await sub.flush(sock)
    await events.publish("r", "running", '{"status": "running"}')
    await events.publish("r", "completed", '{"status": "completed"}')
    assert len(good.got) == 2 and subs[1].dropped and not subs[0].dropped

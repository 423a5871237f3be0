"""Frames over a scripted fake stream: what a hostile or broken peer can send is refused
with a typed error and its code, fast, and nothing beyond the header of an oversized frame
is ever read. Every wait is bounded by a short timeout."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from provara_desktop.core.errors import PeerRejected
from provara_desktop.net.framing import DATA, MESSAGE, FrameStream, Limits, encode_message

LIMITS = Limits(max_frame=1024, read_timeout=0.3, write_timeout=0.3, min_rate=1 << 20)


class FakeWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None


def stream_of(*chunks: bytes, eof: bool = True) -> FrameStream:
    reader = asyncio.StreamReader()
    for c in chunks:
        reader.feed_data(c)
    if eof:
        reader.feed_eof()
    return FrameStream(reader, FakeWriter(), limits=LIMITS, peer="mallory")  # type: ignore[arg-type]


def refused(*chunks: bytes, eof: bool = True) -> PeerRejected:
    async def go() -> PeerRejected:
        stream = stream_of(*chunks, eof=eof)  # a StreamReader belongs to a running loop
        with pytest.raises(PeerRejected) as info:
            await asyncio.wait_for(stream.read_frame(), 5.0)
        return info.value
    return asyncio.run(go())


def header(length: int, kind: int = MESSAGE) -> bytes:
    return struct.pack(">IB", length, kind)


def test_a_message_and_data_round_trip() -> None:
    async def go() -> None:
        w = FakeWriter()
        out = FrameStream(asyncio.StreamReader(), w, limits=LIMITS)  # type: ignore[arg-type]
        await out.send_message({"type": "done", "sent": 0, "batches": 0})
        await out.send_data(b"raw \x00 bytes")
        s = stream_of(bytes(w.data))
        f1, f2 = await s.read_frame(), await s.read_frame()
        assert (f1.kind, f1.message) == (MESSAGE, {"type": "done", "sent": 0, "batches": 0})
        assert (f2.kind, f2.body) == (DATA, b"raw \x00 bytes")
        assert s.bytes_received == out.bytes_sent == len(w.data)
    asyncio.run(go())


def test_an_oversized_frame_is_refused_from_its_header_alone() -> None:
    # No body follows and the stream stays open: waiting for it would time out instead.
    exc = refused(header(LIMITS.max_frame + 1), eof=False)
    assert exc.code == "FRAME_TOO_LARGE"
    assert "1025 bytes, over the limit of 1024" in str(exc)


def test_truncated_frames_and_a_closed_stream() -> None:
    exc = refused(header(100) + b'{"type":')
    assert exc.code == "TRUNCATED"
    assert "8 of 100 bytes" in str(exc)
    assert refused(b"\x00\x00").code == "TRUNCATED"  # inside the header
    assert refused().code == "CLOSED"


@pytest.mark.parametrize(("data", "code"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GARBAGE"),  # kind "/": not a frame
    (header(3, kind=7) + b"abc", "GARBAGE"),
    (header(0), "GARBAGE"),
    (header(5) + b"hello", "GARBAGE"),
    (header(2) + b"[]", "GARBAGE"),
    (header(15) + b'{"type": "done"}'[:15], "GARBAGE"),
    (header(16) + b'{"type": "done"}', "GARBAGE"),  # a space: not canonical
    (header(17) + b'{"a":1,"a":2,"b"}'[:17], "GARBAGE"),
    (header(13) + b'{"a":1,"a":2}', "GARBAGE"),  # duplicate key
    (header(9) + b'{"a":NaN}', "GARBAGE"),
    (header(9) + b'{"a":"\xff"}', "GARBAGE"),  # not UTF-8
    (header(16) + b'{"a":"\\ud800"}'.ljust(16), "GARBAGE"),
    (header(200) + b"[" * 100 + b"]" * 100, "GARBAGE"),  # nested too deep
])
def test_garbage_is_refused_with_a_code(data: bytes, code: str) -> None:
    exc = refused(data)
    assert exc.code == code, exc
    assert str(exc).startswith("mallory")


def test_a_peer_that_sends_nothing_is_dropped() -> None:
    exc = refused(eof=False)
    assert exc.code == "TIMEOUT"
    assert "no complete frame header within 0.3 s" in str(exc)


def test_a_slow_loris_is_cut_off_by_the_frame_deadline() -> None:
    """One byte every 50 ms: each read makes progress, but the frame as a whole must
    arrive within the deadline."""
    async def go() -> tuple[PeerRejected, int]:
        reader = asyncio.StreamReader()
        s = FrameStream(reader, FakeWriter(), limits=LIMITS)  # type: ignore[arg-type]
        frame = encode_message({"type": "done", "sent": 0, "batches": 0})
        fed = 0

        async def trickle() -> None:
            nonlocal fed
            for b in frame:  # bounded: the frame's length
                reader.feed_data(bytes([b]))
                fed += 1
                await asyncio.sleep(0.05)

        task = asyncio.create_task(trickle())
        with pytest.raises(PeerRejected) as info:
            await asyncio.wait_for(s.read_frame(), 5.0)
        task.cancel()
        return info.value, fed

    exc, fed = asyncio.run(go())
    assert exc.code == "TIMEOUT"
    assert fed < len(encode_message({"type": "done", "sent": 0, "batches": 0}))


def test_the_writer_refuses_to_send_over_the_limit() -> None:
    async def go() -> Any:
        out = FrameStream(asyncio.StreamReader(), FakeWriter(), limits=LIMITS)  # type: ignore[arg-type]
        with pytest.raises(PeerRejected, match="over the frame limit") as info:
            await out.send_data(b"x" * 2000)
        assert info.value.code == "LIMIT"
    asyncio.run(go())

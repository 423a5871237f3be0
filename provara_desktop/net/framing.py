"""Frames over an asyncio stream: the only place where a peer's bytes are read.

A frame is a 5-byte header, then the body::

    length: u32 big-endian (bytes of the body, not counting the header)
    kind:   u8             (MESSAGE = 1: canonical JSON object; DATA = 2: raw bytes)

Everything a hostile peer can do to a reader is bounded here, before any byte reaches the
protocol: a length over the limit is refused from the header alone (the body is never read),
every read has a deadline (a header within ``read_timeout``; a body within that plus the time
its size takes at ``min_rate`` bytes/s, so a slow-loris peer trickling a byte a second is cut
off), a stream that ends inside a frame is "truncated", an unknown kind or a body that is not
the canonical JSON of an object is "garbage". Each is a :class:`PeerRejected` with its code;
no traceback, no partial message, ever reaches the caller.

Canonical bodies (core/canonical.py) make every message's bytes a function of its content:
a peer cannot smuggle duplicate keys, NaN or a lone surrogate past the strict parser, and the
byte counts the tests assert on are exact.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes, strict_loads
from provara_desktop.core.errors import InputError, PeerRejected

if TYPE_CHECKING:
    from collections.abc import Awaitable

MESSAGE = 1
DATA = 2
KINDS = (MESSAGE, DATA)
HEADER = struct.Struct(">IB")

# The defaults of docs/SYNC_PROTOCOL.md "Limits". A batch of events travels in one DATA
# frame, so MAX_FRAME bounds a batch's bytes; attachments travel in chunks well below it.
MAX_FRAME = 8 << 20
READ_TIMEOUT = 30.0
WRITE_TIMEOUT = 30.0
MIN_RATE = 64 << 10  # bytes/s a body must at least arrive at, on top of READ_TIMEOUT


@dataclass(frozen=True)
class Limits:
    max_frame: int = MAX_FRAME
    read_timeout: float = READ_TIMEOUT
    write_timeout: float = WRITE_TIMEOUT
    min_rate: int = MIN_RATE


@dataclass(frozen=True)
class Frame:
    kind: int
    body: bytes
    message: dict[str, Any] | None = None  # the parsed body of a MESSAGE frame


def encode_message(message: dict[str, Any]) -> bytes:
    """The frame (header + body) holding ``message`` as canonical JSON."""
    body = canonical_bytes(message)
    return HEADER.pack(len(body), MESSAGE) + body


def encode_data(data: bytes) -> bytes:
    return HEADER.pack(len(data), DATA) + data


def parse_message_body(body: bytes, *, where: str) -> dict[str, Any]:
    """The JSON object a MESSAGE body holds, refused unless it is exactly canonical."""
    try:
        doc = strict_loads(body, where=where, max_bytes=len(body))
    except InputError as exc:
        raise PeerRejected(str(exc), code="GARBAGE") from None
    if not isinstance(doc, dict):
        raise PeerRejected(f"{where}: a message must be a JSON object", code="GARBAGE")
    if canonical_bytes(doc) != body:
        raise PeerRejected(f"{where}: the message is not canonical JSON (sorted keys, no "
                           "spaces, raw UTF-8)", code="GARBAGE")
    return doc


class FrameStream:
    """Frames in both directions over one (reader, writer) pair, counting the bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 limits: Limits | None = None, peer: str = "peer") -> None:
        self.reader = reader
        self.writer = writer
        self.limits = limits or Limits()
        self.peer = peer
        self.bytes_sent = 0
        self.bytes_received = 0
        self.frames_received = 0
        # The largest frame the other side accepts (its hello may announce less than ours).
        self.max_send = self.limits.max_frame

    async def _read(self, n: int, timeout: float, what: str) -> bytes:
        try:
            data = await asyncio.wait_for(self.reader.readexactly(n), timeout)
        except TimeoutError:
            raise PeerRejected(f"{self.peer}: no complete {what} within {timeout:g} s "
                               "(a peer that sends too slowly is dropped)",
                               code="TIMEOUT") from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial and what == "frame header":
                raise PeerRejected(f"{self.peer}: the connection closed",
                                   code="CLOSED") from None
            raise PeerRejected(f"{self.peer}: the connection closed inside a {what} "
                               f"({len(exc.partial)} of {n} bytes)", code="TRUNCATED") from None
        except (ConnectionError, OSError) as exc:
            raise PeerRejected(f"{self.peer}: connection lost ({exc})", code="CLOSED") from None
        self.bytes_received += n
        return data

    async def read_frame(self) -> Frame:
        lim = self.limits
        n_frame = self.frames_received + 1
        head = await self._read(HEADER.size, lim.read_timeout, "frame header")
        length, kind = HEADER.unpack(head)
        if kind not in KINDS:
            raise PeerRejected(f"{self.peer}: frame {n_frame} has unknown kind {kind} "
                               "(garbage, or not this protocol)", code="GARBAGE")
        if length > lim.max_frame:
            # Refused from the header: the body is never read, whatever it holds.
            raise PeerRejected(f"{self.peer}: frame {n_frame} announces {length} bytes, over "
                               f"the limit of {lim.max_frame}", code="FRAME_TOO_LARGE")
        if kind == MESSAGE and length == 0:
            raise PeerRejected(f"{self.peer}: frame {n_frame} is an empty message",
                               code="GARBAGE")
        timeout = lim.read_timeout + length / lim.min_rate
        body = await self._read(length, timeout, "frame body") if length else b""
        self.frames_received = n_frame
        if kind == DATA:
            return Frame(DATA, body)
        return Frame(MESSAGE, body,
                     parse_message_body(body, where=f"{self.peer} frame {n_frame}"))

    async def _write(self, frame: bytes) -> None:
        try:
            self.writer.write(frame)
            await asyncio.wait_for(self.writer.drain(), self.limits.write_timeout)
        except TimeoutError:
            raise PeerRejected(f"{self.peer}: the peer read nothing for "
                               f"{self.limits.write_timeout:g} s", code="TIMEOUT") from None
        except (ConnectionError, OSError) as exc:
            raise PeerRejected(f"{self.peer}: connection lost ({exc})", code="CLOSED") from None
        self.bytes_sent += len(frame)

    def _check_size(self, size: int, what: str) -> None:
        if size > self.max_send:
            raise PeerRejected(f"{self.peer}: our {what} of {size} bytes is over the frame "
                               f"limit of {self.max_send}", code="LIMIT")

    async def send_message(self, message: dict[str, Any]) -> None:
        frame = encode_message(message)
        self._check_size(len(frame) - HEADER.size, f"{message.get('type')} message")
        await self._write(frame)

    async def send_data(self, data: bytes) -> None:
        self._check_size(len(data), "data")
        await self._write(encode_data(data))

    async def close(self) -> None:
        """Close our side; waits at most a second for the transport to finish."""
        self.writer.close()
        await _quietly(self.writer.wait_closed(), 1.0)


async def _quietly(aw: Awaitable[Any], timeout: float) -> None:
    try:
        await asyncio.wait_for(aw, timeout)
    except (TimeoutError, ConnectionError, OSError):
        pass

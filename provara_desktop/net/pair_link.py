"""Pairing over TCP (``pair offer`` / ``pair join``): the listener that serves one attempt,
and the connection that joins it. The pairing itself is net/pairing.py.

The offer listens until one peer connects (bounded by its timeout), then closes the
listener at once: the first connection gets the one attempt, a second one is refused by the
operating system (nothing listens any more). Pinning (:func:`pairing.record`) happens after
both sides accepted, in the caller's profile (``on_accepted``), before the two sides tell
each other they recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING

from provara_desktop.net import pairing
from provara_desktop.net.peer_addresses import format_address

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

CONNECT_TIMEOUT = 10.0


def reachable_host(bound: str) -> str:
    """The address to tell the other person: the bound one, or for a wildcard the address
    of the interface that routes to the LAN (found with a UDP socket's connect, which sends
    nothing), else loopback."""
    if bound not in ("0.0.0.0", "::", ""):
        return bound
    family = socket.AF_INET6 if bound == "::" else socket.AF_INET
    probe = "fd00::1" if family == socket.AF_INET6 else "10.255.255.255"
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return str(s.getsockname()[0])
    except OSError:
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"


async def offer(me: pairing.Me, *, host: str, port: int, timeout: float,
                on_ready: Callable[[str, str, int], None],
                code: str | None = None,
                on_accepted: Callable[[pairing.Paired], Awaitable[None]] | None = None
                ) -> pairing.Paired:
    """Listen, call ``on_ready(code, host, port)``, serve one attempt; the pairing, or
    :class:`pairing.PairingFailed` (``NO_PEER`` when nobody came within ``timeout``)."""
    the_offer = pairing.Offer(code or pairing.new_code(), me)
    arrived: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await arrived.put((reader, writer))

    server = await asyncio.start_server(accept, host, port)
    try:
        sock = server.sockets[0].getsockname()
        on_ready(the_offer.code, reachable_host(str(sock[0])), int(sock[1]))
        try:
            reader, writer = await asyncio.wait_for(arrived.get(), timeout)
        except TimeoutError:
            raise pairing.PairingFailed(f"nobody joined within {timeout:g} s; the code is "
                                        "no longer valid", code="NO_PEER") from None
    finally:
        server.close()  # one attempt: nobody else may connect from here on
    while not arrived.empty():  # connections that raced in before the close
        arrived.get_nowait()[1].transport.abort()
    peer = writer.get_extra_info("peername")
    where = format_address(str(peer[0]), int(peer[1])) if peer else "peer"
    try:
        return await the_offer.attempt(reader, writer, peer=where, on_accepted=on_accepted)
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)


async def join(me: pairing.Me, *, host: str, port: int, code: str,
               connect_timeout: float = CONNECT_TIMEOUT,
               on_accepted: Callable[[pairing.Paired], Awaitable[None]] | None = None
               ) -> pairing.Paired:
    pairing.normalize_code(code)  # a mistyped code is a usage error before connecting
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                connect_timeout)
    except TimeoutError:
        raise pairing.PairingFailed(f"{format_address(host, port)}: no answer within "
                                    f"{connect_timeout:g} s", code="CONNECT") from None
    except OSError as exc:
        raise pairing.PairingFailed(f"{format_address(host, port)}: cannot connect "
                                    f"({exc.strerror or exc}); is `pair offer` still "
                                    "waiting there?", code="CONNECT") from None
    return await pairing.pair(reader, writer, role=pairing.JOIN, code=code, me=me,
                              peer=format_address(host, port), on_accepted=on_accepted)

"""Peers given by hand (``--peer HOST:PORT``): where multicast is blocked, the same peers
model shows them beside what mDNS finds (source ``manual``). Nothing is learnt about them
before connecting: their key is proven by the TLS handshake, as for any peer."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from provara_desktop.core.errors import UsageError
from provara_desktop.net.peers_view import MANUAL, Diagnostics, PeerInView

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.net.peers_view import PeersInView


def parse_host_port(text: str, *, where: str = "--peer") -> tuple[str, int]:
    """``host:port``, ``a.b.c.d:port`` or ``[v6]:port``; a clear error otherwise."""
    raw = text.strip()
    if raw.startswith("["):
        host, sep, port = raw[1:].partition("]:")
        if not sep:
            raise UsageError(f"{where} {text!r}: write an IPv6 peer as [ADDRESS]:PORT")
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise UsageError(f"{where} {text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port = raw.rpartition(":")
        if not sep or not host or ":" in host:
            raise UsageError(f"{where} {text!r}: expected HOST:PORT (IPv6: [ADDRESS]:PORT)")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{where} {text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


class ManualPeers:
    """A DiscoverySource over a fixed list of addresses."""

    def __init__(self, model: PeersInView, peers: Sequence[str],
                 diagnostics: Diagnostics | None = None) -> None:
        self.model = model
        self.targets = [parse_host_port(p) for p in peers]
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()

    @staticmethod
    def instance_of(host: str, port: int) -> str:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        self.diagnostics.manual_peers = len(self.targets)
        for host, port in self.targets:
            self.model.upsert(PeerInView(instance=self.instance_of(host, port), source=MANUAL,
                                         addresses=(host,), port=port))

    async def stop(self) -> None:
        for host, port in self.targets:
            self.model.remove(MANUAL, self.instance_of(host, port))

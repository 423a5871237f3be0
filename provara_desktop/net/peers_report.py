"""One look at the LAN for ``peers``: browse for a bounded time, then say what was seen, with
trust state per peer and the diagnostics (the command line's JSON and its human lines)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.net.discovery import MdnsDiscovery
from provara_desktop.net.manual_peers import ManualPeers
from provara_desktop.net.peers_view import (
    Diagnostics,
    PeerInView,
    PeersInView,
    peers_json,
    trust_state,
    utc_iso,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@dataclass
class Look:
    peers: list[PeerInView]
    diagnostics: Diagnostics
    started: bool  # False: mDNS could not start at all (diagnostics.errors says why)


async def look(*, timeout: float, interfaces: Sequence[str] | None = None,
               ip_version: str | None = None, manual: Sequence[str] = (),
               secrets: Mapping[str, bytes] | None = None) -> Look:
    """Browse for ``timeout`` seconds (announcing nothing) and merge the manual peers."""
    model, diag = PeersInView(), Diagnostics()
    manual_source = ManualPeers(model, manual, diag)  # parses first: a bad --peer is usage
    mdns = MdnsDiscovery(model, interfaces=interfaces, ip_version=ip_version,
                         secrets=secrets, diagnostics=diag)
    started = await mdns.start()
    await manual_source.start()
    try:
        if started:
            await asyncio.sleep(timeout)
        peers = model.peers()
    finally:
        await mdns.stop()
    return Look(peers, diag, started)


def report_json(result: Look, trusted: Mapping[str, Any]) -> dict[str, Any]:
    d = result.diagnostics.to_json()
    # `interfaces`, `multicast_answers`, `last_answer_utc`, `errors` are the contract's
    # names; the rest says more (README "LAN").
    return {"peers": peers_json(result.peers, trusted), "diagnostics": d}


def report_lines(result: Look, trusted: Mapping[str, Any]) -> list[str]:
    lines = [f"peers in view: {len(result.peers)}"]
    for p in result.peers:
        label = trust_state(p, trusted)
        where = ", ".join(p.addresses) or "?"
        shown = p.name or ("(discreet)" if p.discreet else "(no name)")
        fp = f" fingerprint {p.fingerprint}" if p.fingerprint else ""
        lines.append(f"  {shown}  {where} port {p.port}  [{p.source}]{fp}  "
                     f"{label.state}: {label.detail}  (instance {p.instance!r})")
    d = result.diagnostics
    lines.append("diagnostics:")
    lines.append(f"  mode {d.mode}, {d.ip_version}; interfaces: " + (", ".join(
        f"{i.address} ({'joined' if i.joined else 'NOT joined: ' + str(i.problem)})"
        for i in d.interfaces) or "none"))
    last = utc_iso(d.last_answer) or "never"
    lines.append(f"  multicast answers: {d.multicast_answers} (last {last}; own echoes "
                 f"{d.own_echoes}; about Provara peers {d.provara_answers})")
    if d.manual_peers:
        lines.append(f"  manual peers: {d.manual_peers}")
    lines += [f"  error: {e}" for e in d.errors] or ["  errors: none"]
    lines += [f"  hint: {h}" for h in d.hints()]
    return lines

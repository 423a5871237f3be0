"""What discovery sees: the peers in view and why (no Qt; the app's peers panel adapts it).

Every source of peers (mDNS in net/discovery.py, the manual ``host:port`` list in
net/manual_peers.py, a FakeDiscovery in tests) reports :class:`PeerInView` records into one
:class:`PeersInView`, which keys them by ``(source, instance)``, keeps their first and last
sighting, and tells its subscribers what changed. Trust is not decided here: a peer in view
is only a claim ("someone announces fingerprint prefix 1a2b3c4d"); the trust store and the
TLS handshake decide (``trust_state`` below only labels a peer for people).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

MDNS, MANUAL = "mdns", "manual"


def utc_iso(unix_time: float | None) -> str | None:
    if unix_time is None:
        return None
    moment = _dt.datetime.fromtimestamp(unix_time, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PeerInView:
    """One peer as a source sees it.

    ``fingerprint`` is the short prefix an ordinary announcement shows (8 hex digits of
    sha256(public key), i.e. ``key_id[4:12]``); ``key_id`` is known only when a discreet
    token matched the secret shared with that paired peer (or, later, after a handshake).
    """

    instance: str
    source: str
    addresses: tuple[str, ...]
    port: int
    name: str | None = None
    fingerprint: str | None = None
    key_id: str | None = None
    discreet: bool = False
    versions: tuple[int, ...] = ()
    first_seen: float = 0.0
    last_seen: float = 0.0

    @property
    def ident(self) -> tuple[str, str]:
        return (self.source, self.instance)


@dataclass(frozen=True)
class InterfaceUse:
    """One address discovery was asked to use, and what became of it."""

    address: str
    joined: bool  # the mDNS multicast group was joined and a responder socket bound
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "joined": self.joined, "problem": self.problem}


@dataclass
class Diagnostics:
    """Why one sees (or does not see) a peer: the interfaces in use, whether multicast answers
    arrive at all (our own announcement's echo counts: it proves the receive path), and every
    error met, each one line a person can act on."""

    mode: str = "explicit"  # explicit (addresses given) | default (the system's choice)
    ip_version: str = "v4"
    interfaces: list[InterfaceUse] = field(default_factory=list)
    multicast_answers: int = 0  # mDNS responses received (any service, ours included)
    own_echoes: int = 0  # of those, our own announcement coming back
    provara_answers: int = 0  # responses about _provara._tcp from others
    last_answer: float | None = None
    errors: list[str] = field(default_factory=list)
    announcing: bool = False  # an announcement went out in this run
    browsing: bool = False  # the browser ran in this run
    manual_peers: int = 0

    def error(self, text: str) -> None:
        if text not in self.errors:
            self.errors.append(text)

    def hints(self) -> list[str]:
        """The likely reason nothing (or only we) can be seen, from the counts."""
        fallback = "(--peer HOST:PORT works without multicast)"
        if self.interfaces and not any(i.joined for i in self.interfaces):
            return ["no interface joined the mDNS group: nothing can be seen; pass --interface "
                    f"with one of this machine's addresses {fallback}"]
        if not self.browsing:
            return []
        if self.multicast_answers == 0 and self.announcing:
            return ["no multicast answer arrived, not even our own announcement's echo: "
                    "multicast is blocked here (a firewall on UDP 5353, or an interface "
                    f"without multicast) {fallback}"]
        if self.multicast_answers == 0:
            return ["no multicast answer arrived: no peer (nor any other mDNS service) "
                    "answered on these interfaces; none runs there, or multicast is blocked "
                    f"(a firewall on UDP 5353, Wi-Fi client isolation) {fallback}"]
        if self.multicast_answers == self.own_echoes:
            return ["only our own announcement's echo arrived: nobody else answers on these "
                    "interfaces (no other peer runs, or the network isolates hosts, e.g. "
                    f"Wi-Fi client isolation) {fallback}"]
        if self.provara_answers == 0:
            return ["multicast works (answers from other mDNS services arrive) but no "
                    "Provara peer answered: is the other app running, with discovery on, on "
                    "this network?"]
        return []

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "ip_version": self.ip_version,
                "interfaces": [i.to_json() for i in self.interfaces],
                "multicast_answers": self.multicast_answers, "own_echoes": self.own_echoes,
                "provara_answers": self.provara_answers,
                "last_answer_utc": utc_iso(self.last_answer), "announcing": self.announcing,
                "browsing": self.browsing, "manual_peers": self.manual_peers,
                "errors": list(self.errors), "hints": self.hints()}


class DiscoverySource(Protocol):
    """What the peers model needs of a source (mDNS, manual list, a test's fake)."""

    diagnostics: Diagnostics

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class PeersInView:
    """The merged view of every source. Runs in the event loop that feeds it (no locks)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._peers: dict[tuple[str, str], PeerInView] = {}
        self._listeners: list[Callable[[str, PeerInView], None]] = []

    def subscribe(self, listener: Callable[[str, PeerInView], None]) -> None:
        """``listener(change, peer)``, change being ``added``, ``updated`` or ``removed``."""
        self._listeners.append(listener)

    def upsert(self, peer: PeerInView) -> PeerInView:
        now = self._clock()
        old = self._peers.get(peer.ident)
        merged = replace(peer, first_seen=old.first_seen if old else now, last_seen=now)
        self._peers[peer.ident] = merged
        self._notify("updated" if old else "added", merged)
        return merged

    def seen(self, source: str, instance: str) -> None:
        """A record about a known peer arrived: it is still there."""
        old = self._peers.get((source, instance))
        if old is not None:
            self._peers[old.ident] = replace(old, last_seen=self._clock())

    def remove(self, source: str, instance: str) -> None:
        old = self._peers.pop((source, instance), None)
        if old is not None:
            self._notify("removed", old)

    def get(self, source: str, instance: str) -> PeerInView | None:
        return self._peers.get((source, instance))

    def count(self, source: str) -> int:
        return sum(1 for s, _ in self._peers if s == source)

    def peers(self) -> list[PeerInView]:
        """Every peer in view: paired ones (a matched key) first, then by name, instance."""
        return sorted(self._peers.values(),
                      key=lambda p: (p.key_id is None, p.name or "~", p.instance, p.source))

    def _notify(self, change: str, peer: PeerInView) -> None:
        for listener in list(self._listeners):
            listener(change, peer)


@dataclass(frozen=True)
class TrustLabel:
    state: str  # trusted | paired | unknown
    key_id: str | None
    detail: str


def trust_state(peer: PeerInView, trusted: Mapping[str, Any]) -> TrustLabel:
    """How the user's trust store sees a peer in view (``trusted``: key id -> TrustedKey).

    A discreet match names the key; an ordinary announcement only a fingerprint prefix, which
    anyone can copy: it is shown as a prefix match, never as proof."""
    def state_of(entry: Any) -> str:
        kinds = {s.kind for s in getattr(entry, "sources", ())}
        return "paired" if "paired" in kinds else "trusted"

    if peer.key_id is not None:
        entry = trusted.get(peer.key_id)
        if entry is None:
            return TrustLabel("unknown", peer.key_id,
                              f"discreet token of {peer.key_id}, a key no longer trusted")
        return TrustLabel(state_of(entry), peer.key_id,
                          f"{state_of(entry)} key {peer.key_id} (recognised by its discreet "
                          "token)")
    if peer.fingerprint:
        matches = sorted(k for k in trusted if k.startswith("bp1_" + peer.fingerprint))
        if len(matches) == 1:
            entry = trusted[matches[0]]
            return TrustLabel(state_of(entry), matches[0],
                              f"matches {state_of(entry)} key {matches[0]} (fingerprint "
                              "prefix only)")
        if matches:
            return TrustLabel("unknown", None, f"fingerprint prefix matches {len(matches)} "
                              f"trusted keys: {', '.join(matches)}")
        return TrustLabel("unknown", None, "no trusted key has this fingerprint prefix")
    if peer.discreet:
        return TrustLabel("unknown", None, "discreet: not one of your paired peers (or "
                          "their secret is not known here)")
    return TrustLabel("unknown", None, "announces no fingerprint" if peer.source == MDNS
                      else "manual address: its key is known only after connecting")


def peers_json(peers: Iterable[PeerInView], trusted: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``peers --json`` records (a public contract; README "LAN")."""
    out = []
    for p in peers:
        label = trust_state(p, trusted)
        out.append({"instance": p.instance, "addresses": list(p.addresses), "port": p.port,
                    "name": p.name, "fingerprint": p.fingerprint, "key_id": label.key_id,
                    "discreet": p.discreet, "trust": label.state, "trust_detail": label.detail,
                    "source": p.source, "last_seen_utc": utc_iso(p.last_seen)})
    return out

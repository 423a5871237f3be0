"""Gossip: keep a vault level with every trusted peer in view, without anyone pressing sync.

Each peer trusted directly (store/trust.py) with an address (discovery, or the one recorded at
the last sync: net/peer_addresses.py) is synced with (net/sync_client.py, as initiator):

- at start, then periodically (``interval``, jittered by up to ``jitter`` of it either way so
  that peers started together do not keep colliding);
- shortly after our log changes (``debounce`` after the last change, at most ``max_delay``
  after the first of a burst): a local write, or events a peer's session wrote in: that is how
  events travel through intermediaries (A-B-C in a line: B's log changes when A's events
  arrive, so B syncs with C);
- after a failure, later and later (back-off from ``backoff_base`` doubling to
  ``backoff_max``, jittered) so an unreachable peer costs little; a success resets it, and a
  partition heals at the next try after the link returns.

:class:`GossipScheduler` is the pure decision (injected clock and random source, tested
alone); :class:`Gossip` runs it on the event loop for ``serve`` and the app. One sync at a
time: the vault's writes stay sequential and the order of commits deterministic. Per-peer
policy (direction, scope, vouching) is applied by every session (net/peer_policy.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.net import sync_client
from provara_desktop.store import layout
from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.sync_session import SessionConfig, SyncResult

log = logging.getLogger(__name__)

INTERVAL = 60.0
DEBOUNCE = 1.0
MAX_DELAY = 5.0
JITTER = 0.1
BACKOFF_BASE = 2.0
BACKOFF_MAX = 300.0
TICK = 0.5


@dataclass
class _PeerClock:
    due: float
    failures: int = 0
    in_flight: bool = False
    debounced: bool = False  # ``due`` was set by a local change


class GossipScheduler:
    """When to sync with whom. Times are the injected ``clock``'s (seconds, monotonic)."""

    def __init__(self, *, interval: float = INTERVAL, debounce: float = DEBOUNCE,
                 max_delay: float = MAX_DELAY, jitter: float = JITTER,
                 backoff_base: float = BACKOFF_BASE, backoff_max: float = BACKOFF_MAX,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        if interval <= 0 or debounce < 0 or max_delay < debounce or not 0 <= jitter < 1:
            raise ValueError("gossip: interval > 0, 0 <= debounce <= max_delay, "
                             "0 <= jitter < 1")
        self.interval, self.debounce, self.max_delay = interval, debounce, max_delay
        self.jitter, self.backoff_base, self.backoff_max = jitter, backoff_base, backoff_max
        self.clock, self.rand = clock, rand
        self.peers: dict[str, _PeerClock] = {}
        self._burst_start: float | None = None  # first local change not yet synced

    def _jittered(self, seconds: float) -> float:
        """``seconds`` scaled by a factor in [1 - jitter, 1 + jitter)."""
        return seconds * (1.0 + self.jitter * (2.0 * self.rand() - 1.0))

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (>= 1), before jitter."""
        return float(min(self.backoff_max, self.backoff_base * 2 ** (failures - 1)))

    def set_peers(self, ids: Iterable[str]) -> None:
        """The peers in view now: a new one is due at once, a gone one forgotten."""
        now = self.clock()
        wanted = set(ids)
        for kid in list(self.peers):
            if kid not in wanted:
                del self.peers[kid]
        for kid in wanted:
            self.peers.setdefault(kid, _PeerClock(now))

    def local_change(self) -> None:
        """Our log changed: every peer not backing off is due ``debounce`` after the last
        change of a burst, and never later than ``max_delay`` after its first."""
        now = self.clock()
        if self._burst_start is None:
            self._burst_start = now
        at = min(now + self.debounce, self._burst_start + self.max_delay)
        for p in self.peers.values():
            # a debounced due moves with each change (up to the cap); a periodic one only
            # ever comes earlier; a peer backing off keeps its back-off
            if p.failures == 0 and not p.in_flight and (p.debounced or p.due > at):
                p.due = at
                p.debounced = True

    def due(self) -> list[str]:
        """The peers to sync with now (marked in flight until :meth:`finished`)."""
        now = self.clock()
        out = sorted(k for k, p in self.peers.items() if not p.in_flight and p.due <= now)
        for k in out:
            self.peers[k].in_flight = True
            self.peers[k].debounced = False
        if out:
            self._burst_start = None
        return out

    def finished(self, key_id: str, ok: bool) -> None:
        p = self.peers.get(key_id)
        if p is None:
            return
        p.in_flight = False
        now = self.clock()
        if ok:
            p.failures = 0
            p.due = now + self._jittered(self.interval)
        else:
            p.failures += 1
            p.due = now + self._jittered(self.backoff(p.failures))

    def synced_by_peer(self, key_id: str) -> None:
        """The peer synced with us (it initiated): our periodic sync with it can wait a
        whole interval again; a back-off ends (it is reachable)."""
        p = self.peers.get(key_id)
        if p is not None and not p.in_flight:
            p.failures = 0
            p.due = max(p.due, self.clock() + self._jittered(self.interval))

    def next_wake(self) -> float | None:
        waiting = [p.due for p in self.peers.values() if not p.in_flight]
        return min(waiting) if waiting else None


def log_stamp(vault_root: Path) -> tuple[int, int] | None:
    """The log's (size, mtime_ns): a change means something was recorded (by us, by a
    session, by another program writing the same vault)."""
    try:
        st = (vault_root / layout.EVENTS).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class Gossip:
    """Runs a :class:`GossipScheduler` against real peers until cancelled."""

    def __init__(self, vault_root: Path, home: Path, key: SigningKey, *,
                 scheduler: GossipScheduler | None = None,
                 discovered: Callable[[], Mapping[str, Sequence[str]]] | None = None,
                 config: SessionConfig | None = None, tick: float = TICK,
                 on_result: Callable[[str, SyncResult], None] | None = None) -> None:
        self.root, self.home, self.key = vault_root, home, key
        self.scheduler = scheduler or GossipScheduler()
        self.discovered = discovered
        self.config = config
        self.tick = tick
        self.on_result = on_result
        self.addresses: dict[str, list[str]] = {}
        self._stamp = log_stamp(vault_root)
        self.wake = asyncio.Event()  # set by notice(): look now, not at the next tick

    def notice(self) -> None:
        """Something was recorded (the app's session bus, a session that wrote): look at
        the log now rather than at the next tick."""
        self.wake.set()

    def refresh_peers(self) -> None:
        try:
            store = TrustStore(self.home).trusted()
        except ProvaraDesktopError as exc:
            log.warning("gossip: the trust store cannot be read: %s", exc)
            return
        seen = dict(self.discovered()) if self.discovered is not None else {}
        # Peers trusted directly only: a key in force through someone's vouching is one
        # whose events we take, not one we go looking for.
        direct = {k for k, v in store.items() if v.direct}
        self.addresses = {kid: addrs for kid, _, addrs in sync_client.targets(self.home, seen)
                          if kid in direct}
        self.scheduler.set_peers(self.addresses)

    def look(self) -> list[str]:
        """One look: the log's stamp, the peers in view; the peers due now."""
        stamp = log_stamp(self.root)
        if stamp != self._stamp:
            self._stamp = stamp
            self.scheduler.local_change()
        self.refresh_peers()
        return self.scheduler.due()

    async def sync_one(self, key_id: str) -> SyncResult | None:
        addresses = self.addresses.get(key_id, [])
        ok = False
        result: SyncResult | None = None
        try:
            if addresses:
                result, _ = await sync_client.sync_first_reachable(
                    addresses, vault_root=self.root, home=self.home, key=self.key,
                    expect_key_id=key_id, config=self.config)
                ok = result.ok
        except (ProvaraDesktopError, OSError) as exc:
            log.warning("gossip with %s: %s", key_id, exc)
        finally:
            self.scheduler.finished(key_id, ok)
        if result is not None:
            if not ok:
                log.info("gossip with %s failed (%s): next try in about %.0f s", key_id,
                         result.error, self.scheduler.backoff(
                             self.scheduler.peers[key_id].failures)
                         if key_id in self.scheduler.peers else 0)
            if self.on_result is not None:
                self.on_result(key_id, result)
        # what this session wrote is a change of our log: the next look passes it on
        return result

    async def run(self) -> None:
        while True:
            for kid in self.look():
                await self.sync_one(kid)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), self.tick)
            except TimeoutError:
                pass

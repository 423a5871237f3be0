"""The gossip runner (net/gossip.Gossip) against a real headless peer on loopback (TLS pinned
by real keys, real vaults and trust stores, in one event loop): a local write is synced soon
without anyone asking, and an unreachable peer is retried later and later, not hammered."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from provara_desktop.net import peer_addresses
from provara_desktop.net.gossip import Gossip, GossipScheduler
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.store.trust import TrustStore
from tests.net.sync_helpers import FAST, count_by

if TYPE_CHECKING:
    from tests.net.sync_helpers import Replica

BOUND = 20.0  # seconds any wait here may take


def trust_both(a: Replica, b: Replica) -> None:
    TrustStore(a.home).add(b.key.key_id, b.key.public.b64, b.name)
    TrustStore(b.home).add(a.key.key_id, a.key.public.b64, a.name)


def test_a_local_write_reaches_the_peer_by_gossip(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    trust_both(a, b)

    async def go() -> tuple[int, int]:
        peer = HeadlessPeer(b.root, b.home, b.key,
                            ServeOptions(host="127.0.0.1", port=0, discovery=False,
                                         session=FAST))
        host, port = await peer.start()
        peer_addresses.remember(a.home, b.key.key_id,
                                peer_addresses.format_address(host, port), source="sync")
        results: list[Any] = []
        g = Gossip(a.root, a.home, a.key, config=FAST, tick=0.1,
                   scheduler=GossipScheduler(interval=3600, debounce=0.2, max_delay=1.0),
                   on_result=lambda kid, r: results.append((kid, r)))
        task = asyncio.get_running_loop().create_task(g.run())
        try:
            # the first sync at start
            await asyncio.wait_for(_until(lambda: len(results) >= 1), BOUND)
            assert results[0][0] == b.key.key_id
            assert results[0][1].ok, results[0][1].error
            before = count_by(b, a)
            await asyncio.to_thread(a.record, 2)
            # nobody calls sync: the write is noticed and passed on (interval is an hour)
            await asyncio.wait_for(_until(lambda: count_by(b, a) == before + 2), BOUND)
            # b commits before either side's session has ended: wait for both to report.
            await asyncio.wait_for(_until(lambda: len(results) >= 2
                                          and peer.sessions_done >= 2), BOUND)
            return len(results), peer.sessions_done
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await peer.stop()

    n_results, n_sessions = asyncio.run(go())
    assert n_results >= 2
    assert n_sessions >= 2
    assert a.log_bytes() == b.log_bytes()


def test_an_unreachable_peer_is_retried_later_and_later(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    trust_both(a, b)
    with socket.socket() as s:  # a port nobody listens on (bound, then closed)
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    peer_addresses.remember(a.home, b.key.key_id,
                            peer_addresses.format_address("127.0.0.1", dead), source="sync")

    async def go() -> list[float]:
        loop = asyncio.get_running_loop()
        tries: list[float] = []
        g = Gossip(a.root, a.home, a.key, config=FAST, tick=0.05,
                   scheduler=GossipScheduler(interval=3600, backoff_base=0.3,
                                             backoff_max=10.0, jitter=0.0),
                   on_result=lambda kid, r: tries.append(loop.time()))
        task = loop.create_task(g.run())
        try:
            await asyncio.wait_for(_until(lambda: len(tries) >= 4), BOUND)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert g.scheduler.peers[b.key.key_id].failures >= 4
        return tries

    tries = asyncio.run(go())
    gaps = [t1 - t0 for t0, t1 in zip(tries, tries[1:], strict=False)]
    # 0.3 s, 0.6 s, 1.2 s (+ the tick): each wait longer than the one before
    assert gaps[0] >= 0.3
    assert all(g2 > g1 for g1, g2 in zip(gaps, gaps[1:], strict=False)), gaps


async def _until(pred: Any) -> None:
    while not pred():
        await asyncio.sleep(0.05)

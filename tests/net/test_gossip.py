"""The gossip scheduler (net/gossip.py) with an injected clock and random source: who is
synced with when, after a local change (debounce), after failures (back-off), periodically
(jitter within its bounds)."""

from __future__ import annotations

import pytest

from provara_desktop.net.gossip import GossipScheduler


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(rand: float = 0.5, **kw: float) -> tuple[GossipScheduler, Clock]:
    clock = Clock()
    return GossipScheduler(clock=clock, rand=lambda: rand, **kw), clock


def test_a_new_peer_is_due_at_once_and_then_after_one_interval() -> None:
    s, clock = make(interval=60, jitter=0.0)
    s.set_peers(["bp1_a"])
    assert s.due() == ["bp1_a"]
    assert s.due() == []  # in flight: never twice at once
    s.finished("bp1_a", ok=True)
    clock.t += 59.9
    assert s.due() == []
    clock.t += 0.2
    assert s.due() == ["bp1_a"]


def test_a_burst_of_local_writes_is_one_sync_soon_after_the_last() -> None:
    s, clock = make(interval=60, debounce=1.0, max_delay=5.0, jitter=0.0)
    s.set_peers(["bp1_a", "bp1_b"])
    assert s.due() == ["bp1_a", "bp1_b"]
    s.finished("bp1_a", ok=True)
    s.finished("bp1_b", ok=True)
    for _ in range(3):  # three writes 0.5 s apart
        s.local_change()
        clock.t += 0.5
        assert s.due() == []
    clock.t += 0.49  # 0.99 s after the last write
    assert s.due() == []
    clock.t += 0.02
    assert s.due() == ["bp1_a", "bp1_b"]


def test_a_write_that_never_stops_still_syncs_within_max_delay() -> None:
    s, clock = make(interval=60, debounce=1.0, max_delay=3.0, jitter=0.0)
    s.set_peers(["bp1_a"])
    s.due()
    s.finished("bp1_a", ok=True)
    start = clock.t
    fired = None
    while clock.t - start < 10:
        s.local_change()
        clock.t += 0.25
        if s.due():
            fired = clock.t - start
            break
    assert fired is not None
    assert fired <= 3.0 + 0.25


def test_failures_back_off_doubling_to_the_cap_and_success_resets() -> None:
    s, clock = make(interval=60, backoff_base=2.0, backoff_max=30.0, jitter=0.0)
    s.set_peers(["bp1_a"])
    waits = []
    for _ in range(6):
        assert s.due() == ["bp1_a"]
        s.finished("bp1_a", ok=False)
        nxt = s.next_wake()
        assert nxt is not None
        waits.append(nxt - clock.t)
        clock.t = nxt
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    # a local write does not hammer a peer that is backing off
    assert s.due() == ["bp1_a"]
    s.finished("bp1_a", ok=False)
    s.local_change()
    assert s.next_wake() == clock.t + 30.0
    clock.t += 30.0
    assert s.due() == ["bp1_a"]
    s.finished("bp1_a", ok=True)
    assert s.next_wake() == clock.t + 60.0
    assert s.peers["bp1_a"].failures == 0


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.999999])
def test_jitter_stays_within_its_bounds(rand: float) -> None:
    s, clock = make(rand=rand, interval=60, jitter=0.1, backoff_base=10.0)
    s.set_peers(["bp1_a"])
    s.due()
    s.finished("bp1_a", ok=True)
    wait = s.next_wake() - clock.t  # type: ignore[operator]
    assert 54.0 <= wait < 66.0
    clock.t += wait
    s.due()
    s.finished("bp1_a", ok=False)
    backoff = s.next_wake() - clock.t  # type: ignore[operator]
    assert 9.0 <= backoff < 11.0


def test_jitter_spreads_peers_started_together() -> None:
    import random

    rng = random.Random(7)
    clock = Clock()
    s = GossipScheduler(clock=clock, rand=rng.random, interval=60, jitter=0.1)
    ids = [f"bp1_{i}" for i in range(20)]
    s.set_peers(ids)
    for kid in s.due():
        s.finished(kid, ok=True)
    dues = sorted(p.due - clock.t for p in s.peers.values())
    assert dues[0] >= 54.0
    assert dues[-1] < 66.0
    assert dues[-1] - dues[0] > 3.0  # not all at once


def test_a_peer_that_synced_with_us_waits_and_a_gone_peer_is_forgotten() -> None:
    s, clock = make(interval=60, jitter=0.0, backoff_base=5.0)
    s.set_peers(["bp1_a", "bp1_b"])
    s.due()
    s.finished("bp1_a", ok=False)  # backing off
    s.finished("bp1_b", ok=True)
    s.synced_by_peer("bp1_a")  # it reached us: reachable again, no need to call it now
    assert s.peers["bp1_a"].failures == 0
    assert s.peers["bp1_a"].due == clock.t + 60.0
    s.set_peers(["bp1_b"])
    assert set(s.peers) == {"bp1_b"}
    s.finished("bp1_a", ok=True)  # a late answer for a gone peer changes nothing
    assert set(s.peers) == {"bp1_b"}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        GossipScheduler(interval=0)
    with pytest.raises(ValueError):
        GossipScheduler(debounce=5, max_delay=1)
    with pytest.raises(ValueError):
        GossipScheduler(jitter=1.0)

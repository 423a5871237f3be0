"""Frontiers on synthetic chains: heads per actor (two on a fork), the known ancestors at
doubling distances, and what a sender holding part of the chains treats as known."""

from __future__ import annotations

from provara_desktop.bundle.frontier import Frontier, compute, known_events


def chain(actor: str, n: int, start: str | None = None) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    prev = start
    for i in range(1, n + 1):
        eid = f"{actor}{i}"
        out[eid] = (actor, prev)
        prev = eid
    return out


def test_heads_and_doubling_ancestors() -> None:
    c = {**chain("a", 20), **chain("b", 3)}
    fr = compute(c, "uid")
    assert fr.heads == {"a": ["a20"], "b": ["b3"]}
    assert fr.event_count == 23
    # distances 1, 2, 4, 8, 16 back from a20, and 1, 2 back from b3
    assert set(fr.known) == {"a19", "a18", "a16", "a12", "a4", "b2", "b1"}


def test_a_fork_has_two_heads() -> None:
    c = chain("a", 3)
    c["a3x"] = ("a", "a2")
    fr = compute(c, None)
    assert fr.heads == {"a": ["a3", "a3x"]}


def test_sender_behind_the_receiver_resends_little() -> None:
    receiver = compute(chain("c", 100), None)  # the receiver holds c1..c100
    sender = chain("c", 60)  # the sender only c1..c60
    known = known_events(receiver, sender)
    # c100's ancestors at distance 64 (c36) is the newest one the sender holds: c1..c36
    # are known, so at most c37..c60 (24 events) would be sent again, not all 60.
    assert known == {f"c{i}" for i in range(1, 37)}


def test_unknown_frontier_ids_are_ignored() -> None:
    fr = Frontier("uid", 1, {"z": ["zz1"]}, [])
    assert known_events(fr, chain("a", 3)) == set()

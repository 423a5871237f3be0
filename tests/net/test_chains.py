"""Frontiers and "what the other side lacks", on synthetic chains: exact when one side is
behind, exact at a fork near the heads, everything for an actor the other side never saw,
and nothing at all between level replicas."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.net.chains import Chains, same_heads
from provara_desktop.net.messages import Lacking
from provara_desktop.store.index import IndexRow


def eid(name: str) -> str:
    return "evt_" + name.encode().hex().ljust(24, "0")[:24]


def chain(actor: str, names: list[str], *, after: str | None = None,
          start: int = 0) -> list[IndexRow]:
    rows, prev = [], after
    for i, n in enumerate(names):
        rows.append(IndexRow(start + i, eid(n), "OBSERVATION", actor, "bp1_x", "t", None,
                             None, None, prev, 0, 1, "now"))
        prev = eid(n)
    return rows


def exchange(a: Chains, b: Chains) -> tuple[list[str], list[str]]:
    """What a sends b and b sends a, after frontiers (and lacking) are exchanged."""
    fa, fb = a.frontier(), b.frontier()
    la = lb = None
    if not same_heads(fa, fb):
        la, lb = a.lacking_for(fb), b.lacking_for(fa)
    return ([r.event_id for r in a.unknown_to(fb, lb)],
            [r.event_id for r in b.unknown_to(fa, la)])


X = [f"x{i}" for i in range(1, 11)]


def test_a_frontier_is_a_count_and_the_heads_per_actor() -> None:
    c = Chains(chain("x", X) + chain("y", ["y1", "y2"], start=10))
    f = c.frontier()
    assert {a: (h.count, h.heads) for a, h in f.actors.items()} == {
        "x": (10, (eid("x10"),)), "y": (2, (eid("y2"),))}


def test_level_replicas_send_nothing_and_skip_lacking() -> None:
    a, b = Chains(chain("x", X)), Chains(chain("x", X))
    assert same_heads(a.frontier(), b.frontier())
    assert exchange(a, b) == ([], [])


def test_behind_gets_exactly_the_rest_and_sends_nothing() -> None:
    ahead, behind = Chains(chain("x", X)), Chains(chain("x", X[:4]))
    assert behind.lacking_for(ahead.frontier()).actors["x"].lacking == (eid("x10"),)
    assert ahead.lacking_for(behind.frontier()) == Lacking({})
    sent_by_ahead, sent_by_behind = exchange(ahead, behind)
    assert sent_by_ahead == [eid(n) for n in X[4:]]
    assert sent_by_behind == []


def test_a_fork_sends_each_branch_only() -> None:
    common = chain("x", X[:5])
    a = Chains(common + chain("x", ["a6", "a7"], after=eid("x5"), start=5))
    b = Chains(common + chain("x", ["b6"], after=eid("x5"), start=5))
    assert exchange(a, b) == ([eid("a6"), eid("a7")], [eid("b6")])
    merged = Chains(common + chain("x", ["a6", "a7"], after=eid("x5"), start=5)
                    + chain("x", ["b6"], after=eid("x5"), start=7))
    assert set(merged.frontier().actors["x"].heads) == {eid("a7"), eid("b6")}


def test_a_long_branch_costs_at_most_about_its_own_length() -> None:
    common = chain("x", [f"c{i}" for i in range(100)])
    a_branch = [f"a{i}" for i in range(30)]
    a = Chains(common + chain("x", a_branch, after=eid("c99"), start=100))
    b = Chains(common + chain("x", ["b0"], after=eid("c99"), start=100))
    sent_by_a, sent_by_b = exchange(a, b)
    # b's samples start right before b0 (c99, c98, c96...): a sends its branch exactly
    assert sent_by_a == [eid(n) for n in a_branch]
    # a's samples (a28, a27, a25, a21, a13, c97, c65...) mark c97 and before as held by
    # a: b sends its branch and what lies between c97 and the fork, less than a's branch
    assert sent_by_b == [eid("c98"), eid("c99"), eid("b0")]


def test_an_actor_the_other_side_never_saw_is_sent_whole() -> None:
    a = Chains(chain("x", X[:3]) + chain("y", ["y1", "y2"], start=3))
    b = Chains(chain("x", X[:3]))
    assert exchange(a, b) == ([eid("y1"), eid("y2")], [])


@st.composite
def two_replicas(draw: st.DrawFn) -> tuple[list[IndexRow], set[str], set[str]]:
    """A history of a few actors' chains, forks included (an event may build on any earlier
    event of its actor), and two replicas each holding an ancestor-closed part of it."""
    n = draw(st.integers(1, 40))
    rows: list[IndexRow] = []
    by_actor: dict[str, list[str]] = {}
    prev_of: dict[str, str | None] = {}
    for i in range(n):
        actor = draw(st.sampled_from("xyz"))
        mine = by_actor.setdefault(actor, [])
        prev = draw(st.sampled_from(mine)) if mine and draw(st.integers(0, 5)) else (
            mine[-1] if mine else None)
        e = eid(f"e{i}")
        rows.append(IndexRow(i, e, "OBSERVATION", actor, "bp1_x", "t", None, None, None,
                             prev, 0, 1, "now"))
        mine.append(e)
        prev_of[e] = prev

    def closed(picked: set[str]) -> set[str]:
        out: set[str] = set()
        for e in picked:
            cur: str | None = e
            while cur is not None and cur not in out:
                out.add(cur)
                cur = prev_of[cur]
        return out

    ids = [r.event_id for r in rows]
    a = closed(set(draw(st.lists(st.sampled_from(ids), max_size=8))))
    b = closed(set(draw(st.lists(st.sampled_from(ids), max_size=8))))
    return rows, a, b


@settings(max_examples=300, deadline=None)
@given(two_replicas())
def test_each_side_gets_what_it_lacks_in_an_order_it_can_commit(
        case: tuple[list[IndexRow], set[str], set[str]]) -> None:
    rows, a_ids, b_ids = case
    a = Chains(r for r in rows if r.event_id in a_ids)
    b = Chains(r for r in rows if r.event_id in b_ids)
    sent_by_a, sent_by_b = exchange(a, b)
    prev = {r.event_id: r.prev_event_hash for r in rows}
    for sent, sender, receiver in ((sent_by_a, a_ids, b_ids), (sent_by_b, b_ids, a_ids)):
        assert set(sent) <= sender
        assert set(sent) >= sender - receiver  # nothing the other side lacks is left out
        held = set(receiver)
        for e in sent:  # each event's predecessor arrives first, or is already there
            p = prev[e]
            assert p is None or p in held, (e, p)
            held.add(e)
    # after the exchange both hold the union, and a second session sends nothing
    union = a_ids | b_ids
    again = (Chains(r for r in rows if r.event_id in union),
             Chains(r for r in rows if r.event_id in union))
    assert exchange(*again) == ([], [])

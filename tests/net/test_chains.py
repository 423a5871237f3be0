"""Frontiers and "what the other side lacks", on synthetic chains: exact when one side is
behind, exact at a fork near the heads, everything for an actor the other side never saw,
and nothing at all between level replicas."""

from __future__ import annotations

from typing import Any

import pytest
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


# -- the frontier from the index, kept beside it ---------------------------------------------

def _vault_with_forks(tmp_path: Any) -> tuple[Any, Any]:
    """A real vault: a linear chain, a fork (two events on one prev), a dangling prev (a
    chain of its own), a cross-actor prev (starts a chain), and an event whose successor
    sorts before it."""
    from provara_desktop.core.event import build_event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

    key = SigningKey.generate()
    vault = Vault.init(tmp_path / "v", key=key, actor="ana", home=tmp_path / "home")
    field = SigningKey.generate()  # another's events (an import): their forks are real

    def ev(actor: str, prev: str | None, ts: str, i: int) -> dict[str, Any]:
        return build_event(event_type="OBSERVATION", actor=actor, key=field,
                           payload={"subject": f"s{i}", "predicate": "p", "value": i},
                           prev_event_hash=prev, timestamp_utc=ts, namespace="local")

    x1 = ev("x", None, "2030-01-01T00:00:01+00:00", 1)
    x2 = ev("x", x1["event_id"], "2030-01-01T00:00:02+00:00", 2)
    x3a = ev("x", x2["event_id"], "2030-01-01T00:00:03+00:00", 3)
    x3b = ev("x", x2["event_id"], "2030-01-01T00:00:04+00:00", 4)  # the fork
    y1 = ev("y", "evt_" + "0" * 24, "2030-01-01T00:00:05+00:00", 5)  # dangling
    z1 = ev("z", x1["event_id"], "2030-01-01T00:00:06+00:00", 6)  # cross-actor
    w2_first = ev("w", None, "2030-01-01T00:00:08+00:00", 8)
    w1 = ev("w", None, "2030-01-01T00:00:09+00:00", 9)
    w2 = ev("w", w1["event_id"], "2030-01-01T00:00:07+00:00", 7)  # sorts before w1
    vault.append([x1, x2, x3a, x3b, y1, z1, w2_first, w1, w2], signer=key)
    return vault, key


def _rows(vault: Any) -> list[IndexRow]:
    return vault.index.query()


def test_the_frontier_from_the_index_is_the_one_from_every_row(tmp_path: Any) -> None:
    from provara_desktop.net.chains import vault_frontier

    vault, _key = _vault_with_forks(tmp_path)
    try:
        expected = Chains(_rows(vault)).frontier()
        assert len(expected.actors["x"].heads) == 2  # the fork is there
        assert len(expected.actors["w"].heads) == 2
        assert Chains.from_vault(vault).frontier() == expected  # computed, then kept
        assert Chains.from_vault(vault).frontier() == expected  # from what is kept
        assert {a: (n, tuple(h)) for a, (n, h) in vault_frontier(vault).items()} == {
            a: (e.count, e.heads) for a, e in expected.actors.items()}
    finally:
        vault.close()


def test_a_level_frontier_reads_no_row_and_appends_read_only_the_new_ones(
        tmp_path: Any, monkeypatch: Any) -> None:
    from provara_desktop.core.event import build_event
    from provara_desktop.core.keys import SigningKey

    vault, key = _vault_with_forks(tmp_path)
    try:
        x_head = Chains.from_vault(vault).frontier().actors["x"].heads[0]  # now kept
        index = vault.index
        real_query = index.query
        asked: list[dict[str, Any]] = []

        def query(**kw: Any) -> list[IndexRow]:
            asked.append(kw)
            return real_query(**kw)

        monkeypatch.setattr(index, "query", query)
        monkeypatch.setattr(index, "actor_chains", lambda *a, **k: pytest.fail("a scan"))
        Chains.from_vault(vault).frontier()
        assert asked == []
        n = index.count()
        other, prev, new = SigningKey.generate(), None, []
        for i in range(3):  # after everything: appended (a new chain, and x's fork grows)
            new.append(build_event(
                event_type="OBSERVATION", actor="v" if i < 2 else "x", key=other,
                payload={"subject": f"n{i}", "predicate": "p", "value": i},
                prev_event_hash=prev if i < 2 else x_head,
                timestamp_utc=f"2031-01-01T00:00:0{i}+00:00", namespace="local"))
            prev = new[-1]["event_id"]
        assert vault.append(new, signer=key).reordered_from is None
        asked.clear()
        got = Chains.from_vault(vault).frontier()
        assert [kw.get("after_pos") for kw in asked] == [n - 1]
        monkeypatch.setattr(index, "query", real_query)
        assert got == Chains(_rows(vault)).frontier()
    finally:
        vault.close()


def test_a_rewrite_or_a_bad_kept_file_is_computed_again(tmp_path: Any) -> None:
    from pathlib import Path

    from provara_desktop.core.event import build_event
    from provara_desktop.core.keys import SigningKey

    vault, _key = _vault_with_forks(tmp_path)
    try:
        Chains.from_vault(vault).frontier()
        other = SigningKey.generate()
        old = build_event(event_type="OBSERVATION", actor="x", key=other,
                          payload={"subject": "s", "predicate": "p", "value": 0},
                          prev_event_hash=None, timestamp_utc="2029-01-01T00:00:00+00:00",
                          namespace="local")
        assert vault.append([old], signer=_key).reordered_from is not None
        assert Chains.from_vault(vault).frontier() == Chains(_rows(vault)).frontier()
        kept = Path(str(vault.index.path) + ".frontier.json")
        kept.write_text("{not json")
        assert Chains.from_vault(vault).frontier() == Chains(_rows(vault)).frontier()
    finally:
        vault.close()


def _closed(rows: list[IndexRow], picked: set[str]) -> set[str]:
    """``picked`` and every same-actor event they build on (what a replica can hold)."""
    by_id = {r.event_id: r for r in rows}
    out: set[str] = set()
    for e in picked:
        cur: IndexRow | None = by_id.get(e)
        while cur is not None and cur.event_id not in out:
            out.add(cur.event_id)
            prev = by_id.get(cur.prev_event_hash or "")
            cur = prev if prev is not None and prev.actor == cur.actor else None
    return out


def test_the_vaults_chains_send_what_the_rows_say(tmp_path: Any) -> None:
    """From the index (seeks, kept frontier) and from every row in memory: the same
    answer, against replicas holding any one event's history of the forked vault."""
    vault, _key = _vault_with_forks(tmp_path)
    try:
        rows = _rows(vault)
        for r in rows:
            other = Chains([x for x in rows if x.event_id in _closed(rows, {r.event_id})])
            assert exchange(Chains.from_vault(vault), other) == exchange(Chains(rows), other)
    finally:
        vault.close()


def test_ten_events_apart_reads_rows_near_the_heads_only(tmp_path: Any,
                                                          monkeypatch: Any) -> None:
    from provara_desktop.core.event import build_event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

    key = SigningKey.generate()
    vault = Vault.init(tmp_path / "v", key=key, actor="ana", home=tmp_path / "home")
    try:
        field, prev, events = SigningKey.generate(), None, []
        for i in range(3000):
            events.append(build_event(
                event_type="OBSERVATION", actor="field", key=field,
                payload={"subject": f"s{i}", "predicate": "p", "value": i},
                prev_event_hash=prev, timestamp_utc=f"2030-01-01T00:{i // 60:02d}:"
                f"{i % 60:02d}+00:00", namespace="local"))
            prev = events[-1]["event_id"]
        vault.append(events, signer=key)
        rows = _rows(vault)
        behind = Chains(rows[:-10])  # the other replica lacks the last ten
        index = vault.index
        read = []
        for name in ("query", "get_many"):
            real = getattr(index, name)

            def counted(*a: Any, _real: Any = real, **kw: Any) -> Any:
                out = _real(*a, **kw)
                read.append(len(out))
                return out

            monkeypatch.setattr(index, name, counted)
        sent, received = exchange(Chains.from_vault(vault), behind)
        assert sent == [r.event_id for r in rows[-10:]]
        assert received == []
        assert sum(read) < 600  # the kept frontier, a few samples, one page walked back
    finally:
        vault.close()

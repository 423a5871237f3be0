"""The roll-up rules on their own (core/rollup.py, core/event_merkle.py): the reference's
event Merkle root at every size, what counts as growth and what as a rewritten child, a
malformed roll-up named by field, and the tree's choice of the last counting roll-up."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core import rollup
from provara_desktop.core.errors import InputError
from provara_desktop.core.event import build_event
from provara_desktop.core.event_merkle import EMPTY_ROOT, events_merkle_root
from provara_desktop.core.keys import SigningKey
from tests.conftest import require_reference

KEY = SigningKey(bytes(range(32)))


def chain(actor: str, n: int, *, start: int = 0, prev: str | None = None) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        ev = build_event(event_type="OBSERVATION", actor=actor, key=KEY, prev_event_hash=prev,
                         payload={"subject": f"s{i}", "predicate": "p", "value": i},
                         timestamp_utc=f"2026-12-03T10:{i // 60:02d}:{i % 60:02d}+00:00",
                         namespace="local")
        prev = str(ev["event_id"])
        out.append(dict(ev))
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=6),
                                max_size=3), max_size=40))
def test_the_event_merkle_root_is_the_references(events: list[dict[str, Any]]) -> None:
    reducer_v1 = require_reference("provara.reducer_v1")
    canonical_json = require_reference("provara.canonical_json")
    levels: dict[int, bytes] = {}
    for ev in events:
        reducer_v1._append_merkle_leaf(levels, canonical_json.canonical_dumps(ev).encode())
    expected = reducer_v1._frontier_root(levels)
    assert events_merkle_root(events) == expected
    assert events_merkle_root([]) == EMPTY_ROOT


def _attested(events: list[dict[str, Any]], uid: str = "child") -> rollup.Attested:
    state = rollup.child_state(events, uid, [])
    ev = build_event(event_type="ATTESTATION", actor="parent", key=KEY, prev_event_hash=None,
                     payload=rollup.rollup_payload(state, mode=rollup.FULL,
                                                   parent_vault_uid="parent",
                                                   attested_utc="2026-12-03T10:00:00+00:00",
                                                   key_id=KEY.key_id), namespace="canonical")
    return rollup.read_rollup(ev)


def _compare(attested: rollup.Attested, events: list[dict[str, Any]]) -> rollup.Comparison:
    now = rollup.child_state(events, attested.vault_uid, [])
    return rollup.compare(attested, now, {str(e["event_id"]) for e in events})


def test_growth_is_fine_and_rewriting_is_not() -> None:
    alice = chain("alice", 5)
    bob = chain("bob", 3, start=10)
    att = _attested(alice + bob)
    assert _compare(att, alice + bob).status == rollup.SAME
    longer = alice + chain("alice", 2, start=5, prev=str(alice[-1]["event_id"]))
    grown = _compare(att, longer + bob + chain("carol", 1, start=30))
    assert grown.status == rollup.GROWN
    assert grown.grown_by == 3
    # Bob's last event replaced by another at the same place: the count holds, history not.
    forked = alice + bob[:2] + chain("bob", 1, start=40, prev=str(bob[1]["event_id"]))
    rewritten = _compare(att, forked)
    assert rewritten.status == rollup.DRIFT
    assert [d.code for d in rewritten.drift] == [rollup.REWRITTEN]
    assert "bob" in rewritten.drift[0].message
    shrunk = _compare(att, alice)
    assert {d.code for d in shrunk.drift} == {rollup.SHRUNK, rollup.REWRITTEN}
    other = rollup.compare(att, rollup.child_state(alice + bob, "another", []), set())
    assert [d.code for d in other.drift] == [rollup.OTHER_VAULT]


def test_a_malformed_rollup_is_named_by_its_field() -> None:
    att = _attested(chain("alice", 2))
    base = build_event(event_type="ATTESTATION", actor="parent", key=KEY, prev_event_hash=None,
                       payload=rollup.rollup_payload(
                           rollup.child_state(chain("alice", 2), "child", []),
                           mode=rollup.FULL, parent_vault_uid="parent",
                           attested_utc="t", key_id=KEY.key_id), namespace="canonical")
    assert att.event_count == 2
    for field, bad, said in (("event_count", -1, "value.event_count"),
                             ("heads", {"alice": [1]}, "value.heads"),
                             ("state_hash", "", "value.state_hash"),
                             ("version", 99, "value.version"),
                             ("vault_uid", "elsewhere", "does not name value.vault_uid")):
        ev = copy.deepcopy(dict(base))
        ev["payload"]["value"][field] = bad
        with pytest.raises(InputError, match=said):
            rollup.read_rollup(ev)


def test_the_tree_takes_the_last_counting_rollup_and_bounds_nesting() -> None:
    first = _attested(chain("alice", 2))
    second = _attested(chain("alice", 3))
    edges = rollup.edges_of([(first, False), (second, True)], "parent")
    [edge] = edges
    assert edge.attested["event_count"] == 2  # the later one is void: the earlier counts
    assert edge.count == 2
    # A hostile summary nesting children a thousand deep is cut, not recursed into.
    deep: list[dict[str, Any]] = []
    node = deep
    for i in range(1000):
        child: dict[str, Any] = {"vault_uid": f"v{i}", "children": []}
        node.append(child)
        node = child["children"]
    hostile = rollup.Attested(**{**first.__dict__, "children": deep})
    nested = rollup.edges_of([(hostile, False)], "parent")
    assert 1 < len(nested) <= 40
    assert rollup.tree("parent", nested)["children"][0]["vault_uid"] == "child"

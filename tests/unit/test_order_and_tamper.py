"""Properties: the total order and the state hash do not depend on arrival order; forks are
found; changing any byte of any event is detected by verification."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.event import build_event
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.order import detect_forks, insertion_point, total_order
from provara_desktop.core.reducer import reduce_events
from provara_desktop.store.parallel_verify import verify_lines

if TYPE_CHECKING:
    import random

KEYS = [SigningKey(bytes([i + 1]) * 32) for i in range(3)]
ACTORS = ["alice", "bob", "carol"]
RING = KeyRing.from_keys_json({"keys": [
    {"key_id": k.key_id, "public_key_b64": k.public.b64, "algorithm": "Ed25519",
     "status": "active"} for k in KEYS]})


def make_log(steps: list[tuple[int, int, str, int]]) -> list[dict]:
    """Chained, signed events by three actors; timestamps deliberately skewed so causal
    order and timestamp order disagree sometimes."""
    heads: dict[int, str | None] = {0: None, 1: None, 2: None}
    out = []
    for n, (who, value, subject, skew) in enumerate(steps):
        ev = build_event(event_type="OBSERVATION", actor=ACTORS[who], key=KEYS[who],
                         payload={"subject": subject, "predicate": "p", "value": value,
                                  "confidence": 0.8},
                         prev_event_hash=heads[who],
                         timestamp_utc=f"2026-01-01T00:00:{(n * 3 + skew) % 60:02d}+00:00")
        heads[who] = ev["event_id"]
        out.append(ev)
    return out


STEPS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from(["s", "t"]),
                           st.integers(-20, 20)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(STEPS, st.randoms(use_true_random=False))
def test_order_and_state_hash_independent_of_arrival(steps: list, rnd: random.Random) -> None:
    log = make_log(steps)
    shuffled = log[:]
    rnd.shuffle(shuffled)
    a = [log[i] for i in total_order(log)]
    b = [shuffled[i] for i in total_order(shuffled)]
    assert [canonical_bytes(e) for e in a] == [canonical_bytes(e) for e in b]
    assert reduce_events(a).state_hash() == reduce_events(b).state_hash()
    # causal: each event comes after its predecessor
    pos = {e["event_id"]: i for i, e in enumerate(a)}
    for i, e in enumerate(a):
        if e["prev_event_hash"] is not None:
            assert pos[e["prev_event_hash"]] < i


@settings(max_examples=100, deadline=None)
@given(STEPS)
def test_insertion_point_agrees_with_full_recompute(steps: list) -> None:
    log = make_log(steps)
    ordered = [log[i] for i in total_order(log[:-1])]
    new = log[-1]
    prev_pos = next((i for i, e in enumerate(ordered)
                     if e["event_id"] == new["prev_event_hash"]), -1)
    keys = [(e["timestamp_utc"], e["event_id"]) for e in ordered]
    at = insertion_point(keys, prev_pos, (new["timestamp_utc"], new["event_id"]))
    expected = [log[i] for i in total_order(log)]
    assert ordered[:at] + [new] + ordered[at:] == expected


def test_fork_is_detected_with_both_events() -> None:
    base = make_log([(0, 1, "s", 0)])
    k = KEYS[0]
    a = build_event(event_type="OBSERVATION", actor="alice", key=k, payload={"v": 1},
                    prev_event_hash=base[0]["event_id"])
    b = build_event(event_type="OBSERVATION", actor="alice", key=k, payload={"v": 2},
                    prev_event_hash=base[0]["event_id"])
    forks = detect_forks(base + [a, b])
    assert len(forks) == 1
    assert set(forks[0].event_ids) == {a["event_id"], b["event_id"]}
    report = verify_lines([(i + 1, canonical_bytes(e)) for i, e in enumerate(
        [base[0], *sorted([a, b], key=lambda e: (e["timestamp_utc"], e["event_id"]))])], RING)
    assert not report.ok
    assert report.forks


def _lines(log: list[dict]) -> list[tuple[int, bytes]]:
    return [(i + 1, canonical_bytes(e)) for i, e in enumerate(log)]


def test_clean_log_verifies() -> None:
    log = make_log([(i % 3, i % 2, "s", 0) for i in range(12)])
    log = [log[i] for i in total_order(log)]
    report = verify_lines(_lines(log), RING)
    assert report.ok, [p.message for p in report.problems]
    assert report.event_count == 12


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_byte_change_is_detected(data: st.DataObject) -> None:
    log = make_log([(i % 3, i, "s", 0) for i in range(4)])
    log = [log[i] for i in total_order(log)]
    lines = _lines(log)
    which = data.draw(st.integers(0, len(lines) - 1))
    raw = bytearray(lines[which][1])
    at = data.draw(st.integers(0, len(raw) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    raw[at] = new_byte
    lines[which] = (which + 1, bytes(raw))
    report = verify_lines(lines, RING)
    assert not report.ok

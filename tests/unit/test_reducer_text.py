"""The state hash writes contested entries as text directly (Reducer.contested_text); that
text must be exactly the canonical encoding of the entry, for every kind of value, event id,
confidence and timestamp the reducer can hold."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provara_desktop.core.canonical import canonical_dumps
from provara_desktop.core.reducer import reduce_events
from tests.unit.test_reducer_differential import events

ODD_IDS = st.one_of(st.text(max_size=6), st.integers(-5, 2**70), st.floats(allow_nan=False),
                    st.lists(st.integers(), max_size=2))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.lists(ODD_IDS, max_size=25))
def test_contested_text_is_the_canonical_encoding(evs: list[dict], ids: list) -> None:
    for ev, odd in zip(evs, ids, strict=False):
        if odd != "" and odd != 0:  # falsy ids fall back to "unknown_event" anyway
            ev["event_id"] = odd
    reducer = reduce_events(evs)
    for key in reducer.contested_keys:
        entry = reducer.contested_entry(key)
        assert reducer.contested_text(key) == canonical_dumps(entry)
        # the beliefs table's one-line summary says what the entry says
        assert reducer.contested_values(key) == (
            entry["reason"], entry["total_evidence_count"], list(entry["evidence_by_value"]))
    assert reducer.contested_values("not:contested") is None


def test_hot_key_text_matches_with_many_values() -> None:
    evs = [{"type": "OBSERVATION", "event_id": f"evt_{i}", "actor": f"a{i % 3}",
            "namespace": "local",
            "payload": {"subject": "s", "predicate": "p", "value": [i % 4, "x", -0.0][i % 3],
                        "confidence": 0.5 + (i % 5) / 10, "timestamp": f"t\u00e9{i}"}}
           for i in range(300)]
    reducer = reduce_events(evs)
    assert reducer.contested_keys == ["s:p"]
    assert reducer.contested_text("s:p") == canonical_dumps(reducer.contested_entry("s:p"))
    reason, count, values = reducer.contested_values("s:p")  # type: ignore[misc]
    assert count == 300
    assert values == sorted({canonical_dumps(v) for v in (0, 1, 2, 3, "x", -0.0)})

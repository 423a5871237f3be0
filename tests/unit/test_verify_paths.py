"""Large logs are verified in worker processes, small ones on the caller's thread: both
paths must give exactly the same report, problems and their order included, and the fast
reading path (orjson) must read every line exactly as the standard library does."""

from __future__ import annotations

import gc
import json
import os
import signal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.event import build_event
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.logline import fast_load, join_lines
from provara_desktop.core.order import total_order
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store.parallel_verify import VerifyPool, verify_lines
from tests.unit.test_order_and_tamper import ACTORS, KEYS, RING, make_log

if TYPE_CHECKING:
    from collections.abc import Iterator


def _report(lines: list[tuple[int, bytes]], processes: bool) -> dict:
    r = verify_lines(lines, RING, processes=processes)
    return {"ok": r.ok, "count": r.event_count, "legacy": r.legacy_ids,
            "problems": [p.to_json() for p in r.problems],
            "forks": [f.to_json() for f in r.forks]}


def test_process_and_thread_paths_report_the_same_problems() -> None:
    log = make_log([(i % 3, i % 2, "s", 0) for i in range(5000)])
    raw = [canonical_bytes(e) for e in log]
    # Damage a spread of lines in every way verification tells apart.
    sig = json.loads(raw[10])
    sig["sig"] = sig["sig"][:-4] + ("AAA=" if not sig["sig"].endswith("AAA=") else "BBB=")
    raw[10] = canonical_bytes(sig)                                    # BAD_SIGNATURE
    raw[2100] = raw[2100].replace(b'"value":', b'"value": ', 1)        # NON_CANONICAL_LINE
    raw[2500] = b"{not json"                                            # MALFORMED_EVENT
    raw[3000] = b"   "                                                  # BLANK_LINE
    raw.insert(4097, raw[4000])                                         # DUPLICATE_EVENT_ID
    unknown = build_event(event_type="OBSERVATION", actor="mallory",
                          key=type(KEYS[0])(b"\x09" * 32),
                          payload={"subject": "s", "predicate": "p", "value": 1},
                          prev_event_hash=None, timestamp_utc="2026-01-01T00:00:59+00:00")
    raw.append(canonical_bytes(unknown))                                # UNKNOWN_KEY
    fork = build_event(event_type="OBSERVATION", actor=ACTORS[0], key=KEYS[0],
                       payload={"subject": "s", "predicate": "p", "value": 7},
                       prev_event_hash=log[0]["event_id"],
                       timestamp_utc="2026-01-01T00:00:59+00:00")
    raw.append(canonical_bytes(fork))                                   # a fork
    lines = list(enumerate(raw, 1))
    threads, procs = _report(lines, False), _report(lines, True)
    assert threads == procs
    codes = {p["code"] for p in procs["problems"]}
    assert {"BAD_SIGNATURE", "NON_CANONICAL_LINE", "MALFORMED_EVENT", "BLANK_LINE",
            "DUPLICATE_EVENT_ID", "UNKNOWN_KEY"} <= codes
    assert procs["forks"]
    assert not procs["ok"]


def _damaged_lines() -> list[tuple[int, bytes]]:
    log = make_log([(i % 3, i % 2, "s", 0) for i in range(3000)])
    raw = [canonical_bytes(e) for e in log]
    sig = json.loads(raw[10])
    sig["sig"] = sig["sig"][:-4] + ("AAA=" if not sig["sig"].endswith("AAA=") else "BBB=")
    raw[10] = canonical_bytes(sig)
    raw[2100] = raw[2100].replace(b'"value":', b'"value": ', 1)
    raw.insert(2500, raw[2400])
    return list(enumerate(raw, 1))


def _as_json(r: Any) -> dict:
    return {"ok": r.ok, "count": r.event_count, "legacy": r.legacy_ids,
            "problems": [p.to_json() for p in r.problems],
            "forks": [f.to_json() for f in r.forks]}


def test_a_kept_pool_reports_what_threads_report_with_each_call_s_keys() -> None:
    """One pool for many logs in a row (a sync session's batches): each log is checked with
    the keys given with it, not those the workers were started with or a previous one."""
    lines = _damaged_lines()
    with_keys = _as_json(verify_lines(lines, RING, processes=False))
    pool = VerifyPool(2)
    try:
        without = KeyRing({k: v for k, v in RING.entries.items() if k != KEYS[1].key_id})
        first = _as_json(verify_lines(lines, without, pool=pool))
        second = _as_json(verify_lines(lines, RING, pool=pool))
        assert pool.usable
    finally:
        pool.close()
    assert second == with_keys
    assert first == _as_json(verify_lines(lines, without, processes=False))
    assert "UNKNOWN_KEY" in {p["code"] for p in first["problems"]}
    assert {"BAD_SIGNATURE", "NON_CANONICAL_LINE", "DUPLICATE_EVENT_ID"} <= {
        p["code"] for p in second["problems"]}


def test_a_pool_whose_worker_died_checks_on_threads_with_the_same_report() -> None:
    lines = _damaged_lines()
    expected = _as_json(verify_lines(lines, RING, processes=False))
    pool = VerifyPool(2)
    try:
        pool.warm()
        for proc in list(pool._pool._processes.values()):  # killed from outside
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
        got = _as_json(verify_lines(lines, RING, pool=pool))
        assert not pool.usable
        assert pool.problem
        assert _as_json(verify_lines(lines, RING, pool=pool)) == expected  # threads now
    finally:
        pool.close()
    assert got == expected


def test_process_path_reports_a_clean_log_clean() -> None:
    log = make_log([(i % 3, i % 2, "s", 0) for i in range(3000)])
    log = [log[i] for i in total_order(log)]  # make_log's clock wraps every minute
    lines = list(enumerate((canonical_bytes(e) for e in log), 1))
    report = _report(lines, True)
    assert report["ok"]
    assert report["count"] == 3000
    assert not report["problems"]


def test_verification_leaves_the_garbage_collector_as_it_found_it() -> None:
    log = make_log([(0, 0, "s", 0)] * 50)
    lines = list(enumerate((canonical_bytes(e) for e in log), 1))
    assert gc.isenabled()
    seen: list[bool] = []

    def watched() -> Iterator[tuple[int, bytes]]:  # read by verify_lines as it runs
        for line in lines:
            seen.append(gc.isenabled())
            yield line

    verify_lines(watched(), RING, processes=False)
    assert len(seen) == len(lines)
    assert not any(seen)  # paused while it ran...
    assert gc.isenabled()   # ...and back on after
    gc.disable()
    try:
        verify_lines(lines, RING, processes=False)
        assert not gc.isenabled()  # a collector the caller turned off stays off
    finally:
        gc.enable()


def test_nested_and_failing_pauses_restore_the_collector() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_joined_lines_each_end_with_a_newline() -> None:
    assert join_lines([]) == b""
    assert join_lines([b"{}"]) == b"{}\n"
    assert join_lines(iter([b'{"a":1}', b"{}"])) == b'{"a":1}\n{}\n'


class _Node:
    """A plain object the collector tracks (and a weak reference can point at)."""


def test_kept_survivors_are_out_of_the_collectors_reach_and_still_freed() -> None:
    import weakref

    with gc_paused(keep_survivors=True):
        kept = [_Node() for _ in range(1000)]
    try:
        assert gc.isenabled()
        # Frozen: no generation holds them, so no pass of the collector walks them...
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in tracked for o in kept)
        # ...yet dropping them still frees them (reference counting).
        probe = weakref.ref(kept[0])
        del kept
        assert probe() is None
    finally:
        gc.unfreeze()


def test_a_pause_without_keep_leaves_survivors_to_the_collector() -> None:
    with gc_paused():
        kept = [_Node() for _ in range(10)]
    tracked = {id(o) for o in gc.get_objects()}
    assert all(id(o) in tracked for o in kept)


JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda kids: st.lists(kids, max_size=3)
                           | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                           max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_fast_reader_reads_what_the_standard_library_reads(value: object) -> None:
    line = canonical_bytes({"event_id": "evt_x", "payload": {"value": value}})
    fast = fast_load(line)
    slow = json.loads(line)
    if fast is not None:  # None means "take the standard path", always allowed
        assert canonical_bytes(fast) == canonical_bytes(slow)
        assert repr(fast) == repr(slow)


@pytest.mark.parametrize("text", [
    b'{"v":123456789012345678901234567890}', b'{"v":-9223372036854775809}',
    b'{"v":1e400}', b'{"v":NaN}', b'{"v":"\\ud800"}'])
def test_fast_reader_steps_aside_where_it_would_differ(text: bytes) -> None:
    assert fast_load(text) is None


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20)


@settings(max_examples=1500, deadline=None)
@given(ANY_JSON)
def test_canonical_check_agrees_with_the_reference_encoder(value: object) -> None:
    """Verification decides "this line is canonical" with orjson where it can: a line the
    reference's encoder writes must pass, and the same event written any other way (here:
    orjson's own float forms) must not, or signatures would be checked on the wrong bytes."""
    import orjson

    from provara_desktop.core.verify_scan import parse_fast

    event = {"event_id": "evt_x", "payload": {"value": value}}
    line = canonical_bytes(event)
    got = parse_fast(line)  # None means "take the standard path", always allowed
    if got is not None:
        assert canonical_bytes(got) == line
        assert repr(got) == repr(json.loads(line))
    try:
        other = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return
    if other != line:
        assert parse_fast(other) is None

"""sorted_gently is sorted(), piece by piece: same order, same stability, any size."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.runtime import piecewise_sort
from provara_desktop.runtime.piecewise_sort import sorted_gently


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 50))),
       st.booleans(), st.integers(1, 7))
def test_same_result_as_sorted_stability_included(items: list[tuple[str, int]],
                                                  reverse: bool, piece: int) -> None:
    old = piecewise_sort._PIECE
    piecewise_sort._PIECE = piece  # tiny pieces: many merges even on short lists
    try:
        key = lambda t: t[0]  # noqa: E731 - ties on the key show whether order is stable
        assert sorted_gently(items, key=key, reverse=reverse) == sorted(
            items, key=key, reverse=reverse)
        assert sorted_gently(items, reverse=reverse) == sorted(items, reverse=reverse)
    finally:
        piecewise_sort._PIECE = old


def test_another_thread_gets_the_interpreter_during_a_big_sort() -> None:
    # The point of sorting in pieces: a thread that wants the GIL (the GUI thread, here a
    # ticker) is not shut out for the whole sort, as it is during one sorted() call.
    keys = [f"exhibit-{(i * 7919) % 600_000:06d}:location" for i in range(600_000)]

    def longest_gap(sort: object) -> float:
        gaps: list[float] = []
        stop = threading.Event()

        def tick() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                time.sleep(0.0005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        t = threading.Thread(target=tick)
        t.start()
        time.sleep(0.01)
        sort(keys)  # type: ignore[operator]
        stop.set()
        t.join()
        return max(gaps)

    one_call, pieces = longest_gap(sorted), longest_gap(sorted_gently)
    assert pieces < one_call / 2, (pieces, one_call)

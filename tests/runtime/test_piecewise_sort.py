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
    # ticker) is not shut out for the whole sort, as it is during one sorted() call. Counted
    # as the ticker's turns while the sort runs, not as seconds (a busy machine stretches
    # every gap, not the count of turns a sort that holds the GIL allows: none).
    keys = [f"exhibit-{(i * 7919) % 600_000:06d}:location" for i in range(600_000)]

    def turns_during(sort: object) -> int:
        turns = [0]
        sorting = threading.Event()
        stop = threading.Event()

        def tick() -> None:
            while not stop.is_set():
                time.sleep(0.0005)
                if sorting.is_set():
                    turns[0] += 1

        t = threading.Thread(target=tick)
        t.start()
        time.sleep(0.01)
        sorting.set()
        sort(keys)  # type: ignore[operator]
        sorting.clear()
        stop.set()
        t.join()
        return turns[0]

    one_call, pieces = turns_during(sorted), turns_during(sorted_gently)
    # one sorted() call allows a turn as it begins and one as it ends (~2); the pieces
    # allow one every few milliseconds (~130 here)
    assert pieces >= 10 * max(1, one_call), (pieces, one_call)

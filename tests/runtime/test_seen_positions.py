"""SeenPositions: where a rewrite of the log began, from marks compared end first, and what
that costs (lookups by position) when nothing changed and when a rewrite did."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from provara_desktop.runtime.seen_positions import SeenPositions


class Row(NamedTuple):
    event_id: str


class Log:
    """A log as the index answers by position, counting the lookups."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.lookups = 0

    def row_at(self, pos: int) -> Row | None:
        self.lookups += 1
        return Row(self.ids[pos]) if 0 <= pos < len(self.ids) else None


def _merge(ids: list[str], at: int, new: list[str]) -> list[str]:
    """The log after a merge whose first inserted event sorts at ``at``: every later old
    event moves on by the insertions before it."""
    return ids[:at] + new + ids[at:]


def test_intact_log_costs_one_lookup() -> None:
    log = Log([f"e{i}" for i in range(10_000)])
    seen = SeenPositions(log.row_at, 10_000)
    log.lookups = 0
    assert seen.first_changed() == 10_000
    assert log.lookups == 1


def test_appends_are_not_a_rewrite() -> None:
    log = Log([f"e{i}" for i in range(1000)])
    seen = SeenPositions(log.row_at, 1000)
    log.ids += ["x1", "x2"]
    assert seen.first_changed() == 1000  # what the session had seen is all still there
    seen.record(1000, 1002)
    assert seen.first_changed() == 1002


@pytest.mark.parametrize("at", [0, 1, 255, 256, 257, 700, 998, 999])
def test_a_merge_is_found_no_later_than_it_began(at: int) -> None:
    ids = [f"e{i}" for i in range(1000)]
    log = Log(ids)
    seen = SeenPositions(log.row_at, 1000)
    log.ids = _merge(ids, at, ["late"])
    first = seen.first_changed()
    assert first <= at
    assert at - first < seen.stride  # within one stride of where it began


@pytest.mark.parametrize("at", [3, 300, 990])
def test_a_rewrite_keeping_the_length_is_found(at: int) -> None:
    ids = [f"e{i}" for i in range(1000)]
    log = Log(ids)
    seen = SeenPositions(log.row_at, 1000)
    log.ids = _merge(ids, at, ["late"])[:-1]  # the newest event dropped: same length
    first = seen.first_changed()
    assert first <= at
    assert at - first < seen.stride


def test_a_shorter_log_is_a_rewrite() -> None:
    ids = [f"e{i}" for i in range(1000)]
    log = Log(ids)
    seen = SeenPositions(log.row_at, 1000)
    log.ids = ids[:600]
    assert seen.first_changed() <= 600


def test_recording_keeps_one_mark_per_stride_and_the_end() -> None:
    log = Log([f"e{i}" for i in range(300)])
    seen = SeenPositions(log.row_at, 300)
    for n in range(301, 1301):  # a thousand single appends
        log.ids.append(f"e{n - 1}")
        seen.record(n - 1, n)
    assert seen._pos == [*range(seen.stride - 1, 1300 - 1, seen.stride), 1299]
    # a rewrite after all those appends is still found from the marks
    log.ids = _merge(log.ids, 1100, ["late"])
    assert 1100 - seen.stride < seen.first_changed() <= 1100


def test_a_big_log_is_remembered_with_about_a_thousand_lookups() -> None:
    log = Log([f"e{i}" for i in range(1_000_000)])
    seen = SeenPositions(log.row_at, 1_000_000)
    assert log.lookups <= 1100
    log.lookups = 0
    log.ids = _merge(log.ids, 500_000, ["late"])
    first = seen.first_changed()
    assert 500_000 - seen.stride < first <= 500_000
    assert log.lookups <= 600  # the marks after the start, then the one before it


def test_an_empty_log() -> None:
    log = Log([])
    seen = SeenPositions(log.row_at, 0)
    assert seen.first_changed() == 0
    log.ids = ["a"]
    assert seen.first_changed() == 0

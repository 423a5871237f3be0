"""The ids a session keeps of the last positions it reduced: exact while kept, None (so the
caller falls back to every key of the tail) once a rewrite reaches before them."""

from __future__ import annotations

from provara_desktop.runtime.recent_ids import RecentIds


def test_kept_ids_follow_appends_rewrites_and_trimming() -> None:
    log = [f"e{i}" for i in range(10)]
    recent = RecentIds(keep=6)
    recent.reset(len(log), lambda a, b: log[a:b])
    assert recent.between(4, 10) == set(log[4:])
    assert recent.between(3, 10) is None  # trimmed away
    log += ["e10", "e11"]
    recent.extend(["e10", "e11"])
    assert recent.between(6, 12) == set(log[6:])
    assert recent.between(5, 12) is None
    log[8:] = ["x", "e8", "e9", "e10", "e11"]  # an event merged at position 8
    recent.replace_from(8, log[8:])
    assert recent.between(8, 13) == {"x", "e8", "e9", "e10", "e11"}
    assert recent.between(7, 14) is None  # past the end
    recent.replace_from(2, log[2:])  # a rewrite from before what is kept: from there on
    assert recent.between(7, 13) == set(log[7:])

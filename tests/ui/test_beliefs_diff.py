"""diff_rows: snapshots applied as insertions and removals give exactly the new snapshot."""

from __future__ import annotations

import random

from provara_desktop.ui.models.beliefs_model import NAMESPACES, BeliefsModel, diff_rows


def _sorted(rows: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(rows, key=lambda r: (NAMESPACES.index(r[0]), r[1]))


def test_diff_applied_to_the_model_gives_the_new_rows(qtmodeltester) -> None:
    rng = random.Random(7)
    universe = [(ns, f"k{i:03d}") for ns in NAMESPACES for i in range(60)]
    model = BeliefsModel()
    current = _sorted(set(rng.sample(universe, 80)))
    model.set_rows(list(current), None)
    for _ in range(40):
        new = set(current)
        for r in rng.sample(universe, rng.randrange(0, 12)):
            new ^= {r}  # add some, drop some
        target = _sorted(new)
        ops = diff_rows(current, target)
        assert ops is not None
        model.apply_rows(ops, None)
        assert model.rows == target
        current = target
    qtmodeltester.check(model)


def test_too_many_changes_ask_for_a_reset() -> None:
    old = [("local", f"a{i:05d}") for i in range(0, 4000, 2)]
    new = [("local", f"a{i:05d}") for i in range(1, 4000, 2)]
    assert diff_rows(old, new) is None
    assert diff_rows(old, old) == []

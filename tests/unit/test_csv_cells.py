"""CSV cells: a number keeps its sign; anything a spreadsheet would run as a formula is kept
as text (store/csv_export.py)."""

from __future__ import annotations

import pytest

from provara_desktop.store.csv_export import csv_text


@pytest.mark.parametrize(("value", "cell"), [
    ("-5", "-5"), ("+1.5e3", "+1.5e3"), ("-.25", "-.25"), ("plain", "plain"), (None, ""),
    (3, "3"), ("=SUM(A1)", "'=SUM(A1)"), ("@cmd", "'@cmd"), ("+cmd", "'+cmd"),
    ("-2+3", "'-2+3"), ("\tx", "'\tx"),
])
def test_cells(value: object, cell: str) -> None:
    assert csv_text(["h"], [[value]]).splitlines()[1].strip('"') == cell

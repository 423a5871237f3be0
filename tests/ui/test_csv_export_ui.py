"""File › Export this table as CSV…: exactly the rows the current tab shows, its filter
applied (the beliefs table after a search, the timeline after a subject filter), and a cell
that a spreadsheet would run as a formula kept as text."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QLineEdit

if TYPE_CHECKING:
    from pathlib import Path


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_csv_holds_exactly_the_filtered_rows(qtbot: Any, make_window: Any, session: Any,
                                            unlocked: Any, tmp_path: Path) -> None:
    ident, key = unlocked
    session.unlock(key, ident.actor)
    for subject, value in (("door", "open"), ("door-2", "shut"), ("window", "ajar"),
                           ("=HYPERLINK(1)", "x")):
        session.observe(subject=subject, predicate="state", value=value).result(timeout=15)
    window = make_window(session, key=key)
    beliefs = window.views["Beliefs"]
    window.tabs.setCurrentWidget(beliefs)
    qtbot.keyClicks(beliefs.findChild(QLineEdit, "beliefSearch"), "door")
    qtbot.waitUntil(lambda: len(beliefs.model.rows) == 2, timeout=10000)
    out = tmp_path / "beliefs.csv"
    window.on_export_csv(str(out))
    header, *rows = _read(out)
    assert header[:2] == ["Namespace", "Subject : predicate"]
    assert sorted(r[1] for r in rows) == ["door-2:state", "door:state"]
    # The timeline, filtered by subject: the same events as the index finds.
    timeline = window.views["Timeline"]
    window.tabs.setCurrentWidget(timeline)
    timeline.subject_filter.setText("window")
    timeline.subject_filter.editingFinished.emit()
    qtbot.waitUntil(lambda: timeline.model.filter.subject == "window", timeout=5000)
    out = tmp_path / "timeline.csv"
    window.on_export_csv(str(out))
    qtbot.waitUntil(out.exists, timeout=15000)
    header, *rows = _read(out)
    assert header[6] == "Event id"
    expected = [r.event_id for r in session.vault.index.query(subject="window")]
    assert [r[6] for r in rows] == expected
    assert len(expected) == 1
    # No filter: every event, and a formula-looking subject kept as text.
    timeline.subject_filter.setText("")
    timeline.subject_filter.editingFinished.emit()
    qtbot.waitUntil(lambda: timeline.model.filter.subject is None, timeout=5000)
    out = tmp_path / "all.csv"
    window.on_export_csv(str(out))
    qtbot.waitUntil(out.exists, timeout=15000)
    _, *rows = _read(out)
    assert len(rows) == session.vault.index.count()
    assert "'=HYPERLINK(1)" in [r[4] for r in rows]

"""A belief with a long history must not push the main window wider than the screen: the
summary line above the history table elides, and its full text stays one hover away."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTableView

from provara_desktop.store import evidence
from provara_desktop.ui.models.beliefs_model import KeyRole

SUBJECT, PREDICATE = "exhibit-9", "location"
KEY = f"{SUBJECT}:{PREDICATE}"


def _long_contested_history(session, unlocked) -> int:  # type: ignore[no-untyped-def]
    """Write one key whose state keeps changing (local -> contested -> none, 22 times)
    and ends contested: 68 events, a history summary with ~70 states in it."""
    ident, key = unlocked
    vault, n = session.vault, 0
    for cycle in range(22):
        for value in (f"locker {cycle}", f"room {cycle}"):
            evidence.observe(vault, key, ident.actor, subject=SUBJECT, predicate=PREDICATE,
                             value=value, confidence=0.5)
            n += 1
        evidence.retract(vault, key, ident.actor, subject=SUBJECT, predicate=PREDICATE,
                         reason=f"cycle {cycle} closed")
        n += 1
    for value in ("shelf A", "shelf B"):
        evidence.observe(vault, key, ident.actor, subject=SUBJECT, predicate=PREDICATE,
                         value=value)
        n += 1
    return n


def test_long_history_keeps_the_window_width(qtbot, make_window, session, unlocked) -> None:
    n = _long_contested_history(session, unlocked)
    assert n >= 67
    window = make_window(session, key=unlocked[1])
    window.resize(1200, 760)
    view = window.views["Beliefs"]
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: window.width() == 1200, timeout=3000)
    table = view.findChild(QTableView, "beliefsTable")
    model = table.model()
    qtbot.waitUntil(lambda: any(model.index(r, 0).data(KeyRole) == KEY
                                for r in range(model.rowCount())), timeout=10000)
    assert view.select_belief("contested", KEY)

    hist = view.findChild(QTableView, "historyTable").model()
    qtbot.waitUntil(lambda: hist.rowCount() == n, timeout=10000)
    title = view.findChild(QLabel, "historyTitle")
    qtbot.waitUntil(lambda: "loading" not in title.text(), timeout=5000)
    qtbot.wait(50)  # let the layout settle after the new summary

    assert window.width() == 1200, f"the window grew to {window.width()} px"
    assert window.minimumSizeHint().width() <= 1200
    assert title.width() <= window.width()
    # still readable: the whole summary is in the tooltip and the start is on screen
    full = f"History of {KEY}: {n} events · " + " → ".join(
        ["none", "local", "contested"] * 23)
    assert title.toolTip() == full
    assert title.text() == title.toolTip()
    assert title.displayed_text().startswith(f"History of {KEY}: {n} events")
    assert title.displayed_text().endswith("…")
    assert title.fontMetrics().horizontalAdvance(title.displayed_text()) <= title.width()

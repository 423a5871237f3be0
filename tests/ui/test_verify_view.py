"""The verify tab: progress, cancel, the list of problems, and jumping to an event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QTableView

from provara_desktop.runtime.bus import EventBus
from provara_desktop.session import VaultSession
from provara_desktop.store.vault import Vault
from provara_desktop.ui.models.problems_model import ProblemsModel, rows_from_report
from tests.bench.gen_vault import generate

if TYPE_CHECKING:
    from pathlib import Path


def _tamper_signature(session: VaultSession, line_no: int) -> str:
    """Flip one character of the signature of log line ``line_no`` (same length, so the
    index still matches); returns that event's id."""
    import json

    path = session.vault.events_path
    lines = path.read_bytes().split(b"\n")
    ev = json.loads(lines[line_no - 1])
    sig = ev["sig"]
    bad = ("A" if sig[0] != "A" else "B") + sig[1:]
    lines[line_no - 1] = lines[line_no - 1].replace(sig.encode(), bad.encode())
    path.write_bytes(b"\n".join(lines))
    return str(ev["event_id"])


def test_verify_clean_vault_with_progress(qtbot, make_window, session, unlocked) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    qtbot.keyClick(window, Qt.Key.Key_F5)  # Vault > Verify
    view = window.views["Verify"]
    assert window.tabs.currentWidget() is view
    summary = view.findChild(QLabel, "verifySummary")
    qtbot.waitUntil(lambda: summary.text().startswith("Verified"), timeout=10000)
    assert view.findChild(QProgressBar, "verifyProgress").value() == 1000
    assert view.findChild(QTableView, "problemsTable").model().rowCount() == 0
    assert window.verify_label.text() == "Verified 2 events: OK"
    assert view.findChild(QPushButton, "verifyButton").isEnabled()
    assert not view.findChild(QPushButton, "cancelVerifyButton").isEnabled()


def test_problem_list_and_jump_to_event(qtbot, make_window, session, unlocked,
                                        monkeypatch) -> None:
    _ident, key = unlocked
    for i in range(3):
        session.unlock(key, _ident.actor, _ident)
        session.observe(subject=f"s{i}", predicate="p", value=i).result(timeout=10)
    bad_id = _tamper_signature(session, 3)
    window = make_window(session, key=key)
    view = window.views["Verify"]
    window.tabs.setCurrentWidget(view)
    qtbot.mouseClick(view.findChild(QPushButton, "verifyButton"), Qt.MouseButton.LeftButton)
    summary = view.findChild(QLabel, "verifySummary")
    qtbot.waitUntil(lambda: summary.text().startswith("FAILED"), timeout=10000)
    assert "Verification FAILED" in window.verify_label.text()
    assert session.last_report is not None
    table = view.findChild(QTableView, "problemsTable")
    model = table.model()
    rows = [(model.index(r, 1).data(), model.index(r, 2).data()) for r in range(model.rowCount())]
    row = next(i for i, (_code, eid) in enumerate(rows) if eid == bad_id)
    assert "SIG" in rows[row][0]
    assert model.index(row, 0).data() == "error"

    shown: list[str] = []
    timeline = window.views["Timeline"]
    monkeypatch.setattr(timeline, "show_event", shown.append, raising=False)
    table.setCurrentIndex(model.index(row, 5))
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Return)
    assert shown == [bad_id]
    assert window.tabs.currentWidget() is timeline


def test_cancel_a_running_verification(qtbot, make_window, tmp_path: Path, home: Path) -> None:
    gv = generate(tmp_path / "big", 12_000, home=home, workers=0)
    session = VaultSession(Vault.open(gv.path, home=home), bus=EventBus())
    window = make_window(session)
    view = window.views["Verify"]
    window.tabs.setCurrentWidget(view)
    cancel = view.findChild(QPushButton, "cancelVerifyButton")
    bar = view.findChild(QProgressBar, "verifyProgress")
    qtbot.mouseClick(view.findChild(QPushButton, "verifyButton"), Qt.MouseButton.LeftButton)
    assert cancel.isEnabled()
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=20000)  # progress moves
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    summary = view.findChild(QLabel, "verifySummary")
    qtbot.waitUntil(lambda: "cancelled" in summary.text(), timeout=20000)
    assert session.last_report is None
    assert window.verify_label.text() == "Not verified"
    assert view.findChild(QPushButton, "verifyButton").isEnabled()


def test_problems_model_passes_the_model_tester(qtmodeltester, session, unlocked) -> None:
    ident, key = unlocked
    session.unlock(key, ident.actor, ident)
    session.observe(subject="a", predicate="b", value=1).result(timeout=10)
    _tamper_signature(session, 3)
    model = ProblemsModel()
    qtmodeltester.check(model)
    model.set_rows(rows_from_report(session.verify().result(timeout=30)))
    qtmodeltester.check(model)
    assert model.rowCount() >= 1


def test_summary_counts_agree_with_the_rows(qtbot, make_window, tmp_path: Path) -> None:
    """A vault with a fork and a clock-skew warning: the summary's error and warning counts
    are the rows' own (a fork fails verification, so it is an error in both places)."""
    import re

    from tests.store.test_provenance import build_case

    case = build_case(tmp_path, fork=True, skew=True)
    session = VaultSession(case.vault, bus=EventBus())
    window = make_window(session)
    view = window.views["Verify"]
    window.tabs.setCurrentWidget(view)
    qtbot.mouseClick(view.findChild(QPushButton, "verifyButton"), Qt.MouseButton.LeftButton)
    summary = view.findChild(QLabel, "verifySummary")
    qtbot.waitUntil(lambda: summary.text().startswith("FAILED"), timeout=10000)
    model = view.findChild(QTableView, "problemsTable").model()
    severities = [model.index(r, 0).data() for r in range(model.rowCount())]
    codes = [model.index(r, 1).data() for r in range(model.rowCount())]
    assert severities.count("error") >= 1
    assert codes.count("FORK") == 1
    assert severities[codes.index("FORK")] == "error"

    def count(word: str) -> int:
        m = re.search(rf"(\d[\d,]*) {word}s?\b", summary.text())
        return int(m.group(1).replace(",", "")) if m else 0

    assert count("error") == severities.count("error"), summary.text()
    assert count("warning") == severities.count("warning"), summary.text()
    assert count("fork") == codes.count("FORK"), summary.text()
    # the status bar says the same number of problems that fail the vault
    bad = severities.count("error")
    assert window.verify_label.text() == (
        f"Verification FAILED: {bad} problem{'' if bad == 1 else 's'}")
    session.close()

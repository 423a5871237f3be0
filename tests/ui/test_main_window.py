"""Desktop conventions: tabs, menus and shortcuts, settings kept between runs, theme, the log
panel, the status bar, dropping files on the window, crash dialog, other writers."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QHeaderView, QMessageBox, QPlainTextEdit, QTableView

from provara_desktop.store.evidence import observe
from provara_desktop.store.vault import Vault
from provara_desktop.ui.errors import CrashReporter, install_excepthooks
from provara_desktop.ui.settings import THEME, Settings

if TYPE_CHECKING:
    from pathlib import Path


def test_tabs_menus_and_shortcuts(make_window, session, unlocked) -> None:
    window = make_window(session, key=unlocked[1])
    assert window.objectName() == "mainWindow"
    assert window.tabs.objectName() == "mainTabs"
    assert [window.tabs.tabText(i) for i in range(4)] == ["Beliefs", "Contested", "Timeline",
                                                          "Verify"]
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Evidence", "View", "Vault", "Help"]
    keys = {name: QKeySequence(seq) for name, seq in (
        ("actOpenVault", "Ctrl+O"), ("actObserve", "Ctrl+N"), ("actQuit", "Ctrl+Q"),
        ("actVerify", "F5"))}
    from PySide6.QtGui import QAction

    for name, seq in keys.items():
        act = window.findChild(QAction, name)
        assert seq in act.shortcuts(), name
    for name in ("actNewIdentity", "actLock", "actNewVault", "actExport", "actImport",
                 "actReport", "actAttest", "actRetract", "actReindex", "actAbout"):
        assert window.findChild(QAction, name) is not None, name


def test_view_shortcuts_switch_tabs(qtbot, make_window, session) -> None:
    window = make_window(session)
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Timeline"
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Verify"


def test_window_geometry_and_tab_survive_a_restart(qtbot, make_window) -> None:
    window = make_window()
    window.resize(700, 500)
    window.tabs.setCurrentIndex(2)
    window.close()
    again = make_window()
    assert (again.size().width(), again.size().height()) == (700, 500)
    assert again.tabs.currentIndex() == 2


def test_table_columns_survive_a_restart(qtbot, make_window, session) -> None:
    window = make_window(session)
    header = window.views["Beliefs"].findChild(QTableView, "beliefsTable").horizontalHeader()
    header.resizeSection(1, 333)
    header.moveSection(2, 0)  # the user drags the Value column first
    window.close()
    from provara_desktop.runtime.bus import EventBus
    from provara_desktop.session import VaultSession

    s2 = VaultSession(Vault.open(session.vault.root, home=session.vault.home), bus=EventBus())
    again = make_window(s2)
    header2: QHeaderView = again.views["Beliefs"].findChild(
        QTableView, "beliefsTable").horizontalHeader()
    assert header2.sectionSize(1) == 333
    assert header2.visualIndex(2) == 0


def test_dark_theme_applies_and_persists(qtbot, make_window) -> None:
    window = make_window()
    app = QApplication.instance()
    try:
        window.theme_actions["dark"].trigger()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert Settings().get(THEME) == "dark"
        window.theme_actions["light"].trigger()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 200
    finally:
        window.theme_actions["system"].trigger()


def test_log_panel_shows_log_records(qtbot, make_window) -> None:
    window = make_window()
    logger = logging.getLogger("provara_desktop.test_panel")
    logger.addHandler(window.log_panel._handler)
    logger.setLevel(logging.INFO)
    try:
        window.act_log.trigger()
        assert window.log_panel.isVisible()
        logger.warning("index rebuilt from the log")
        text = window.log_panel.findChild(QPlainTextEdit, "logText")
        qtbot.waitUntil(lambda: "index rebuilt from the log" in text.toPlainText(),
                        timeout=3000)
    finally:
        logger.removeHandler(window.log_panel._handler)


def test_status_bar_and_appends_by_another_program(qtbot, make_window, session,
                                                   unlocked) -> None:
    ident, key = unlocked
    window = make_window(session, key=key)
    assert "2 events" in window.vault_label.text()
    assert ident.fingerprint in window.identity_button.text()
    assert window.verify_label.text() == "Not verified"
    other = Vault.open(session.vault.root, home=session.vault.home)
    observe(other, key, ident.actor, subject="door", predicate="status", value="shut")
    other.close()
    qtbot.waitUntil(lambda: "3 events" in window.vault_label.text(), timeout=8000)
    beliefs = window.views["Beliefs"]
    qtbot.waitUntil(lambda: ("local", "door:status") in beliefs.model.rows, timeout=5000)


def test_dropping_a_bundle_calls_import_bundle(qtbot, make_window, session, tmp_path: Path,
                                               monkeypatch) -> None:
    import importlib
    import types

    calls: list[tuple] = []
    fake = types.ModuleType("provara_desktop.ui.dialogs.bundle_dialogs")
    fake.import_bundle = lambda parent, s, path=None: calls.append((parent, s, path))
    real_import = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: fake if name.endswith(
        "bundle_dialogs") else real_import(name, *a))
    window = make_window(session)
    bundle = tmp_path / "case.provara-bundle"
    bundle.write_bytes(b"bundle bytes")
    from tests.ui.test_evidence_dialogs import _drop_files

    _drop_files(window, [bundle])
    assert calls == [(window, session, str(bundle))]


def test_uncaught_errors_open_a_crash_dialog_without_traceback(qtbot, make_window) -> None:
    window = make_window()
    reporter = CrashReporter()
    old_hooks = sys.excepthook, threading.excepthook
    install_excepthooks(reporter)
    try:
        def worker() -> None:
            raise ValueError("disk exploded")

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        qtbot.waitUntil(lambda: reporter.last is not None, timeout=3000)
    finally:
        sys.excepthook, threading.excepthook = old_hooks
    boxes = [w for w in QApplication.topLevelWidgets() + window.findChildren(QMessageBox)
             if w.objectName() == "crashDialog"]
    assert boxes
    box = boxes[-1]
    assert "disk exploded" in box.text()
    assert "Traceback" not in box.text() + box.informativeText()
    assert "log panel" in box.informativeText()
    box.close()


def test_the_window_fits_half_a_laptop_screen(qtbot, make_window, session, unlocked) -> None:
    # Investigators tile the app beside their case notes: on a 1366 px wide laptop screen
    # half is 683 px. Every tab must be usable at that width (the timeline's filter bar once
    # asked for 1,170 px).
    _ident, key = unlocked
    window = make_window(session, key=key)
    window.show()
    qtbot.waitExposed(window)
    for name, view in window.views.items():
        window.tabs.setCurrentWidget(view)
        assert window.minimumSizeHint().width() <= 683, name
    window.resize(683, 700)
    qtbot.wait(50)
    assert window.width() == 683

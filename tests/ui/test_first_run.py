"""First launch, identity and vaults, driven through the window as a user would."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton, QToolButton

from provara_desktop.ui.settings import RECENT_VAULTS, Settings
from tests.conftest import require_fixture
from tests.ui.conftest import PASSPHRASE

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.store.identity import IdentityStore


def _dialog(window, name: str) -> QDialog:  # type: ignore[no-untyped-def]
    found = [d for d in window.findChildren(QDialog, name) if d.isVisible()]
    assert found, f"no visible {name}"
    return found[-1]


def test_first_launch_creates_identity_then_default_vault(qtbot, make_window, home: Path,
                                                           store: IdentityStore) -> None:
    window = make_window()
    assert window.vault_label.text() == "No vault open"
    default = home / "vaults" / "default"
    window.start(default)
    qtbot.waitUntil(lambda: bool(window.findChildren(QDialog, "createIdentityDialog")))
    dlg = _dialog(window, "createIdentityDialog")
    error = dlg.findChild(QLabel, "identityError")
    create = dlg.findChild(QPushButton, "createIdentityButton")

    qtbot.mouseClick(create, Qt.MouseButton.LeftButton)  # nothing typed yet
    assert "Enter your name" in error.text()
    qtbot.keyClicks(dlg.findChild(QLineEdit, "identityName"), "Dana Tester")
    qtbot.keyClicks(dlg.findChild(QLineEdit, "identityPassphrase"), PASSPHRASE)
    qtbot.keyClicks(dlg.findChild(QLineEdit, "identityRepeat"), PASSPHRASE + "x")
    qtbot.mouseClick(create, Qt.MouseButton.LeftButton)
    assert "differ" in error.text()
    assert not store.exists()  # nothing was written for bad input

    repeat = dlg.findChild(QLineEdit, "identityRepeat")
    repeat.clear()
    qtbot.keyClicks(repeat, PASSPHRASE)
    qtbot.mouseClick(create, Qt.MouseButton.LeftButton)
    fpr = dlg.findChild(QLabel, "identityFingerprint")
    qtbot.waitUntil(lambda: fpr.text() != "", timeout=10000)
    ident = store.load()
    assert ident.name == "Dana Tester"
    assert fpr.text().split() == ident.fingerprint.split()
    assert [len(line.split()) for line in fpr.text().splitlines()] == [4, 4]  # read aloud
    assert fpr.isVisible()
    assert not default.exists()  # the vault is made once the user has seen the fingerprint

    qtbot.mouseClick(dlg.findChild(QPushButton, "identityDoneButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    assert window.session.vault.root == default
    assert (default / "events" / "events.ndjson").is_file()
    assert ident.fingerprint in window.identity_button.text()
    assert "2 events" in window.vault_label.text()
    assert Settings().get(RECENT_VAULTS) == [str(default)]


def test_lock_and_unlock_from_the_status_bar(qtbot, make_window, session, unlocked) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    button = window.findChild(QToolButton, "identityStatus")
    assert session.unlocked
    assert button.text().startswith("Signing as")
    assert window.act_lock.text() == "&Lock identity"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not session.unlocked
    assert button.text().startswith("Locked:")
    assert window.act_lock.text() == "&Unlock identity…"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dlg = _dialog(window, "unlockDialog")
    field = dlg.findChild(QLineEdit, "unlockPassphrase")
    qtbot.keyClicks(field, "wrong")
    qtbot.mouseClick(dlg.findChild(QPushButton, "unlockButton"), Qt.MouseButton.LeftButton)
    err = dlg.findChild(QLabel, "unlockError")
    qtbot.waitUntil(lambda: "Wrong passphrase" in err.text(), timeout=10000)
    assert dlg.isVisible()
    assert not session.unlocked

    field.clear()
    qtbot.keyClicks(field, PASSPHRASE)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: session.unlocked, timeout=10000)
    assert button.text().startswith("Signing as")

    # the menu action does the same: Ctrl+L locks
    window.act_lock.trigger()
    assert not session.unlocked


def test_open_reference_vault_and_recent_vaults(qtbot, make_window, session, unlocked,
                                                tmp_path: Path, monkeypatch) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    ref = tmp_path / "reference_backpack"
    shutil.copytree(require_fixture("reference_backpack"), ref)
    # The user picks the folder in the (native) directory picker.
    from PySide6.QtWidgets import QFileDialog
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(ref))
    window.act_open_vault.trigger()
    qtbot.waitUntil(lambda: window.session is not session, timeout=10000)
    assert window.session.vault.root == ref
    assert session.closed  # the previous vault was closed
    assert window.session.unlocked  # the identity stays unlocked across vaults
    beliefs = window.views["Beliefs"]
    qtbot.waitUntil(lambda: beliefs.model.rowCount() > 0, timeout=10000)

    recent = Settings().get(RECENT_VAULTS)
    assert recent[:2] == [str(ref), str(session.vault.root)]
    window.fill_recent_menu()
    texts = [a.text() for a in window.recent_menu.actions()]
    assert texts[:2] == [str(ref), str(session.vault.root)]
    window.recent_menu.actions()[1].trigger()  # back to the first vault
    qtbot.waitUntil(lambda: window.session.vault.root == session.vault.root, timeout=10000)


def test_opening_a_folder_that_is_no_vault_says_so(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    (tmp_path / "not-a-vault").mkdir()
    window.open_vault(tmp_path / "not-a-vault")
    qtbot.waitUntil(lambda: any(w.objectName() == "errorDialog" and w.isVisible()
                                for w in window.findChildren(QDialog)), timeout=10000)
    box = next(w for w in window.findChildren(QDialog) if w.objectName() == "errorDialog")
    assert "missing" in box.text()
    assert "Traceback" not in box.text() + box.informativeText()
    assert window.session is None


def test_new_identity_when_one_exists_explains_instead(qtbot, make_window, unlocked) -> None:
    ident, _ = unlocked
    window = make_window()
    window.act_new_identity.trigger()
    box = _dialog(window, "identityExistsDialog")
    assert ident.fingerprint in box.text()


def test_new_vault_from_the_file_menu(qtbot, make_window, session, unlocked, tmp_path: Path,
                                      monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    _ident, key = unlocked
    window = make_window(session, key=key)
    target = tmp_path / "case-2026-0413"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.act_new_vault.trigger()
    qtbot.waitUntil(lambda: window.session is not session, timeout=10000)
    assert window.session.vault.root == target
    assert (target / "manifest.json").is_file()
    assert "2 events" in window.vault_label.text()
    assert window.windowTitle().startswith("case-2026-0413")
    report = window.session.verify().result(timeout=30)
    assert report.ok


def test_reindex_from_the_vault_menu(qtbot, make_window, session, unlocked) -> None:
    ident, key = unlocked
    window = make_window(session, key=key)
    session.observe(subject="a", predicate="b", value=1).result(timeout=10)
    window.act_reindex.trigger()
    qtbot.waitUntil(lambda: "Index rebuilt: 3 events" in window.statusBar().currentMessage(),
                    timeout=10000)
    assert session.vault.index.count() == 3

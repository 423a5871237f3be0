"""Keys over time in the app: the first-run dialog saves a recovery file and the status bar
warns until the user confirms it is stored; an identity without a recovery key is told so;
the keys dialog shows each key's life; events a revoked key signed after its boundary are
flagged by the provenance checks every view uses (timeline marks, inspector, contested
cards), those before it are not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QToolButton,
)

from provara_desktop.store import evidence, key_rotation
from provara_desktop.store.event_check import SigStatus
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import read_recovery_file, write_recovery_file
from provara_desktop.store.vault import Vault
from provara_desktop.ui.dialogs.keys_dialog import KeysDialog, key_rows
from provara_desktop.ui.provenance_cache import Provenance
from tests.ui.conftest import PASSPHRASE

if TYPE_CHECKING:
    from provara_desktop.core.keys import SigningKey


def test_first_run_saves_a_recovery_file_and_warns_until_confirmed(
        qtbot: Any, make_window: Any, home: Path, store: IdentityStore, tmp_path: Path,
        monkeypatch: Any) -> None:
    window = make_window()
    window.start(home / "vaults" / "default")
    qtbot.waitUntil(lambda: bool(window.findChildren(QDialog, "createIdentityDialog")))
    dlg = [d for d in window.findChildren(QDialog, "createIdentityDialog") if d.isVisible()][-1]
    rec = tmp_path / "my-recovery.json"
    path_field = dlg.findChild(QLineEdit, "recoveryPath")
    assert path_field.text().startswith(str(Path.home()))  # offered in the user's home
    path_field.setText(str(rec))
    dlg.findChild(QCheckBox, "recoverySheet").setChecked(True)
    qtbot.keyClicks(dlg.findChild(QLineEdit, "identityName"), "Dana Tester")
    qtbot.keyClicks(dlg.findChild(QLineEdit, "identityPassphrase"), PASSPHRASE)
    qtbot.keyClicks(dlg.findChild(QLineEdit, "identityRepeat"), PASSPHRASE)
    qtbot.mouseClick(dlg.findChild(QPushButton, "createIdentityButton"),
                     Qt.MouseButton.LeftButton)
    note = dlg.findChild(QLabel, "identityRecoveryNote")
    qtbot.waitUntil(lambda: note.text() != "", timeout=10000)
    assert str(rec) in note.text()
    sheet = rec.with_suffix(".pdf")  # the page to print, beside the file
    assert str(sheet) in note.text()
    assert sheet.read_bytes().startswith(b"%PDF")
    ident = store.load()
    key, facts = read_recovery_file(rec)
    assert key.key_id == ident.recovery_key_id
    assert facts["key_id"] == ident.key_id
    qtbot.mouseClick(dlg.findChild(QPushButton, "identityDoneButton"),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    warning = window.findChild(QToolButton, "recoveryWarning")
    window.update_status()
    assert warning.isVisible()
    assert "not confirmed" in warning.text()
    # "No" changes nothing; "Yes" records it and the warning goes.
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.No)
    warning.click()
    assert warning.isVisible()
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    warning.click()
    assert not warning.isVisible()
    assert store.load().recovery_confirmed


def test_an_identity_without_a_recovery_key_is_told_so(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any) -> None:
    window = make_window(session, key=unlocked[1])
    window.update_status()
    warning = window.findChild(QToolButton, "recoveryWarning")
    assert warning.isVisible()
    assert "No recovery key" in warning.text()


def _rotated_vault(tmp_path: Path) -> tuple[Vault, dict[str, str], SigningKey]:
    """Alice's vault: two observations, a stolen-key event after the first, then a
    compromise rotation with the boundary at her first observation."""
    home, rec = tmp_path / "alice", tmp_path / "rec.json"
    alice = IdentityStore(home, opslimit=1, memlimit=8192)
    ident = alice.create_with_recovery("Alice", "pw",
                                       lambda i, r: write_recovery_file(rec, i, r) and None)
    key = alice.unlock("pw")
    v = Vault.init(tmp_path / "v", key=key, actor=ident.actor, home=home)
    first = evidence.observe(v, key, ident.actor, subject="door", predicate="state",
                             value="open").events[-1]["event_id"]
    later = evidence.observe(v, key, ident.actor, subject="door", predicate="state",
                             value="forged").events[-1]["event_id"]
    recovery, _ = read_recovery_file(rec)
    done = key_rotation.rotate(v, recovery=recovery, recovery_actor=ident.recovery_actor or "",
                               key_id=key.key_id, reason="compromise", boundary=first)
    return v, {"first": first, "later": later, "old": key.key_id,
               "new": done.new_key.key_id}, done.new_key


def test_the_keys_dialog_and_the_provenance_checks_show_key_life(
        qtbot: Any, tmp_path: Path) -> None:
    v, ids, _ = _rotated_vault(tmp_path)
    rows, problems = key_rows(v)
    by_key = {r[0]: r for r in rows}
    assert by_key[ids["old"]][1] == "revoked"
    assert by_key[ids["old"]][5] == ids["first"]  # the trust boundary
    assert by_key[ids["old"]][6] == ids["new"]
    assert by_key[ids["new"]][1] == "active"
    assert any(r[2] == "recovery" for r in rows)
    assert problems == []
    dlg = KeysDialog(v)
    qtbot.addWidget(dlg)
    assert dlg.table.rowCount() == len(rows)
    cache = Provenance(v)
    first, later = (v.index.get(ids[k]) for k in ("first", "later"))
    assert first is not None
    assert later is not None
    assert cache.check(first).sig is SigStatus.VALID  # before the boundary: still valid
    flagged = cache.check(later)
    assert flagged.sig is SigStatus.REVOKED
    assert "counts for nothing" in flagged.detail
    v.close()


def test_rotating_my_key_from_the_app_with_a_compromise_boundary(
        qtbot: Any, make_window: Any, home: Path, store: IdentityStore, tmp_path: Path) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QComboBox

    from provara_desktop.runtime.bus import EventBus
    from provara_desktop.session import VaultSession

    rec = tmp_path / "rec.json"
    ident = store.create_with_recovery("Dana Tester", PASSPHRASE,
                                       lambda i, r: write_recovery_file(rec, i, r) and None)
    key = store.unlock(PASSPHRASE)
    vault = Vault.init(home / "vaults" / "default", key=key, actor=ident.actor, home=home)
    vouched = evidence.observe(vault, key, ident.actor, subject="door", predicate="state",
                               value="open").events[-1]["event_id"]
    doubtful = evidence.observe(vault, key, ident.actor, subject="door", predicate="state",
                                value="closed").events[-1]["event_id"]
    session = VaultSession(vault, bus=EventBus())
    window = make_window(session, key=key)

    def fill() -> None:
        dlg = window.findChild(QDialog, "rotateKeyDialog")
        assert dlg is not None
        dlg.findChild(QLineEdit, "rotateRecoveryFile").setText(str(rec))
        reason = dlg.findChild(QComboBox, "rotateReason")
        reason.setCurrentIndex(reason.findData("compromise"))
        boundary = dlg.findChild(QComboBox, "rotateBoundary")
        assert boundary.itemData(0) == doubtful  # newest first
        boundary.setCurrentIndex(boundary.findData(vouched))
        dlg.findChild(QLineEdit, "rotatePassphrase").setText(PASSPHRASE)
        dlg.findChild(QPushButton, "rotateButton").click()

    QTimer.singleShot(0, fill)
    window.on_rotate_key()
    qtbot.waitUntil(lambda: window.key is not None and window.key.key_id != key.key_id,
                    timeout=15000)
    assert store.load().key_id == window.key.key_id  # the profile signs with the new key
    cache = Provenance(vault)
    assert cache.check(vault.index.get(vouched)).sig is SigStatus.VALID  # type: ignore[arg-type]
    assert cache.check(vault.index.get(doubtful)).sig is SigStatus.REVOKED  # type: ignore[arg-type]
    # And the app goes on signing, with the new key, under the same name.
    session.observe(subject="door", predicate="state", value="sealed").result(timeout=15)
    rows, _ = key_rows(vault)
    assert {r[0]: r[1] for r in rows}[key.key_id] == "revoked"
    session.close()


def test_a_lost_device_is_revoked_from_the_keys_dialog(
        qtbot: Any, make_window: Any, home: Path, store: IdentityStore, tmp_path: Path,
        monkeypatch: Any) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from provara_desktop.runtime.bus import EventBus
    from provara_desktop.session import VaultSession
    from provara_desktop.store.devices import add_device

    rec = tmp_path / "rec.json"
    ident = store.create_with_recovery("Dana Tester", PASSPHRASE,
                                       lambda i, r: write_recovery_file(rec, i, r) and None)
    key = store.unlock(PASSPHRASE)
    vault = Vault.init(home / "vaults" / "default", key=key, actor=ident.actor, home=home)
    evidence.observe(vault, key, ident.actor, subject="s", predicate="p", value=1)
    device = add_device(vault, store, key, name="field laptop", device_passphrase="d",
                        out=tmp_path / "laptop.device").device
    session = VaultSession(vault, bus=EventBus())
    window = make_window(session, key=key)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(rec), ""))
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("device_lost", True))
    seen: dict[str, Any] = {}

    def act() -> None:
        dlg = window.findChild(QDialog, "keysDialog")
        assert dlg is not None
        row = [r[0] for r in dlg.rows].index(device.key_id)
        assert "device 'field laptop' of" in dlg.rows[row][3]
        own = [r[0] for r in dlg.rows].index(key.key_id)
        dlg.table.selectRow(own)
        seen["own_revocable"] = dlg.revoke_button.isEnabled()
        # The people view: Dana with her keys and her device; picking the device there
        # picks it for revocation.
        tops = [dlg.people.topLevelItem(i) for i in range(dlg.people.topLevelItemCount())]
        dana = [t for t in tops if t.text(0).startswith(ident.actor)]
        assert len(dana) == 1
        assert "1 device(s)" in dana[0].text(0)
        kids = {dana[0].child(i).text(0): dana[0].child(i) for i in
                range(dana[0].childCount())}
        laptop = [item for text, item in kids.items() if "field laptop" in text]
        assert len(laptop) == 1
        assert device.key_id in laptop[0].text(0)
        assert any("recovery key" in t for t in kids)
        dlg.people.setCurrentItem(laptop[0])
        assert dlg.selected_key() == device.key_id
        assert dlg.revoke_button.isEnabled()
        dlg.revoke_button.click()

        def done() -> bool:
            return {r[0]: r[1] for r in dlg.rows}[device.key_id] == "revoked"

        def wait() -> None:
            if done():
                dlg.accept()
                seen["closed"] = True
            else:
                QTimer.singleShot(50, wait)

        QTimer.singleShot(50, wait)

    def when_shown() -> None:  # the dialog opens once its rows were read off the GUI thread
        if window.findChild(QDialog, "keysDialog") is None:
            QTimer.singleShot(20, when_shown)
        else:
            act()

    QTimer.singleShot(0, when_shown)
    window.on_vault_keys()
    qtbot.waitUntil(lambda: seen.get("closed", False), timeout=15000)
    life = {r[0]: r[1] for r in key_rows(vault)[0]}
    assert life[device.key_id] == "revoked"
    assert life[key.key_id] == "active"  # the person is unaffected
    assert not seen["own_revocable"]  # one's own key is rotated (File > Rotate my key)
    session.close()


def test_the_timeline_picks_the_boundary_of_a_compromise_rotation(
        qtbot: Any, make_window: Any, home: Path, store: IdentityStore, tmp_path: Path) -> None:
    """The user finds the last event they vouch for in the timeline and rotates from its
    inspector: the rotation dialog opens as a compromise with that event as the boundary."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QComboBox

    from provara_desktop.runtime.bus import EventBus
    from provara_desktop.session import VaultSession

    rec = tmp_path / "rec.json"
    ident = store.create_with_recovery("Dana Tester", PASSPHRASE,
                                       lambda i, r: write_recovery_file(rec, i, r) and None)
    key = store.unlock(PASSPHRASE)
    vault = Vault.init(home / "vaults" / "default", key=key, actor=ident.actor, home=home)
    vouched = evidence.observe(vault, key, ident.actor, subject="door", predicate="state",
                               value="open").events[-1]["event_id"]
    doubtful = evidence.observe(vault, key, ident.actor, subject="door", predicate="state",
                                value="closed").events[-1]["event_id"]
    session = VaultSession(vault, bus=EventBus())
    window = make_window(session, key=key)
    inspector = window.views["Timeline"].inspector
    button = inspector.findChild(QPushButton, "vouchUpToHere")
    assert not button.isEnabled()  # nothing inspected yet
    assert inspector.show_event(vouched)
    seen: dict[str, Any] = {}

    def fill() -> None:
        dlg = window.findChild(QDialog, "rotateKeyDialog")
        if dlg is None or not dlg.isVisible():
            QTimer.singleShot(20, fill)
            return
        seen["reason"] = dlg.findChild(QComboBox, "rotateReason").currentData()
        seen["boundary"] = dlg.findChild(QComboBox, "rotateBoundary").currentData()
        dlg.findChild(QLineEdit, "rotateRecoveryFile").setText(str(rec))
        dlg.findChild(QLineEdit, "rotatePassphrase").setText(PASSPHRASE)
        dlg.findChild(QPushButton, "rotateButton").click()

    QTimer.singleShot(0, fill)
    button.click()
    qtbot.waitUntil(lambda: window.key is not None and window.key.key_id != key.key_id,
                    timeout=15000)
    assert seen == {"reason": "compromise", "boundary": vouched}
    cache = Provenance(vault)
    assert cache.check(vault.index.get(vouched)).sig is SigStatus.VALID  # type: ignore[arg-type]
    assert cache.check(vault.index.get(doubtful)).sig is SigStatus.REVOKED  # type: ignore[arg-type]
    session.close()

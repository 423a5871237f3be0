"""Recording evidence through the dialogs: observation with attachments (picker and drag and
drop), attestation citing evidence, retraction with a reason, bad input and a locked
identity. Everything is checked in the vault itself."""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QFileDialog,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
)

from tests.ui.conftest import PASSPHRASE, tree_digest

if TYPE_CHECKING:
    from pathlib import Path


def gone(dialog) -> bool:  # type: ignore[no-untyped-def]
    """Closed (and so deleted: the dialogs delete themselves on close)."""
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def _events(session) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in session.vault.events_path.read_text().splitlines()]


def _visible(window, name: str):  # type: ignore[no-untyped-def]
    found = [d for d in window.findChildren(QDialog, name) if d.isVisible()]
    return found[-1] if found else None


def _fill(qtbot, dlg, **fields: str) -> None:  # type: ignore[no-untyped-def]
    for name, text in fields.items():
        edit = dlg.findChild(QLineEdit, name)
        edit.clear()
        qtbot.keyClicks(edit, text)


def _drop_files(widget, paths: list[Path]) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    from PySide6.QtGui import QDragEnterEvent

    pos = QPoint(10, 10)
    with warnings.catch_warnings():  # PySide6 flags the one constructor Qt 6 has
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


def test_observe_with_attachments_by_picker_and_drop(qtbot, make_window, session, unlocked,
                                                     tmp_path: Path, monkeypatch) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    photo = tmp_path / "scene-photo.jpg"
    photo.write_bytes(b"\xff\xd8 pretend jpeg " * 100)
    form = tmp_path / "custody-form.pdf"
    form.write_bytes(b"%PDF-1.4 custody form")
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # Ctrl+N
    dlg = _visible(window, "observeDialog")
    assert dlg is not None
    _fill(qtbot, dlg, subjectEdit="exhibit-0042", predicateEdit="location",
          valueEdit="locker 7", noteEdit="seen during the walk-through")
    dlg.findChild(QComboBox, "valueKind").setCurrentText("Text")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(photo)], ""))
    qtbot.mouseClick(dlg.findChild(QPushButton, "addFilesButton"), Qt.MouseButton.LeftButton)
    _drop_files(dlg, [form])
    assert dlg.findChild(QListWidget, "attachmentList").count() == 2
    dlg.confidence.setValue(0.8)

    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gone(dlg), timeout=10000)
    ev = _events(session)[-1]
    assert ev["type"] == "OBSERVATION"
    assert ev["actor"] == session.actor
    p = ev["payload"]
    assert (p["subject"], p["predicate"], p["value"], p["confidence"], p["note"]) == (
        "exhibit-0042", "location", "locker 7", 0.8, "seen during the walk-through")
    refs = {a["name"]: a for a in p["attachments"]}
    for f in (photo, form):
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        assert refs[f.name]["sha256"] == sha
        assert refs[f.name]["size"] == f.stat().st_size
        stored = session.vault.root / "artifacts" / "cas" / sha
        assert stored.read_bytes() == f.read_bytes()
    # shows up in the beliefs tab without any refresh by hand
    beliefs = window.views["Beliefs"]
    qtbot.waitUntil(lambda: ("local", "exhibit-0042:location") in beliefs.model.rows,
                    timeout=5000)
    assert "events" in window.vault_label.text()
    assert "3 events" in window.vault_label.text()


def test_number_and_json_values(qtbot, make_window, session, unlocked) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    for kind, text, expected in (("Number", "12.5", 12.5), ("Number", "7", 7),
                                 ("JSON", '{"room": 4, "shelf": "B"}', {"room": 4, "shelf": "B"})):
        window.act_observe.trigger()
        dlg = _visible(window, "observeDialog")
        dlg.findChild(QComboBox, "valueKind").setCurrentText(kind)
        _fill(qtbot, dlg, subjectEdit="exhibit-1", predicateEdit=f"p-{kind}-{text[:2]}",
              valueEdit=text)
        qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda d=dlg: gone(d), timeout=10000)
        value = _events(session)[-1]["payload"]["value"]
        assert value == expected
        assert type(value) is type(expected)


def test_invalid_json_is_named_and_the_vault_is_unchanged(qtbot, make_window, session,
                                                          unlocked) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    before = tree_digest(session.vault.root)
    window.act_observe.trigger()
    dlg = _visible(window, "observeDialog")
    dlg.findChild(QComboBox, "valueKind").setCurrentText("JSON")
    _fill(qtbot, dlg, subjectEdit="exhibit-1", predicateEdit="weight", valueEdit="{room: 4")
    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    boxes = [b for b in dlg.findChildren(QMessageBox) if b.objectName() == "errorDialog"]
    assert boxes, "no error dialog"
    assert "Value (JSON)" in boxes[-1].text()
    assert "Traceback" not in boxes[-1].text() + boxes[-1].informativeText()
    assert dlg.isVisible()  # what was typed is not lost
    boxes[-1].accept()
    # a NaN number and an empty subject are refused too
    dlg.findChild(QComboBox, "valueKind").setCurrentText("Number")
    _fill(qtbot, dlg, valueEdit="nan")
    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    texts = [b.text() for b in dlg.findChildren(QMessageBox)]
    assert any("NaN" in t for t in texts)
    qtbot.wait(100)
    assert tree_digest(session.vault.root) == before


def test_attest_cites_the_checked_evidence_then_retract(qtbot, make_window, session,
                                                        unlocked) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    k = dict(subject="exhibit-9", predicate="status")
    a = session.observe(**k, value="sealed", confidence=0.9).result(timeout=10)
    b = session.observe(**k, value="opened", confidence=0.9).result(timeout=10)
    ids = [a.events[0]["event_id"], b.events[0]["event_id"]]
    qtbot.waitUntil(lambda: session.beliefs() is not None, timeout=5000)

    window.on_attest(key="exhibit-9:status")
    dlg = _visible(window, "attestDialog")
    _fill(qtbot, dlg, valueEdit="sealed")
    dlg.load_evidence()
    targets = dlg.findChild(QListWidget, "targetList")
    assert targets.count() == 2
    # the observation with the attested value is ticked for the reviewer; tick the other too
    checked = [targets.item(i).checkState() == Qt.CheckState.Checked for i in range(2)]
    assert checked == [True, False]
    targets.item(1).setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gone(dlg), timeout=10000)
    ev = _events(session)[-1]
    assert ev["type"] == "ATTESTATION"
    assert ev["payload"]["target_event_ids"] == ids
    assert ev["payload"]["value"] == "sealed"
    assert session.beliefs().canonical["exhibit-9:status"]["value"] == "sealed"

    window.on_retract(key="exhibit-9:status")
    dlg = _visible(window, "retractDialog")
    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    assert any("Reason" in m.text() for m in dlg.findChildren(QMessageBox))
    _fill(qtbot, dlg, reasonEdit="seal was photographed broken")
    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gone(dlg), timeout=10000)
    ev = _events(session)[-1]
    assert ev["type"] == "RETRACTION"
    assert ev["payload"]["reason"] == "seal was photographed broken"
    assert "exhibit-9:status" not in session.beliefs().canonical
    assert session.beliefs().archived["exhibit-9:status"][-1]["retracted"] is True


def test_locked_identity_offers_to_unlock_then_signs(qtbot, make_window, session) -> None:
    window = make_window(session)  # never unlocked
    before = session.vault.events_path.read_bytes()
    window.act_observe.trigger()
    dlg = _visible(window, "observeDialog")
    _fill(qtbot, dlg, subjectEdit="door", predicateEdit="status", valueEdit="open")
    qtbot.mouseClick(dlg.findChild(QPushButton, "submitButton"), Qt.MouseButton.LeftButton)
    box = next(b for b in dlg.findChildren(QMessageBox) if b.objectName() == "lockedDialog")
    assert "locked" in box.text()
    assert session.vault.events_path.read_bytes() == before
    qtbot.mouseClick(box.findChild(QPushButton, "unlockNowButton"), Qt.MouseButton.LeftButton)
    unlock = _visible(window, "unlockDialog")
    assert unlock is not None
    qtbot.keyClicks(unlock.findChild(QLineEdit, "unlockPassphrase"), PASSPHRASE)
    qtbot.mouseClick(unlock.findChild(QPushButton, "unlockButton"), Qt.MouseButton.LeftButton)
    # once unlocked, the observation is signed without pressing anything again
    qtbot.waitUntil(lambda: gone(dlg), timeout=10000)
    ev = _events(session)[-1]
    assert ev["payload"] == {"subject": "door", "predicate": "status", "value": "open",
                             "confidence": 0.5}
    assert session.unlocked

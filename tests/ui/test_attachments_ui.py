"""Attachments looked at from the inspector: an image, a text and a PDF previewed (Qt
renders all three), saved and opened as exactly their checked bytes; a stored file whose
bytes were altered is flagged, and never shown, saved or opened."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import QColor, QDesktopServices, QImage, QPageSize, QPainter, QPdfWriter
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton

from provara_desktop.store import layout


def _files(tmp_path: Path) -> dict[str, Path]:
    image = QImage(4000, 3000, QImage.Format.Format_RGB32)  # bigger than any preview
    image.fill(QColor("#336699"))
    photo = tmp_path / "scene.png"
    assert image.save(str(photo))
    notes = tmp_path / "notes.txt"
    notes.write_text("Witness statement: the door was open at 21:40.\n" * 10000)  # 470 KB
    pdf = tmp_path / "report.pdf"
    writer = QPdfWriter(str(pdf))
    writer.setPageSize(QPageSize(QSizeF(210, 297), QPageSize.Unit.Millimeter))
    writer.setPageMargins(QMarginsF(10, 10, 10, 10))
    painter = QPainter(writer)
    painter.drawText(100, 100, "Lab report, page one")
    writer.newPage()
    painter.drawText(100, 100, "page two")
    painter.end()
    return {"image": photo, "text": notes, "pdf": pdf}


def _open(qtbot: Any, window: Any, event_id: str, sha: str) -> Any:
    window.views["Timeline"].inspector.show_event(event_id)
    window.views["Timeline"].inspector.on_link(f"attachment:{sha}")
    qtbot.waitUntil(lambda: window.attachment_dialog is not None
                    and window.attachment_dialog.isVisible(), timeout=5000)
    return window.attachment_dialog


def test_attachments_are_previewed_saved_and_opened_only_when_intact(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any, tmp_path: Path,
        monkeypatch: Any) -> None:
    ident, key = unlocked
    session.unlock(key, ident.actor)
    files = _files(tmp_path)
    done = session.observe(subject="scene", predicate="evidence", value="collected",
                           attachments=list(files.values())).result(timeout=30)
    event = done.events[-1]
    shas = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in files.items()}
    window = make_window(session, key=key)
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)

    dlg = _open(qtbot, window, event["event_id"], shas["image"])
    pixmap = dlg.findChild(QLabel, "attachmentPreview").pixmap()
    assert not pixmap.isNull()
    assert pixmap.width() <= 900  # decoded at the preview's size, not 4000 px wide
    dlg.findChild(QPushButton, "attachmentOpen").click()
    assert len(opened) == 1
    assert hashlib.sha256(Path(opened[0]).read_bytes()).hexdigest() == shas["image"]
    saved = tmp_path / "saved.png"
    dlg.on_save(str(saved))
    assert saved.read_bytes() == files["image"].read_bytes()
    dlg.close()

    dlg = _open(qtbot, window, event["event_id"], shas["text"])
    text = dlg.findChild(QPlainTextEdit, "attachmentText").toPlainText()
    assert text.startswith("Witness statement: the door was open at 21:40.")
    assert "the first 262,144 of 470,000 bytes are shown" in text
    dlg.close()

    dlg = _open(qtbot, window, event["event_id"], shas["pdf"])
    assert not dlg.findChild(QLabel, "attachmentPreview").pixmap().isNull()
    assert dlg.findChild(QLabel, "attachmentPage").text() == "Page 1 of 2"
    dlg.next_button.click()
    assert dlg.findChild(QLabel, "attachmentPage").text() == "Page 2 of 2"
    dlg.close()

    # Someone alters the stored photo: flagged, nothing shown, saved or opened.
    stored = session.vault.root / layout.CAS_DIR / shas["image"]
    data = bytearray(stored.read_bytes())
    data[-10] ^= 0xFF
    stored.write_bytes(bytes(data))
    dlg = _open(qtbot, window, event["event_id"], shas["image"])
    assert "altered" in dlg.findChild(QLabel, "attachmentFlag").text()
    assert dlg.findChild(QLabel, "attachmentPreview").pixmap().isNull()
    assert not dlg.findChild(QPushButton, "attachmentOpen").isEnabled()
    assert not dlg.findChild(QPushButton, "attachmentSave").isEnabled()
    dlg.on_open()
    dlg.on_save(str(tmp_path / "never.png"))
    assert len(opened) == 1
    assert not (tmp_path / "never.png").exists()


def test_the_contested_workbench_opens_an_evidence_attachment(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    from provara_desktop.ui.models.contested_model import KeyRole
    from provara_desktop.ui.models.evidence_model import EventIdRole

    ident, key = unlocked
    session.unlock(key, ident.actor)
    notes = tmp_path / "statement.txt"
    notes.write_text("It was open.")
    with_file = session.observe(subject="door", predicate="state", value="open",
                                confidence=0.9, attachments=[notes]).result(timeout=15)
    session.observe(subject="door", predicate="state", value="closed",
                    confidence=0.9).result(timeout=15)
    window = make_window(session, key=key)
    window.resize(1500, 900)
    window.show()
    view = window.views["Contested"]
    window.tabs.setCurrentWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.proxy.rowCount() > 0, timeout=15000)
    rect = view.table.visualRect(view.proxy.index(0, 0))
    assert view.proxy.index(0, 0).data(KeyRole) == "door:state"
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: len(view.cards()) == 2, timeout=10000)
    [card] = [c for c in view.cards() if c.value_json == '"open"']
    eid = with_file.events[-1]["event_id"]
    assert card.model.index(0, 0).data(EventIdRole) == eid
    card.table.setCurrentIndex(card.model.index(0, 0))
    sha = hashlib.sha256(notes.read_bytes()).hexdigest()
    assert f"attachment:{eid}:{sha}" in card.detail.text()
    card.on_detail_link(f"attachment:{eid}:{sha}")
    qtbot.waitUntil(lambda: window.attachment_dialog is not None
                    and window.attachment_dialog.isVisible(), timeout=5000)
    text = window.attachment_dialog.findChild(QPlainTextEdit, "attachmentText").toPlainText()
    assert text == "It was open."


def test_the_apps_evidence_report_shows_a_pdf_first_page(
        qtbot: Any, session: Any, unlocked: Any, tmp_path: Path) -> None:
    from provara_desktop.bundle import report
    from provara_desktop.ui.report_previews import add_pdf_previews

    ident, key = unlocked
    session.unlock(key, ident.actor)
    pdf = _files(tmp_path)["pdf"]
    session.observe(subject="lab", predicate="result", value="positive",
                    attachments=[pdf]).result(timeout=15)
    data = report.from_vault(session.vault, report.ReportScope(subject="lab"))
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert data.previews[sha].startswith("PDF")  # the command line's: no Qt there
    assert add_pdf_previews(data, session.vault.root) == 1
    page = report.render(data)
    assert "data:image/png;base64," in page
    assert "page 1 of 2" in page
    # An altered PDF is not rendered.
    stored = session.vault.root / layout.CAS_DIR / sha
    stored.write_bytes(stored.read_bytes()[:-20])
    data = report.from_vault(session.vault, report.ReportScope(subject="lab"))
    assert add_pdf_previews(data, session.vault.root) == 0
    assert "data:image/png" not in report.render(data)

"""An attachment, looked at: its name, media type, size and sha256, a preview (an image, the
beginning of a text, a PDF's pages, all rendered by Qt), "Save as…" and "Open with the
system viewer". The stored file is hashed again before each of them
(store/attachment_files.py); one whose bytes no longer match is flagged and never shown,
saved or opened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
)

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.store import attachment_files
from provara_desktop.ui.errors import show_exception

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

PREVIEW = QSize(900, 640)  # an image or a page is decoded at most this big
TEXT_HEAD = 256 << 10  # a text's first 256 KiB are shown, however long it is
_BAD = "#c62828"


class AttachmentDialog(QDialog):
    def __init__(self, vault_root: Path, *, name: str, sha256: str, media_type: str,
                 size: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentDialog")
        self.setWindowTitle(f"Attachment: {name}")
        self.resize(960, 760)
        self.vault_root, self.name, self.sha256 = vault_root, name, sha256
        self.media_type = media_type
        self.page = 0
        self.pdf: object | None = None
        form = QFormLayout()
        for label, value in (("Name", name), ("Media type", media_type or "(not given)"),
                             ("Size", f"{size} bytes"), ("SHA-256", sha256)):
            v = QLabel(value, self)
            v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{label}:", v)
        self.flag = QLabel("", self)
        self.flag.setObjectName("attachmentFlag")
        self.flag.setWordWrap(True)
        self.image = QLabel(self)
        self.image.setObjectName("attachmentPreview")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.image)
        self.preview_area = scroll
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("attachmentText")
        self.text.setReadOnly(True)
        self.text.hide()
        self.page_label = QLabel("", self)
        self.page_label.setObjectName("attachmentPage")
        self.prev_button = QPushButton("◀ Previous page", self)
        self.next_button = QPushButton("Next page ▶", self)
        self.prev_button.clicked.connect(lambda: self._show_page(self.page - 1))
        self.next_button.clicked.connect(lambda: self._show_page(self.page + 1))
        pages = QHBoxLayout()
        for w in (self.prev_button, self.page_label, self.next_button):
            pages.addWidget(w)
            w.hide()
        pages.addStretch(1)
        self.save_button = QPushButton("Save as…", self)
        self.save_button.setObjectName("attachmentSave")
        self.save_button.clicked.connect(lambda: self.on_save())
        self.open_button = QPushButton("Open with the system viewer", self)
        self.open_button.setObjectName("attachmentOpen")
        self.open_button.clicked.connect(self.on_open)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.flag)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.text, 1)
        layout.addLayout(pages)
        layout.addWidget(buttons)
        self.preview()

    # -- the check, before each use ------------------------------------------------------

    def _checked(self) -> attachment_files.Checked | None:
        c = attachment_files.check(self.vault_root, self.sha256)
        if not c.ok:
            self.flag.setText(f'<span style="color:{_BAD}; font-weight:600">⚠ The stored '
                              f"file is {c.status}: its bytes no longer have the SHA-256 the "
                              "evidence names, so it is not shown, saved or opened. Run "
                              "Vault › Verify.</span>")
            for w in (self.save_button, self.open_button):
                w.setEnabled(False)
            self.image.clear()
            self.text.clear()
            return None
        return c

    # -- preview -------------------------------------------------------------------------

    def preview(self) -> None:
        c = self._checked()
        if c is None:
            return
        kind = self.media_type.split(";", 1)[0].strip().lower()
        if kind == "application/pdf":
            self._preview_pdf(c.path)
        elif kind.startswith("text/") or kind in ("application/json", "application/xml"):
            self._preview_text(c.size)
        else:
            reader = QImageReader(str(c.path))
            if reader.canRead():
                self._preview_image(reader)
            else:
                self.image.setText(f"No preview for {self.media_type or 'this file'}: "
                                   "save it or open it with the system viewer.")

    def _preview_image(self, reader: QImageReader) -> None:
        full = reader.size()
        if full.isValid() and (full.width() > PREVIEW.width()
                               or full.height() > PREVIEW.height()):
            # Decoded at the preview's size: a huge photo never sits whole in memory.
            reader.setScaledSize(full.scaled(PREVIEW, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            self.image.setText(f"The image cannot be read: {reader.errorString()}")
            return
        self.image.setPixmap(QPixmap.fromImage(image))

    def _preview_text(self, size: int) -> None:
        data, _ = attachment_files.head(self.vault_root, self.sha256, TEXT_HEAD)
        self.preview_area.hide()
        self.text.show()
        shown = data.decode("utf-8", errors="replace")
        if size > len(data):
            shown += f"\n\n[… the first {len(data):,} of {size:,} bytes are shown]"
        self.text.setPlainText(shown)

    def _preview_pdf(self, path: Path) -> None:
        from PySide6.QtPdf import QPdfDocument

        doc = QPdfDocument(self)
        doc.load(str(path))
        if doc.status() != QPdfDocument.Status.Ready or doc.pageCount() < 1:
            self.image.setText(f"The PDF cannot be read ({doc.error().name}).")
            return
        self.pdf = doc
        for w in (self.prev_button, self.page_label, self.next_button):
            w.show()
        self._show_page(0)

    def _show_page(self, page: int) -> None:
        doc = self.pdf
        if doc is None:
            return
        from PySide6.QtPdf import QPdfDocument

        assert isinstance(doc, QPdfDocument)
        page = max(0, min(page, doc.pageCount() - 1))
        self.page = page
        points = doc.pagePointSize(page)
        target = points.toSize().scaled(PREVIEW, Qt.AspectRatioMode.KeepAspectRatio)
        self.image.setPixmap(QPixmap.fromImage(doc.render(page, target)))
        self.page_label.setText(f"Page {page + 1} of {doc.pageCount()}")
        self.prev_button.setEnabled(page > 0)
        self.next_button.setEnabled(page < doc.pageCount() - 1)

    # -- save, open ----------------------------------------------------------------------

    def on_save(self, dest: str | None = None) -> None:
        """``dest``: given by a test; the user picks it."""
        if self._checked() is None:
            return
        if dest is None:
            dest, _ = QFileDialog.getSaveFileName(self, "Save the attachment as",
                                                  str(Path.home() / Path(self.name).name))
            if not dest:
                return
        try:
            attachment_files.copy_verified(self.vault_root, self.sha256, Path(dest))
        except ProvaraDesktopError as exc:
            self._checked()
            show_exception(self, exc)

    def on_open(self) -> None:
        if self._checked() is None:
            return
        try:
            copy = attachment_files.viewer_copy(self.vault_root, self.sha256, self.name)
        except ProvaraDesktopError as exc:
            self._checked()
            show_exception(self, exc)
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(copy)))

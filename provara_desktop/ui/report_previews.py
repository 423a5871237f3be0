"""The evidence report, as the app writes it, with a PDF attachment's first page inline
(rendered by QtPdf; the command line's report, without Qt, names a PDF as such). Only bytes
that still have their sha256 are rendered (store/attachment_files.py)."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt

from provara_desktop.intake.attachment_refs import attachment_refs
from provara_desktop.store import attachment_files

if TYPE_CHECKING:
    from provara_desktop.bundle.report import ReportData

PAGE = QSize(360, 480)  # the first page, at thumbnail size


def add_pdf_previews(data: ReportData, vault_root: Path) -> int:
    """Put the first page of each checked PDF attachment into ``data.previews``; returns
    how many. Safe off the GUI thread (a QPdfDocument and a QImage of its own)."""
    from PySide6.QtPdf import QPdfDocument

    done = 0
    for ev in data.events:
        for ref in attachment_refs(ev):
            sha = ref["sha256"]
            kind = str(ref.get("media_type") or "").split(";")[0].lower()
            if kind != "application/pdf" or not data.previews.get(sha, "").startswith("PDF"):
                continue
            c = attachment_files.check(vault_root, sha)
            if not c.ok:
                continue
            doc = QPdfDocument()
            doc.load(str(c.path))
            if doc.status() != QPdfDocument.Status.Ready or doc.pageCount() < 1:
                continue
            size = doc.pagePointSize(0).toSize().scaled(PAGE, Qt.AspectRatioMode.KeepAspectRatio)
            image = doc.render(0, size)
            with tempfile.TemporaryDirectory(prefix="provara-report-") as tmp:
                thumb = Path(tmp) / "page.png"
                if image.isNull() or not image.save(str(thumb)):  # PNG, by its suffix
                    continue
                png = base64.b64encode(thumb.read_bytes()).decode("ascii")
            data.previews[sha] = (f'<img alt="page 1 of {doc.pageCount()}" '
                                  f'src="data:image/png;base64,{png}"><br>page 1 of '
                                  f"{doc.pageCount()}")
            done += 1
    return done

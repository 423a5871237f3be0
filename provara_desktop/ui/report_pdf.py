"""The evidence report as PDF: the self-contained HTML of bundle/report.py laid out by Qt
(QTextDocument) and printed with QPdfWriter, so no browser or external tool is needed."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

from provara_desktop.core.errors import StoreError, UsageError

if TYPE_CHECKING:
    from pathlib import Path


def html_to_pdf(html: str, out: Path, *, title: str = "Evidence report") -> int:
    """Write ``html`` as an A4 PDF at ``out`` (never overwritten); returns the page count."""
    if out.exists():
        raise UsageError(f"{out}: already exists; choose another name (nothing is overwritten)")
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    writer = QPdfWriter(str(tmp))
    writer.setTitle(title)
    writer.setCreator("provara-desktop")
    writer.setResolution(144)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait,
                                     QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter))
    doc = QTextDocument()
    doc.setHtml(html)
    doc.print_(writer)
    del writer  # the file is complete only once the writer is gone
    try:
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise StoreError(f"{out}: the PDF could not be written")
        # print_() lays out a copy of the document on the writer's pages, so the page count
        # is read from the PDF itself.
        pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", tmp.read_bytes()))
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{out}: cannot write ({exc.strerror})") from None
    return pages

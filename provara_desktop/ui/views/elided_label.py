"""A one-line label that never widens its window: text longer than the space it is given is
cut with "…", and the whole text is its tooltip.

A plain QLabel asks its layout for the width of its whole text, and a top-level window's
minimum width follows its layouts: a 67-event belief history summarised on one line made
the main window 5,580 px wide. This label asks for a few characters only; ``text()`` stays
the full text, so code and tests read what was set, and ``displayed_text()`` what is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

if TYPE_CHECKING:
    from PySide6.QtGui import QPaintEvent

_MIN_CHARS = "History of…"  # the width asked for at least: enough to say what the line is


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.setToolTip(text)

    def displayed_text(self) -> str:
        """The text as painted: the whole text, or its start and "…" when it does not fit."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             max(0, self.contentsRect().width()))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self._short_width()), hint.height())

    def sizeHint(self) -> QSize:  # noqa: N802
        # What it would like, capped: the layout gives it the rest of the line anyway
        # (stretch), and an uncapped hint would size a new window to the whole text.
        hint = super().sizeHint()
        return QSize(min(hint.width(), 40 * self.fontMetrics().averageCharWidth()),
                     hint.height())

    def _short_width(self) -> int:
        margins = self.contentsMargins()
        return (self.fontMetrics().horizontalAdvance(_MIN_CHARS)
                + margins.left() + margins.right() + 2 * self.margin())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        try:
            self.style().drawItemText(
                painter, self.contentsRect(),
                int(self.alignment() | Qt.AlignmentFlag.AlignVCenter),
                self.palette(), self.isEnabled(), self.displayed_text(),
                self.foregroundRole())
        finally:
            painter.end()

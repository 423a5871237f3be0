"""One competing value of a contested belief, as a card: its evidence in a table, the
selected piece of evidence in full, and the button that attests this value."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.ui.models.evidence_model import COLUMN_WIDTHS, EventIdRole, EvidenceModel

if TYPE_CHECKING:
    from collections.abc import Callable


class ValueCard(QGroupBox):
    """One competing value and the evidence for it."""

    attest_clicked = Signal(str)  # the value's canonical JSON
    evidence_activated = Signal(str)  # an event id
    attachment_requested = Signal(str, str)  # event id, sha256 (a link in the detail)

    def __init__(self, value_json: str, model: EvidenceModel, is_canonical: bool,
                 parent: QWidget | None = None, *,
                 attachments_of: Callable[[str], list[Any]] | None = None) -> None:
        super().__init__(parent)
        self._attachments_of = attachments_of
        self.setObjectName("valueCard")
        self.value_json = value_json
        self.model = model
        title = value_json if len(value_json) <= 60 else value_json[:59] + "…"
        self.setTitle(title + ("  (canonical when contested)" if is_canonical else ""))
        actors = sorted({str(model.index(r, 0).data()) for r in range(min(50,
                                                                         model.rowCount()))})
        summary = QLabel(f"{model.rowCount()} piece(s) of evidence from "
                         f"{', '.join(actors[:4])}{'…' if len(actors) > 4 else ''}", self)
        summary.setWordWrap(True)
        self.table = QTableView(self)
        self.table.setObjectName("evidenceTable")
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setResizeContentsPrecision(0)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, width in COLUMN_WIDTHS.items():
            self.table.setColumnWidth(col, width)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(self.on_double_clicked)
        # The selected piece of evidence in full (a card is narrow; the table scrolls).
        self.detail = QLabel("Select a piece of evidence to see all of it; double-click "
                             "to open it in the timeline.", self)
        self.detail.setObjectName("evidenceDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.detail.linkActivated.connect(self.on_detail_link)
        self.table.selectionModel().currentRowChanged.connect(self.on_evidence_row)
        model.dataChanged.connect(self.on_evidence_changed)
        self.button = QPushButton("Attest this value", self)
        self.button.setObjectName("attestValue")
        self.button.setToolTip("Sign an attestation making this value canonical, citing every "
                               "piece of contested evidence it settles")
        self.button.clicked.connect(lambda: self.attest_clicked.emit(self.value_json))
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.detail, 1)
        layout.addWidget(self.button)
        self.setMinimumWidth(420)

    def on_evidence_row(self, current: Any, _previous: Any = None) -> None:
        if not current.isValid():
            return
        row = current.row()
        lines = []
        for col in range(self.model.columnCount()):
            head = self.model.headerData(col, Qt.Orientation.Horizontal)
            value = self.model.index(row, col).data()
            tip = self.model.index(row, col).data(Qt.ItemDataRole.ToolTipRole)
            extra = f" ({tip})" if tip and tip != value else ""
            lines.append(f"<b>{html.escape(str(head))}</b>: {html.escape(str(value))}"
                         f"{html.escape(extra)}")
        eid = self.model.data(self.model.index(row, 0), EventIdRole)
        atts = self._attachments_of(str(eid)) if eid and self._attachments_of else []
        if atts:  # each opens the attachment dialog (checked again before it shows)
            lines.append("<b>Attachments</b>: " + ", ".join(
                f'<a href="attachment:{html.escape(str(eid))}:{html.escape(a.sha256)}">'
                f"{html.escape(a.name)}</a>" + ("" if a.ok else f" ({html.escape(a.status)})")
                for a in atts if a.sha256))
        self.detail.setText("<br>".join(lines))

    def on_detail_link(self, target: str) -> None:
        kind, _, rest = target.partition(":")
        eid, _, sha = rest.partition(":")
        if kind == "attachment" and eid and sha:
            self.attachment_requested.emit(eid, sha)

    def on_evidence_changed(self, top_left: Any, _bottom_right: Any, *_: Any) -> None:
        current = self.table.currentIndex()
        if current.isValid() and current.row() == top_left.row():
            self.on_evidence_row(current)

    def on_double_clicked(self, index: Any) -> None:
        eid = self.model.data(index, EventIdRole)
        if eid:
            self.evidence_activated.emit(str(eid))

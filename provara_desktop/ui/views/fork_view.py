"""A fork shown as proof: every event one actor signed on the same predecessor, side by
side and in full, with its signature check. Equivocation, not disagreement."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.store.event_check import SigStatus

if TYPE_CHECKING:
    from provara_desktop.ui.provenance_cache import ForkAlert, Provenance


class ForkProofView(QWidget):
    event_selected = Signal(str)  # "Show in timeline" on one of the events

    def __init__(self, provenance: Provenance, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("forkProofView")
        self._prov = provenance
        self.header = QLabel("", self)
        self.header.setObjectName("forkHeader")
        self.header.setWordWrap(True)
        self._events = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addLayout(self._events, 1)
        self.proofs: list[QPlainTextEdit] = []

    def show_fork(self, fork: ForkAlert) -> None:
        self.header.setText(
            f"<b>Fork in the chain of {fork.actor}</b>: {len(fork.rows)} events signed on the "
            f"same predecessor {fork.prev_event_hash or '(none)'}. A chain must be a line; "
            "this key holder equivocated. Both events are shown in full as proof.")
        while self._events.count():
            item = self._events.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.proofs = []
        for r in fork.rows:
            box = QGroupBox(r.event_id, self)
            box.setObjectName("forkEvent")
            check = self._prov.check(r)
            color = "#2e7d32" if check.sig is SigStatus.VALID else "#c62828"
            status = QLabel(f"{r.type} at {r.timestamp_utc} · signature: "
                            f"<span style='color:{color}'>{check.sig}</span> · key "
                            f"{check.fingerprint or r.actor_key_id}", box)
            status.setWordWrap(True)
            proof = QPlainTextEdit(box)
            proof.setObjectName("forkProof")
            proof.setReadOnly(True)
            proof.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            try:
                text = json.dumps(json.loads(self._prov.raw_line(r)), indent=2,
                                  ensure_ascii=False)
            except (OSError, ValueError) as exc:
                text = f"(cannot read the event: {exc})"
            proof.setPlainText(text)
            go = QPushButton("Show in timeline", box)
            go.setObjectName("forkShowInTimeline")
            go.clicked.connect(lambda _=False, eid=r.event_id: self.event_selected.emit(eid))
            bl = QVBoxLayout(box)
            bl.addWidget(status)
            bl.addWidget(proof, 1)
            bl.addWidget(go)
            self._events.addWidget(box, 1)
            self.proofs.append(proof)

"""The inspector's "Annotate…": a tag, a comment or a review mark on the event or on its
belief, signed by the reviewer (docs/ANNOTATIONS.md); the same rules and checks as
`annotate` on the command line (store/annotations.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QLineEdit

from provara_desktop.core import annotations as core
from provara_desktop.ui.dialogs.evidence_dialogs import _EvidenceDialog

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from PySide6.QtWidgets import QWidget

    from provara_desktop.session import VaultSession
    from provara_desktop.store.vault import OpResult
    from provara_desktop.ui.dialogs.evidence_dialogs import Unlocker

KINDS = (("Tag", core.TAG, None), ("Comment", core.COMMENT, None),
         ("Mark: reviewed", core.MARK, core.REVIEWED),
         ("Mark: needs follow-up", core.MARK, core.FOLLOW_UP),
         ("Mark: disputed", core.MARK, core.DISPUTED))


class AnnotateDialog(_EvidenceDialog):
    title = "Annotate"
    action = "Sign annotation"

    def __init__(self, session: VaultSession, event_id: str, belief: str | None,
                 parent: QWidget | None = None, *, unlocker: Unlocker | None = None) -> None:
        super().__init__(session, parent, unlocker=unlocker)
        self.setObjectName("annotateDialog")
        for _ in range(2):  # no subject and predicate to type: the target is chosen below
            self.form.removeRow(0)
        self.target = QComboBox(self)
        self.target.setObjectName("annotationTarget")
        self.target.addItem(f"this event ({event_id})", {"event_id": event_id})
        if belief is not None:
            self.target.addItem(f"its belief {belief}", {"belief": belief})
        self.kind = QComboBox(self)
        self.kind.setObjectName("annotationKind")
        for label, kind, mark in KINDS:
            self.kind.addItem(label, (kind, mark))
        self.text = QLineEdit(self)
        self.text.setObjectName("annotationText")
        self.text.setPlaceholderText("the tag, or the comment (a mark needs no text)")
        self.form.addRow("On:", self.target)
        self.form.addRow("Kind:", self.kind)
        self.form.addRow("Text:", self.text)
        self.finish_layout()
        self.resize(560, 220)

    def build(self) -> Callable[[], Future[OpResult]]:
        target: dict[str, str] = self.target.currentData()
        kind, mark = self.kind.currentData()
        text = self.text.text()
        fields: dict[str, Any] = {
            "tag": text if kind == core.TAG else None,
            "comment": text if kind == core.COMMENT else None, "mark": mark}
        core.payload(target, annotated_utc="", **fields)  # raises on bad input: shown
        session = self._session
        return lambda: session.annotate(event_id=target.get("event_id"),
                                        belief=target.get("belief"), **fields)

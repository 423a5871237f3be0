"""Recording evidence: observe (with attachments), attest (citing evidence), retract.

Each dialog checks its input before anything is written (a bad value is named with the field
it came from and nothing is changed), then signs through the session's writer thread. If the
identity is locked, the user is offered to unlock it and the action continues afterwards.
The dialog stays open on failure so nothing typed is lost.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.canonical import canonical_dumps, strict_loads
from provara_desktop.core.errors import UsageError
from provara_desktop.ui.errors import show_exception
from provara_desktop.ui.ops import run_op

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    from provara_desktop.session import VaultSession
    from provara_desktop.store.vault import OpResult

    Unlocker = Callable[[Callable[[], None]], None]

VALUE_KINDS = ("Text", "Number", "JSON")
_INT = re.compile(r"[+-]?\d+")


def parse_value(kind: str, text: str) -> Any:
    """The value typed in the dialog, as the event will carry it; UsageError names the
    field and what is wrong."""
    if kind == "Text":
        if not text:
            raise UsageError("Value: enter the value you observed (it is empty)")
        return text
    if kind == "Number":
        t = text.strip()
        if _INT.fullmatch(t):
            return int(t)
        try:
            f = float(t)
        except ValueError:
            raise UsageError(f"Value: {text!r} is not a number (use digits, a point for "
                             "decimals, e.g. 12 or 0.75)") from None
        if not math.isfinite(f):
            raise UsageError("Value: NaN and infinity cannot be recorded (JSON cannot "
                             "carry them)")
        return f
    if kind == "JSON":
        if not text.strip():
            raise UsageError("Value (JSON): enter a JSON value, e.g. {\"room\": 4}")
        return strict_loads(text, where="Value (JSON)")
    raise UsageError(f"Value: unknown kind {kind!r}")


def split_subject_predicate(key: str) -> tuple[str, str]:
    subject, _, predicate = key.partition(":")
    return subject, predicate


class ValueEditor(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox(self)
        self.kind.setObjectName("valueKind")
        self.kind.addItems(VALUE_KINDS)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("valueEdit")
        self.edit.setPlaceholderText("e.g. open, 12.5, or {\"room\": 4}")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.kind)
        lay.addWidget(self.edit, 1)

    def value(self) -> Any:
        return parse_value(self.kind.currentText(), self.edit.text())

    def set_value(self, value: Any) -> None:
        if isinstance(value, str):
            self.kind.setCurrentText("Text")
            self.edit.setText(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.kind.setCurrentText("Number")
            self.edit.setText(str(value))
        else:
            self.kind.setCurrentText("JSON")
            self.edit.setText(canonical_dumps(value))


class _EvidenceDialog(QDialog):
    """Shared plumbing: subject/predicate fields, the submit button, locked-identity
    handling and running the write off the GUI thread."""

    title = ""
    action = "Sign"

    def __init__(self, session: VaultSession, parent: QWidget | None = None, *,
                 unlocker: Unlocker | None = None, key: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.title)
        self._session = session
        self._unlocker = unlocker
        self.result_op: OpResult | None = None
        self.subject = QLineEdit(self)
        self.subject.setObjectName("subjectEdit")
        self.subject.setPlaceholderText("what the evidence is about, e.g. exhibit-0042")
        self.predicate = QLineEdit(self)
        self.predicate.setObjectName("predicateEdit")
        self.predicate.setPlaceholderText("which property, e.g. location")
        if key:
            s, p = split_subject_predicate(key)
            self.subject.setText(s)
            self.predicate.setText(p)
        self.form = QFormLayout()
        self.form.addRow("Subject:", self.subject)
        self.form.addRow("Predicate:", self.predicate)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.submit_button = self.buttons.addButton(self.action,
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_button.setObjectName("submitButton")
        self.submit_button.setDefault(True)
        self.buttons.accepted.connect(self.on_submit)
        self.buttons.rejected.connect(self.reject)
        self.signer = QLabel(self)
        self.signer.setObjectName("signerLabel")
        self.layout_ = QVBoxLayout(self)
        self.layout_.addLayout(self.form)

    def finish_layout(self) -> None:
        self.layout_.addWidget(self.signer)
        self.layout_.addWidget(self.buttons)
        self._show_signer()

    def _show_signer(self) -> None:
        s = self._session
        self.signer.setText(f"Signed as {s.actor}" if s.unlocked else
                            "Your identity is locked: you will be asked to unlock it.")

    def key_fields(self) -> tuple[str, str]:
        subject, predicate = self.subject.text().strip(), self.predicate.text().strip()
        if not subject:
            raise UsageError("Subject: enter what the evidence is about (it is empty)")
        if not predicate:
            raise UsageError("Predicate: enter which property of the subject (it is empty)")
        return subject, predicate

    def build(self) -> Callable[[], Future[OpResult]]:
        """Check the input and return the write to run (raises on bad input)."""
        raise NotImplementedError

    def on_submit(self) -> None:
        try:
            write = self.build()
        except Exception as exc:  # bad input: say so, change nothing
            show_exception(self, exc)
            return
        if not self._session.unlocked:
            self._offer_unlock()
            return
        self.submit_button.setEnabled(False)
        run_op(self, write).success(self.on_written).failure(self.on_failed)

    def _offer_unlock(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Identity locked",
                          "Your identity is locked, and evidence must be signed with it.",
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("lockedDialog")
        box.setInformativeText("Unlock it now to sign this record? Nothing is written until "
                               "you do.")
        unlock = box.addButton("Unlock…", QMessageBox.ButtonRole.AcceptRole)
        unlock.setObjectName("unlockNowButton")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def on_clicked(button: object) -> None:
            if button is unlock and self._unlocker is not None:
                self._unlocker(self.on_unlocked)

        box.buttonClicked.connect(on_clicked)
        box.open()

    def on_unlocked(self) -> None:
        self._show_signer()
        if self._session.unlocked:
            self.on_submit()

    def on_written(self, result: OpResult) -> None:
        self.result_op = result
        self.accept()

    def on_failed(self, exc: BaseException) -> None:
        self.submit_button.setEnabled(True)
        show_exception(self, exc)


class ObserveDialog(_EvidenceDialog):
    title = "Record an observation"
    action = "Sign and record"

    def __init__(self, session: VaultSession, parent: QWidget | None = None, *,
                 unlocker: Unlocker | None = None, key: str | None = None) -> None:
        super().__init__(session, parent, unlocker=unlocker, key=key)
        self.setObjectName("observeDialog")
        self.setAcceptDrops(True)
        self.value = ValueEditor(self)
        self.confidence = QDoubleSpinBox(self)
        self.confidence.setObjectName("confidenceSpin")
        self.confidence.setRange(0.0, 1.0)
        self.confidence.setSingleStep(0.05)
        self.confidence.setDecimals(2)
        self.confidence.setValue(0.5)
        self.note = QLineEdit(self)
        self.note.setObjectName("noteEdit")
        self.note.setPlaceholderText("optional: how you know, where, conditions")
        self.attachments = QListWidget(self)
        self.attachments.setObjectName("attachmentList")
        self.attachments.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.attachments.setMaximumHeight(90)
        self.attachments.setToolTip("Drop files here (or anywhere on this dialog)")
        add = QPushButton("Add files…", self)
        add.setObjectName("addFilesButton")
        add.clicked.connect(self.on_add_files)
        remove = QPushButton("Remove", self)
        remove.setObjectName("removeFilesButton")
        remove.clicked.connect(self.on_remove_files)
        att_buttons = QVBoxLayout()
        att_buttons.addWidget(add)
        att_buttons.addWidget(remove)
        att_buttons.addStretch(1)
        att_row = QHBoxLayout()
        att_row.addWidget(self.attachments, 1)
        att_row.addLayout(att_buttons)
        self.form.addRow("Value:", self.value)
        self.form.addRow("Confidence:", self.confidence)
        self.form.addRow("Note:", self.note)
        self.form.addRow("Attachments:", att_row)
        hint = QLabel("Attached files are stored in the vault by their SHA-256 and covered "
                      "by your signature. Drag files onto this dialog to attach them.", self)
        hint.setWordWrap(True)
        self.layout_.addWidget(hint)
        self.finish_layout()
        self.resize(560, 420)

    def attached_paths(self) -> list[Path]:
        return [Path(self.attachments.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.attachments.count())]

    def add_attachment(self, path: Path) -> None:
        if path in self.attached_paths():
            return
        item = QListWidgetItem(path.name, self.attachments)
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(str(path))

    def on_add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Attach evidence files")
        for f in files:
            self.add_attachment(Path(f))

    def on_remove_files(self) -> None:
        for item in self.attachments.selectedItems():
            self.attachments.takeItem(self.attachments.row(item))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile() and Path(url.toLocalFile()).is_file():
                self.add_attachment(Path(url.toLocalFile()))
        event.acceptProposedAction()

    def build(self) -> Callable[[], Future[OpResult]]:
        subject, predicate = self.key_fields()
        value = self.value.value()
        paths = self.attached_paths()
        for p in paths:
            if not p.is_file():
                raise UsageError(f"Attachments: {p} no longer exists; remove it or pick "
                                 "it again")
        confidence, note = self.confidence.value(), self.note.text().strip() or None
        return lambda: self._session.observe(subject=subject, predicate=predicate,
                                             value=value, confidence=confidence, note=note,
                                             attachments=paths)


class AttestDialog(_EvidenceDialog):
    """Make a value canonical, recording exactly which evidence it settles (the checked
    items below, plus any event ids typed in)."""

    title = "Attest a value"
    action = "Sign attestation"

    def __init__(self, session: VaultSession, parent: QWidget | None = None, *,
                 unlocker: Unlocker | None = None, key: str | None = None,
                 value: Any = None) -> None:
        super().__init__(session, parent, unlocker=unlocker, key=key)
        self.setObjectName("attestDialog")
        self.value = ValueEditor(self)
        if value is not None:
            self.value.set_value(value)
        self.evidence = QListWidget(self)
        self.evidence.setObjectName("targetList")
        self.extra = QLineEdit(self)
        self.extra.setObjectName("extraTargets")
        self.extra.setPlaceholderText("other event ids, separated by spaces or commas")
        self.form.addRow("Value:", self.value)
        self.form.addRow("Evidence it rests on:", self.evidence)
        self.form.addRow("Other evidence:", self.extra)
        self.subject.editingFinished.connect(self.load_evidence)
        self.predicate.editingFinished.connect(self.load_evidence)
        self.finish_layout()
        self.load_evidence()
        self.resize(620, 460)

    def load_evidence(self) -> None:
        """List the evidence recorded for this subject:predicate (from the reducer) so the
        reviewer ticks what the attestation settles; values equal to the one attested are
        ticked for them."""
        self.evidence.clear()
        reducer = self._session.beliefs()
        subject, predicate = self.subject.text().strip(), self.predicate.text().strip()
        if reducer is None or not subject or not predicate:
            return
        try:
            wanted = canonical_dumps(self.value.value())
        except Exception:
            wanted = None
        for ev in reducer.evidence_for(f"{subject}:{predicate}")[-200:]:
            shown = canonical_dumps(ev["value"])
            item = QListWidgetItem(f"{shown}  ·  {ev['actor']}  ·  confidence "
                                   f"{ev['confidence']:g}  ·  {ev['event_id']}", self.evidence)
            item.setData(Qt.ItemDataRole.UserRole, ev["event_id"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if shown == wanted
                               else Qt.CheckState.Unchecked)

    def targets(self) -> list[str]:
        chosen = [str(self.evidence.item(i).data(Qt.ItemDataRole.UserRole))
                  for i in range(self.evidence.count())
                  if self.evidence.item(i).checkState() == Qt.CheckState.Checked]
        for t in re.split(r"[\s,]+", self.extra.text().strip()):
            if t and t not in chosen:
                chosen.append(t)
        return chosen

    def build(self) -> Callable[[], Future[OpResult]]:
        subject, predicate = self.key_fields()
        value = self.value.value()
        targets = self.targets()
        return lambda: self._session.attest(subject=subject, predicate=predicate, value=value,
                                            targets=targets)


class RetractDialog(_EvidenceDialog):
    title = "Retract a belief"
    action = "Sign retraction"

    def __init__(self, session: VaultSession, parent: QWidget | None = None, *,
                 unlocker: Unlocker | None = None, key: str | None = None) -> None:
        super().__init__(session, parent, unlocker=unlocker, key=key)
        self.setObjectName("retractDialog")
        self.reason = QLineEdit(self)
        self.reason.setObjectName("reasonEdit")
        self.reason.setPlaceholderText("why this belief no longer holds")
        self.form.addRow("Reason:", self.reason)
        note = QLabel("A retraction removes the belief from canonical and local (the old "
                      "value is archived). The events themselves are never deleted.", self)
        note.setWordWrap(True)
        self.layout_.addWidget(note)
        self.finish_layout()
        self.resize(520, 240)

    def build(self) -> Callable[[], Future[OpResult]]:
        subject, predicate = self.key_fields()
        reason = self.reason.text().strip()
        if not reason:
            raise UsageError("Reason: say why the belief is retracted; the reason is signed "
                             "with it and shown in its history")
        return lambda: self._session.retract(subject=subject, predicate=predicate,
                                             reason=reason)

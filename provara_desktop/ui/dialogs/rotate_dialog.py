"""Rotating your key from the app (store/key_rotation.py): the recovery file, routine or
compromise, and the last event of the old key you still vouch for, picked from a list of
your recent events (the newest is the routine choice), or in the timeline (the inspector's
"My key leaked: vouch up to here…" opens this dialog on that event). The passphrase seals
the new key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.ui.dialogs.identity_dialogs import error_label, password_field, path_row

if TYPE_CHECKING:
    from provara_desktop.store.identity import Identity
    from provara_desktop.store.vault import Vault

# How many of the old key's latest events the boundary list offers.
BOUNDARY_CHOICES = 200


def boundary_choices(vault: Vault, identity: Identity) -> list[tuple[str, str]]:
    """(event id, what the user reads) of the identity's latest events by its current key,
    newest first."""
    out: list[tuple[str, str]] = []
    for row in vault.index.query(actor=identity.actor, descending=True, limit=2_000):
        if row.actor_key_id != identity.key_id:
            continue
        what = ":".join(x for x in (row.subject, row.predicate) if x) or (row.type or "")
        out.append((row.event_id, f"{row.timestamp_utc}  {row.type}  {what}  "
                                  f"({row.event_id})"))
        if len(out) >= BOUNDARY_CHOICES:
            break
    return out


class RotateKeyDialog(QDialog):
    """Accepted with ``recovery_path``, ``reason``, ``boundary`` and ``passphrase`` set."""

    def __init__(self, vault: Vault, identity: Identity, parent: QWidget | None = None, *,
                 boundary: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rotateKeyDialog")
        self.setWindowTitle("Rotate my key")
        intro = QLabel(
            f"Replace the key of <b>{identity.actor}</b> with a new one, signed by your "
            "recovery key. <b>Routine</b>: every event of the old key stays valid. "
            "<b>Compromise</b>: pick the last event you still vouch for; the old key's later "
            "events are flagged and refused from now on, everywhere.", self)
        intro.setWordWrap(True)
        self.recovery = QLineEdit(self)
        self.recovery.setObjectName("rotateRecoveryFile")
        row = path_row(self.recovery, self.on_browse)
        self.reason = QComboBox(self)
        self.reason.setObjectName("rotateReason")
        self.reason.addItem("Routine (the old key is retired)", "routine")
        self.reason.addItem("Compromise (the old key may be in someone else's hands)",
                            "compromise")
        self.boundary = QComboBox(self)
        self.boundary.setObjectName("rotateBoundary")
        for eid, text in boundary_choices(vault, identity):
            self.boundary.addItem(text, eid)
        self.boundary_note = QLabel("", self)
        self.boundary_note.setObjectName("rotateBoundaryNote")
        self.boundary_note.setWordWrap(True)
        if boundary is not None:
            self._preset(vault, identity, boundary)
        self.reason.currentIndexChanged.connect(self._reason_changed)
        self.passphrase = password_field("rotatePassphrase", self)
        self.error = error_label("rotateError", self)
        form = QFormLayout()
        form.addRow("Recovery file:", row)
        form.addRow("Why:", self.reason)
        form.addRow("Last event you vouch for:", self.boundary)
        form.addRow("", self.boundary_note)
        form.addRow("Your passphrase:", self.passphrase)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.rotate_button = buttons.addButton("Rotate", QDialogButtonBox.ButtonRole.AcceptRole)
        self.rotate_button.setObjectName("rotateButton")
        buttons.accepted.connect(self.on_rotate)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._reason_changed()
        self.recovery_path: Path | None = None
        self.chosen_reason = "routine"
        self.chosen_boundary: str | None = None
        self.chosen_passphrase = ""

    def _preset(self, vault: Vault, identity: Identity, event_id: str) -> None:
        """The event picked in the timeline: a compromise rotation vouching up to it, when it
        is an event of the key being rotated (else said, and nothing is preset)."""
        row = vault.index.get(event_id)
        if row is None or row.actor_key_id != identity.key_id:
            self.boundary_note.setText(
                f"{event_id} is not an event of your current key ({identity.key_id}): pick "
                "the last one of yours you vouch for.")
            return
        at = self.boundary.findData(event_id)
        if at < 0:  # older than the list's latest events: offered all the same
            what = ":".join(x for x in (row.subject, row.predicate) if x) or (row.type or "")
            self.boundary.addItem(f"{row.timestamp_utc}  {row.type}  {what}  ({event_id})",
                                  event_id)
            at = self.boundary.count() - 1
        self.reason.setCurrentIndex(self.reason.findData("compromise"))
        self.boundary.setCurrentIndex(at)
        self.boundary_note.setText("Picked in the timeline: this event and the ones before it "
                                   "in your chain stay valid; your key's later events will "
                                   "be flagged and refused.")

    def _reason_changed(self) -> None:
        # Routine vouches for everything: the newest event; compromise lets the user choose.
        routine = self.reason.currentData() == "routine"
        if routine and self.boundary.count():
            self.boundary.setCurrentIndex(0)
        self.boundary.setEnabled(not routine)

    def on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Your recovery file", str(Path.home()),
                                              "Recovery file (*.json);;All files (*)")
        if path:
            self.recovery.setText(path)

    def on_rotate(self) -> None:
        path = Path(self.recovery.text().strip()).expanduser()
        if not self.recovery.text().strip() or not path.is_file():
            self.error.setText("Choose your recovery file (the one saved when the identity "
                               "was created).")
            return
        if not self.passphrase.text():
            self.error.setText("Enter your passphrase: the new key is sealed under it.")
            return
        self.recovery_path = path
        self.chosen_reason = str(self.reason.currentData())
        self.chosen_boundary = self.boundary.currentData() if self.boundary.count() else None
        self.chosen_passphrase = self.passphrase.text()
        self.accept()

"""The alert shown when a vault opens without events this profile saw in it before
(store/seen_heads.py): what is missing, by event, and a way to accept the vault as it is,
with a reason that is kept in the profile. Until then every write is refused."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
)

from provara_desktop.ui.ops import run_op

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from provara_desktop.session import VaultSession
    from provara_desktop.store.seen_heads import Loss


class LossAlertDialog(QDialog):
    def __init__(self, session: VaultSession, loss: Loss, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lossAlertDialog")
        self.setWindowTitle("Evidence is missing from this vault")
        self.session = session
        root = str(session.vault.root)
        intro = QLabel(
            f"<b>{html.escape(root)}</b> no longer holds events that this computer saw in it "
            "before. Someone or something removed them, even if the vault's manifest was "
            "re-sealed to hide it. Nothing can be recorded in this vault until you decide.")
        intro.setWordWrap(True)
        details = QTextBrowser()
        details.setObjectName("lossDetails")
        items = "".join(f"<li><code>{html.escape(e.event_id)}</code> "
                        f"{html.escape(e.type or 'event')} by {html.escape(e.actor)}"
                        f"{' of ' + html.escape(e.timestamp_utc) if e.timestamp_utc else ''}"
                        f", seen here {html.escape(e.seen_at_utc)}</li>" for e in loss.missing)
        count = (f"<p>The log holds {loss.event_count_now} events; this computer saw "
                 f"{loss.event_count_seen}.</p>" if loss.fewer_events else "")
        details.setHtml(f"<ul>{items}</ul>{count}" if items else count)
        self.reason = QLineEdit()
        self.reason.setObjectName("lossReason")
        self.reason.setPlaceholderText("Why this is acceptable (e.g. an older backup restored)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.accept_button = QPushButton("Accept the vault as it is")
        self.accept_button.setObjectName("lossAccept")
        self.accept_button.setEnabled(False)
        buttons.addButton(self.accept_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.accept_button.clicked.connect(self.on_accept_clicked)
        self.reason.textChanged.connect(self.on_reason_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(details)
        layout.addWidget(QLabel("To record again, say why the missing events are acceptable; "
                                "your reason is kept with this computer's record of the loss."))
        layout.addWidget(self.reason)
        layout.addWidget(buttons)

    def on_reason_changed(self, text: str) -> None:
        self.accept_button.setEnabled(bool(text.strip()))

    def on_accept_clicked(self) -> None:
        reason = self.reason.text().strip()
        vault = self.session.vault
        run_op(self, lambda: self.session.submit(lambda: vault.acknowledge_loss(reason))) \
            .success(lambda _loss: self.accept())

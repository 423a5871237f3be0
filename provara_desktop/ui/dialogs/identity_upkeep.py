"""The rest of a key's life in the app (docs/KEYS.md): a new passphrase for the same key, and
an identity restored on a new machine from its recovery file (or the printed sheet typed back
in), where a fresh key replaces the lost one, signed by the recovery key into the vault that
holds the identity's evidence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
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
from provara_desktop.ui.errors import describe
from provara_desktop.ui.ops import background, run_op

if TYPE_CHECKING:
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.identity import Identity, IdentityStore


class ChangePassphraseDialog(QDialog):
    """The same key sealed under a new passphrase; accepted once it is."""

    def __init__(self, store: IdentityStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changePassphraseDialog")
        self.setWindowTitle("Change passphrase")
        self.store = store
        self.old = password_field("oldPassphrase", self)
        self.new = password_field("newPassphrase", self)
        self.repeat = password_field("newPassphraseRepeat", self)
        self.error = error_label("passphraseError", self)
        form = QFormLayout()
        form.addRow("Current passphrase:", self.old)
        form.addRow("New passphrase:", self.new)
        form.addRow("Repeat it:", self.repeat)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.change_button = buttons.addButton("Change", QDialogButtonBox.ButtonRole.AcceptRole)
        self.change_button.setObjectName("changePassphraseButton")
        buttons.accepted.connect(self.on_change)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Your key stays the same (nobody needs to check a new "
                             "fingerprint); only the passphrase that opens it on this "
                             "computer changes.", self))
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def on_change(self) -> None:
        old, new = self.old.text(), self.new.text()
        if not new or new != self.repeat.text():
            self.error.setText("Type the new passphrase twice, the same both times.")
            return
        store = self.store
        self.change_button.setEnabled(False)
        self.error.setText("Sealing your key under the new passphrase…")
        run_op(self, lambda: background(lambda: store.change_passphrase(old, new))).success(
            lambda _ident: self.accept()).failure(self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.change_button.setEnabled(True)
        what, advice = describe(exc)
        self.error.setText(f"{what} {advice}".strip())


class RestoreIdentityDialog(QDialog):
    """Accepted with ``identity`` and ``key`` set: this (empty) profile holds the restored
    identity with its new key."""

    def __init__(self, store: IdentityStore, default_vault: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("restoreIdentityDialog")
        self.setWindowTitle("Restore my identity")
        self.store = store
        self.identity: Identity | None = None
        self.key: SigningKey | None = None
        intro = QLabel("Your old key is lost with its machine (or its passphrase). Your "
                       "recovery file signs a new key in its place, into the vault that "
                       "holds your evidence (copy it here first, by sync or a bundle): your "
                       "old key's events stay yours, and anything it signs from now on is "
                       "refused. Tell the people who trust you to check your new "
                       "fingerprint.", self)
        intro.setWordWrap(True)
        self.recovery = QLineEdit(self)
        self.recovery.setObjectName("restoreRecoveryFile")
        self.vault = QLineEdit(str(default_vault), self)
        self.vault.setObjectName("restoreVault")
        self.passphrase = password_field("restorePassphrase", self)
        self.repeat = password_field("restoreRepeat", self)
        self.error = error_label("restoreError", self)
        form = QFormLayout()
        form.addRow("Recovery file (or typed-in sheet):",
                    path_row(self.recovery, self.on_browse_recovery))
        form.addRow("Vault with your evidence:", path_row(self.vault, self.on_browse_vault))
        form.addRow("New passphrase:", self.passphrase)
        form.addRow("Repeat it:", self.repeat)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.restore_button = buttons.addButton("Restore",
                                                QDialogButtonBox.ButtonRole.AcceptRole)
        self.restore_button.setObjectName("restoreButton")
        buttons.accepted.connect(self.on_restore)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.resize(600, 320)

    def on_browse_recovery(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Your recovery file", str(Path.home()),
                                              "Recovery file (*.json *.txt);;All files (*)")
        if path:
            self.recovery.setText(path)

    def on_browse_vault(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "The vault with your evidence",
                                                self.vault.text())
        if path:
            self.vault.setText(path)

    def on_restore(self) -> None:
        from provara_desktop.store.key_rotation import restore_identity
        from provara_desktop.store.vault import Vault

        recovery = Path(self.recovery.text().strip()).expanduser()
        vault_path = Path(self.vault.text().strip()).expanduser()
        pw = self.passphrase.text()
        if not self.recovery.text().strip() or not recovery.is_file():
            self.error.setText("Choose your recovery file (or the sheet, typed into a text "
                               "file).")
            return
        if not vault_path.is_dir():
            self.error.setText(f"No vault at {vault_path}: get the vault that holds your "
                               "evidence onto this computer first (sync, or import a bundle).")
            return
        if not pw or pw != self.repeat.text():
            self.error.setText("Choose a new passphrase and type it twice.")
            return
        store = self.store

        def job() -> tuple[Identity, SigningKey]:
            with Vault.open(vault_path, home=store.home) as vault:
                _done, identity = restore_identity(vault, store, recovery, pw)
            return identity, store.unlock(pw)

        self.restore_button.setEnabled(False)
        self.error.setText("Restoring…")
        run_op(self, lambda: background(job)).success(self._restored).failure(self._failed)

    def _restored(self, result: tuple[Identity, SigningKey]) -> None:
        self.identity, self.key = result
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.restore_button.setEnabled(True)
        what, advice = describe(exc)
        self.error.setText(f"{what} {advice}".strip())

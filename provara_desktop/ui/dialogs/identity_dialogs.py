"""Creating and unlocking the investigator's identity.

Key derivation (Argon2id) takes a noticeable fraction of a second by design, so it runs on
the background pool and the dialog stays responsive, showing "Creating…" / "Unlocking…".
The fingerprint is shown large, grouped by four, so it can be read aloud to a collaborator.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.errors import WrongPassphraseError
from provara_desktop.store.recovery_file import printable_sheet, write_recovery_file
from provara_desktop.ui import theme
from provara_desktop.ui.errors import describe, show_exception
from provara_desktop.ui.ops import background, run_op

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.app_peer import LanService
    from provara_desktop.store.identity import Identity, IdentityStore


def fingerprint_text(fingerprint: str) -> str:
    """Eight groups of four in two rows of four: easy to read aloud and to compare."""
    groups = fingerprint.split()
    return " ".join(groups[:4]) + ("\n" + " ".join(groups[4:]) if len(groups) > 4 else "")


def path_row(field: QLineEdit, on_browse: Callable[[], None]) -> QHBoxLayout:
    """A file path field with its "Browse…" button."""
    browse = QPushButton("Browse…", field.parentWidget())
    browse.clicked.connect(on_browse)
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(browse)
    return row


def password_field(name: str, parent: QWidget) -> QLineEdit:
    """A passphrase entry (echo hidden), named for tests and accessibility."""
    field = QLineEdit(parent)
    field.setObjectName(name)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


def error_label(name: str, parent: QWidget) -> QLabel:
    """A wrapped label in the theme's error colour, for what a dialog refuses and why."""
    label = QLabel("", parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.accent('error').name()}")
    return label


def fingerprint_label(fingerprint: str, parent: QWidget) -> QLabel:
    label = QLabel(fingerprint_text(fingerprint), parent)
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(max(font.pointSize(), 10) + 6)
    font.setWeight(QFont.Weight.Bold)
    label.setFont(font)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


class CreateIdentityDialog(QDialog):
    """Name and passphrase (twice), then the new fingerprint. ``identity`` and ``key`` are
    set when the dialog is accepted."""

    def __init__(self, store: IdentityStore, parent: QWidget | None = None, *,
                 first_run: bool = False, lan: LanService | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("createIdentityDialog")
        self._lan = lan
        self.setWindowTitle("Welcome to provara-desktop" if first_run else "New identity")
        self.setModal(True)
        self._store = store
        self.identity: Identity | None = None
        self.key: SigningKey | None = None

        self.pages = QStackedWidget(self)
        form_page = QWidget(self.pages)
        intro = QLabel(
            ("Everything you record is signed with your own key, so others can later "
             "prove who said what. " if first_run else "") +
            "Choose the name collaborators will see and a passphrase that protects your "
            "key on this computer. The passphrase cannot be recovered. A recovery key is "
            "made too and saved to the recovery file: with it you can replace a lost or "
            "stolen key; keep it off this computer.", form_page)
        intro.setWordWrap(True)
        self.name = QLineEdit(form_page)
        self.name.setObjectName("identityName")
        self.passphrase = QLineEdit(form_page)
        self.passphrase.setObjectName("identityPassphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit(form_page)
        self.repeat.setObjectName("identityRepeat")
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel("", form_page)
        self.error.setObjectName("identityError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.accent('error').name()}")
        # The recovery key (store/recovery_file.py) goes to a file the user then moves off
        # this computer; it never stays in the profile.
        self.recovery_path = QLineEdit(str(Path.home() / "provara-recovery.json"), form_page)
        self.recovery_path.setObjectName("recoveryPath")
        recovery_row = path_row(self.recovery_path, self.on_browse_recovery)
        # The same key as a page to print (typed back into a text file, it serves as the
        # recovery file: store/recovery_file.py), saved beside the file as a PDF.
        self.sheet = QCheckBox("Also save a sheet to print (PDF, beside the file)", form_page)
        self.sheet.setObjectName("recoverySheet")
        self._sheet_text: list[str] = []
        form = QFormLayout()
        form.addRow("Your name:", self.name)
        form.addRow("Passphrase:", self.passphrase)
        form.addRow("Repeat passphrase:", self.repeat)
        form.addRow("Recovery file:", recovery_row)
        form.addRow("", self.sheet)
        lay = QVBoxLayout(form_page)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, form_page)
        self.create_button = self.buttons.addButton(
            "Create identity", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setObjectName("createIdentityButton")
        self.create_button.setDefault(True)
        # One person on several computers: this one joins as a device of an identity made
        # elsewhere instead of becoming a second, unrelated identity (ui/dialogs/device_dialog).
        self.join_button = self.buttons.addButton(
            "This computer is another device of mine…", QDialogButtonBox.ButtonRole.ActionRole)
        self.join_button.setObjectName("joinAsDeviceButton")
        self.join_button.clicked.connect(self.on_join_as_device)
        self.restore_button = self.buttons.addButton(
            "Restore from my recovery file…", QDialogButtonBox.ButtonRole.ActionRole)
        self.restore_button.setObjectName("restoreIdentityButton")
        self.restore_button.clicked.connect(self.on_restore)
        self.buttons.accepted.connect(self.on_create)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

        done_page = QWidget(self.pages)
        self.done_text = QLabel("", done_page)
        self.done_text.setWordWrap(True)
        self.fingerprint = fingerprint_label("", done_page)
        self.fingerprint.setObjectName("identityFingerprint")
        note = QLabel("This is your key's fingerprint. Read it aloud to collaborators (or "
                      "compare it in person) so they can be sure evidence signed as you "
                      "really comes from you. It is also shown in the status bar.", done_page)
        note.setWordWrap(True)
        self.recovery_note = QLabel("", done_page)
        self.recovery_note.setObjectName("identityRecoveryNote")
        self.recovery_note.setWordWrap(True)
        done_buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok, done_page)
        self.done_button = done_buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.done_button.setObjectName("identityDoneButton")
        self.done_button.setText("Start working")
        done_buttons.accepted.connect(self.accept)
        dlay = QVBoxLayout(done_page)
        dlay.addWidget(self.done_text)
        dlay.addWidget(self.fingerprint)
        dlay.addWidget(note)
        dlay.addWidget(self.recovery_note)
        dlay.addStretch(1)
        dlay.addWidget(done_buttons)
        self.pages.addWidget(form_page)
        self.pages.addWidget(done_page)
        outer = QVBoxLayout(self)
        outer.addWidget(self.pages)
        self.resize(520, 300)

    def on_create(self) -> None:
        name, pw, again = self.name.text().strip(), self.passphrase.text(), self.repeat.text()
        if not name:
            self._fail("Enter your name: collaborators see it next to everything you sign.",
                       self.name)
            return
        if not pw:
            self._fail("Choose a passphrase: it protects your signing key on this computer.",
                       self.passphrase)
            return
        if pw != again:
            self._fail("The two passphrases differ. Type the same passphrase twice.",
                       self.repeat)
            return
        recovery = Path(self.recovery_path.text().strip()).expanduser()
        if not self.recovery_path.text().strip() or recovery.exists():
            self._fail("Choose a new file for the recovery key (an existing file is never "
                       "overwritten).", self.recovery_path)
            return
        if self.sheet.isChecked() and self._sheet_path().exists():
            self._fail(f"{self._sheet_path()} already exists: choose another recovery file "
                       "name (nothing is overwritten).", self.recovery_path)
            return
        self.error.setText("Creating your key…")
        self.create_button.setEnabled(False)
        store = self._store
        want_sheet = self.sheet.isChecked()

        def write(identity: Identity, recovery_key: SigningKey) -> None:
            write_recovery_file(recovery, identity, recovery_key)
            if want_sheet:  # laid out as PDF on the GUI thread (Qt's text layout)
                self._sheet_text.append(printable_sheet(identity, recovery_key))

        def job() -> tuple[Identity, SigningKey]:
            identity = store.create_with_recovery(name, pw, write)
            return identity, store.unlock(pw)

        run_op(self, lambda: background(job)).success(self.on_created).failure(self.on_failed)

    def on_join_as_device(self) -> None:
        from provara_desktop.ui.dialogs.device_dialog import JoinDeviceDialog

        dialog = JoinDeviceDialog(self._store, self._lan, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.key is not None:
            self.identity, self.key = dialog.identity, dialog.key
            self.accept()

    def _sheet_path(self) -> Path:
        return Path(self.recovery_path.text().strip()).expanduser().with_suffix(".pdf")

    def _write_sheet(self) -> str:
        """The PDF sheet, if asked for: what the done page says about it."""
        if not self._sheet_text:
            return ""
        import html

        from provara_desktop.ui.report_pdf import html_to_pdf

        text, self._sheet_text = self._sheet_text[0], []
        target = self._sheet_path()
        try:
            html_to_pdf(f"<pre style='font-size: 12pt'>{html.escape(text)}</pre>", target,
                        title="Recovery sheet")
        except Exception as exc:  # the identity is made; the file is what matters
            return f" The sheet could not be written ({exc}); the recovery file is enough."
        return (f" A sheet to print is at <b>{target}</b>: print it, then delete the PDF "
                "too.")

    def on_restore(self) -> None:
        from provara_desktop.ui.dialogs.identity_upkeep import RestoreIdentityDialog

        dialog = RestoreIdentityDialog(self._store, self._store.home / "vaults" / "default",
                                       self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.key is not None:
            self.identity, self.key = dialog.identity, dialog.key
            self.accept()

    def on_browse_recovery(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the recovery file",
                                              self.recovery_path.text(),
                                              "Recovery file (*.json)")
        if path:
            self.recovery_path.setText(path)

    def _fail(self, message: str, field: QLineEdit) -> None:
        self.error.setText(message)
        field.setFocus()

    def on_created(self, result: tuple[Identity, SigningKey]) -> None:
        self.identity, self.key = result
        self.done_text.setText(f"Your identity <b>{self.identity.name}</b> is ready. You sign "
                               f"as <b>{self.identity.actor}</b>.")
        self.fingerprint.setText(fingerprint_text(self.identity.fingerprint))
        self.recovery_note.setText(
            f"Your recovery key is saved to <b>{self.recovery_path.text().strip()}</b>. Move "
            "that file off this computer (a USB stick kept safe, or print it and delete "
            "the file): whoever holds it can replace your key. The status bar reminds you "
            "until you confirm it is stored away." + self._write_sheet())
        self.pages.setCurrentIndex(1)
        self.done_button.setFocus()

    def on_failed(self, exc: BaseException) -> None:
        self.create_button.setEnabled(True)
        what, advice = describe(exc)
        self.error.setText(f"{what} {advice}".strip())
        if not self.isVisible():
            show_exception(self.parentWidget(), exc)


class UnlockDialog(QDialog):
    """Ask for the passphrase and open the key; a wrong passphrase is said inline and the
    dialog stays open. ``key`` is set when accepted."""

    def __init__(self, store: IdentityStore, parent: QWidget | None = None, *,
                 reason: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("unlockDialog")
        self.setModal(True)
        self._store = store
        self.key: SigningKey | None = None
        self.identity = store.load()
        self.setWindowTitle(f"Unlock {self.identity.actor}")
        text = QLabel((reason + "\n\n" if reason else "") +
                      f"Enter the passphrase of <b>{self.identity.name}</b> "
                      f"({self.identity.actor}).", self)
        text.setWordWrap(True)
        fpr = fingerprint_label(self.identity.fingerprint, self)
        self.passphrase = QLineEdit(self)
        self.passphrase.setObjectName("unlockPassphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel("", self)
        self.error.setObjectName("unlockError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.accent('error').name()}")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.unlock_button = self.buttons.addButton("Unlock",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.unlock_button.setObjectName("unlockButton")
        self.unlock_button.setDefault(True)
        self.buttons.accepted.connect(self.on_unlock)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(fpr)
        lay.addWidget(self.passphrase)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(460, 220)

    def on_unlock(self) -> None:
        pw = self.passphrase.text()
        if not pw:
            self.error.setText("Enter your passphrase.")
            return
        self.error.setText("Unlocking…")
        self.unlock_button.setEnabled(False)
        store = self._store
        run_op(self, lambda: background(lambda: store.unlock(pw))) \
            .success(self.on_unlocked).failure(self.on_failed)

    def on_unlocked(self, key: SigningKey) -> None:
        self.key = key
        self.accept()

    def on_failed(self, exc: BaseException) -> None:
        self.unlock_button.setEnabled(True)
        if isinstance(exc, WrongPassphraseError):
            self.error.setText("Wrong passphrase. Check it (and Caps Lock) and try again.")
            self.passphrase.selectAll()
            self.passphrase.setFocus()
            return
        what, advice = describe(exc)
        self.error.setText(f"{what} {advice}".strip())

"""The identity and vault half of the main window: first launch, unlock and lock, opening,
creating and recent vaults. Slow steps (key derivation, opening or indexing a vault) run on
the background pool; the window keeps painting and the result comes back on the GUI thread.

MainWindow extends this class; it provides the tabs, menus and status bar this half updates
through ``set_session`` and ``update_status``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from provara_desktop.runtime.progress import Progress
from provara_desktop.store.vault import Vault
from provara_desktop.ui.errors import show_exception
from provara_desktop.ui.ops import background, run_op
from provara_desktop.ui.settings import RECENT_VAULTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtWidgets import QMenu

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.session import VaultSession
    from provara_desktop.store.identity import Identity, IdentityStore
    from provara_desktop.store.index_build import IndexBuildProgress
    from provara_desktop.ui.settings import Settings


def default_vault_path(home: Path) -> Path:
    return home / "vaults" / "default"


class VaultLifecycle(QMainWindow):
    # Set up by MainWindow.__init__.
    identity_store: IdentityStore
    home: Path
    settings: Settings
    session: VaultSession | None
    key: SigningKey | None
    identity: Identity | None
    recent_menu: QMenu
    _new_session: Callable[[Vault], VaultSession]

    def set_session(self, session: VaultSession) -> None:
        raise NotImplementedError

    def update_status(self) -> None:
        raise NotImplementedError

    def start(self, vault_path: Path, *, passphrase: str | None = None) -> None:
        """What the app does at launch, without blocking the event loop: open the vault if
        it exists; otherwise (the default vault on first launch) create it, after creating
        or unlocking the identity that signs its genesis."""
        if passphrase and self.identity is not None:
            self._unlock_with(passphrase, then=lambda: self._open_or_create(vault_path))
        elif self.identity is None:
            self.ensure_unlocked(lambda: self._open_or_create(vault_path))
        else:
            self._open_or_create(vault_path)

    def _unlock_with(self, passphrase: str, then: Callable[[], None]) -> None:
        store = self.identity_store

        def failed(exc: BaseException) -> None:
            show_exception(self, exc)
            then()

        def unlocked(key: SigningKey) -> None:
            self.set_key(key)
            then()

        run_op(self, lambda: background(lambda: store.unlock(passphrase))) \
            .success(unlocked).failure(failed)

    def _open_or_create(self, path: Path) -> None:
        if path.exists():
            self.open_vault(path)
        elif self.key is not None:
            self.create_vault(path)
        else:
            self.ensure_unlocked(lambda: self.create_vault(path),
                                 reason=f"Unlock your identity to create the vault {path}.")

    def set_key(self, key: SigningKey | None) -> None:
        self.key = key
        if self.identity is None and self.identity_store.exists():
            self.identity = self.identity_store.load()
        if self.session is not None:
            if key is not None and self.identity is not None:
                self.session.unlock(key, self.identity.actor, self.identity)
            else:
                self.session.lock()
        self.update_status()

    def ensure_unlocked(self, then: Callable[[], None], *, reason: str = "") -> None:
        """Run ``then`` once the identity is unlocked: at once if it is, after the create
        (first run) or unlock dialog otherwise. Nothing happens if the user cancels."""
        if self.key is not None:
            then()
            return
        from provara_desktop.ui.dialogs.identity_dialogs import CreateIdentityDialog, UnlockDialog

        if self.identity is None:
            dialog: Any = CreateIdentityDialog(self.identity_store, self, first_run=True,
                                               lan=getattr(self, "lan", None))
        else:
            dialog = UnlockDialog(self.identity_store, self, reason=reason)

        def finished(code: int) -> None:
            if code == dialog.DialogCode.Accepted and dialog.key is not None:
                if getattr(dialog, "identity", None) is not None:
                    self.identity = dialog.identity
                self.set_key(dialog.key)
                then()

        dialog.finished.connect(finished)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def on_toggle_lock(self) -> None:
        if self.identity is None:
            self.on_new_identity()
        elif self.key is not None:
            self.set_key(None)
            self.statusBar().showMessage("Identity locked: unlock it to sign evidence", 5000)
        else:
            self.ensure_unlocked(lambda: self.statusBar().showMessage("Identity unlocked",
                                                                      5000))

    def on_new_identity(self) -> None:
        if self.identity is not None:
            box = QMessageBox(QMessageBox.Icon.Information, "New identity",
                              f"This profile already has an identity: {self.identity.actor}, "
                              f"fingerprint {self.identity.fingerprint}.",
                              QMessageBox.StandardButton.Ok, self)
            box.setInformativeText("One profile holds one identity, so your signatures "
                                   "stay attributable. To work as someone else, start the "
                                   "app with another profile (--home DIR or PROVARA_HOME).")
            box.setObjectName("identityExistsDialog")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            return
        self.ensure_unlocked(lambda: None)

    # -- vaults ---------------------------------------------------------------------------------

    def open_vault(self, path: Path) -> None:
        """Open the vault at ``path`` in the background (indexing a large vault the first
        time takes a while: the status bar shows how far it got) and show it when ready."""
        path, home = Path(path), self.home
        self.statusBar().showMessage(f"Opening {path}…")
        # Written by the indexing thread, read by a GUI timer (plain attribute writes).
        indexing = Progress(label="")

        def heard(p: IndexBuildProgress) -> None:
            indexing.total, indexing.done = p.total_bytes, p.log_bytes
            indexing.label = f"Indexing {path}: {p.events:,} events ({p.fraction:.0%})…"

        def show() -> None:
            if indexing.label:
                self.statusBar().showMessage(indexing.label)

        timer = QTimer(self)
        timer.setInterval(250)
        timer.timeout.connect(show)
        timer.start()

        def ended() -> None:
            timer.stop()
            timer.deleteLater()

        def opened(vault: Vault) -> None:
            ended()
            self.on_vault_opened(vault)

        def failed(exc: BaseException) -> None:
            ended()
            self.statusBar().clearMessage()
            if not path.exists():
                self.settings.remove_recent_vault(str(path))
            show_exception(self, exc)

        run_op(self, lambda: background(
            lambda: Vault.open(path, home=home, index_progress=heard))) \
            .success(opened).failure(failed)

    def create_vault(self, path: Path) -> None:
        key, identity, home = self.key, self.identity, self.home
        if key is None or identity is None:
            self.ensure_unlocked(lambda: self.create_vault(path))
            return
        self.statusBar().showMessage(f"Creating {path}…")
        run_op(self, lambda: background(lambda: Vault.init(
            Path(path), key=key, actor=identity.actor, home=home))) \
            .success(self.on_vault_opened)

    def on_vault_opened(self, vault: Vault) -> None:
        self.statusBar().showMessage(f"Opened {vault.root}", 5000)
        self.set_session(self._new_session(vault))

    def on_open_vault(self) -> None:
        start = str(self.session.vault.root.parent) if self.session else str(self.home)
        path = QFileDialog.getExistingDirectory(self, "Open a Provara vault", start)
        if path:
            self.open_vault(Path(path))

    def on_new_vault(self) -> None:
        start = str(self.home / "vaults")
        path, _ = QFileDialog.getSaveFileName(self, "Create a new vault (a new folder)", start)
        if path:
            self.create_vault(Path(path))

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.get(RECENT_VAULTS)
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
            return
        for p in recent:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.open_vault(Path(p)))

"""Composition root of the desktop app: settings, identity, vault, window.

This is the first, minimal window (the event log of the default vault, with identity and
vault in the status bar); the full investigator desktop is built on it in later steps.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QInputDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QTableView,
)

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.store.identity import IdentityStore, read_passphrase, resolve_home
from provara_desktop.store.vault import Vault
from provara_desktop.ui.models.event_log_model import EventLogModel

log = logging.getLogger(__name__)


def default_vault_path(home: Path) -> Path:
    return home / "vaults" / "default"


class MainWindow(QMainWindow):
    def __init__(self, *, vault: Vault, actor: str, fingerprint: str) -> None:
        super().__init__()
        self.vault = vault
        self.setWindowTitle(f"provara-desktop — {vault.root.name}")
        self.model = EventLogModel(vault.index, self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.setCentralWidget(self.table)
        self.statusBar().showMessage(
            f"Vault {vault.root}  ·  {self.model.rowCount()} events  ·  "
            f"Identity {actor} ({fingerprint})")
        self.resize(1100, 650)
        # Other writers (the CLI, a sync) append behind our back: poll the log cheaply.
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.on_refresh_timer)
        self._timer.start()

    def on_refresh_timer(self) -> None:
        try:
            self.vault.sync_index()
        except ProvaraDesktopError as exc:
            log.warning("cannot refresh: %s", exc)
            return
        self.model.refresh()


def _ask_passphrase(title: str) -> str | None:
    text, ok = QInputDialog.getText(None, title, "Passphrase:", QLineEdit.EchoMode.Password)
    return text if ok and text else None


def run_app(*, home: str | None = None, vault: str | None = None,
            quit_after_ms: int | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("provara-desktop")
    home_dir = resolve_home(home)
    store = IdentityStore(home_dir)
    try:
        try:
            passphrase = read_passphrase(None, prompt=False)
        except ProvaraDesktopError:
            passphrase = None
        if not store.exists():
            name, ok = QInputDialog.getText(None, "Create your identity",
                                            "Your name (shown to collaborators):")
            if not ok or not name.strip():
                return 2
            passphrase = passphrase or _ask_passphrase("Choose a passphrase")
            if passphrase is None:
                return 2
            store.create(name, passphrase)
        ident = store.load()
        vault_path = Path(vault) if vault else default_vault_path(home_dir)
        if not vault_path.exists():
            passphrase = passphrase or _ask_passphrase(f"Unlock {ident.actor}")
            if passphrase is None:
                return 2
            key = store.unlock(passphrase)
            opened = Vault.init(vault_path, key=key, actor=ident.actor, home=home_dir)
        else:
            opened = Vault.open(vault_path, home=home_dir)
    except ProvaraDesktopError as exc:
        QMessageBox.critical(None, "provara-desktop", str(exc))
        return exc.exit_code
    window = MainWindow(vault=opened, actor=ident.actor, fingerprint=ident.fingerprint)
    window.show()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, app.quit)
    try:
        return int(app.exec())
    finally:
        opened.close()

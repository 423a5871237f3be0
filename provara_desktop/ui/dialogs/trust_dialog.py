"""File > Trusted keys…: the keys this profile trusts, where each one's trust came from, the
role each has in your topology, Remove and Set role… (the same store and rules as `trust
list`, `trust remove` and `trust policy --role`, store/trust.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from provara_desktop.core.errors import UsageError, VaultError
from provara_desktop.core.topology_roles import ROLES
from provara_desktop.store.trust import TrustStore, make_policy

if TYPE_CHECKING:
    from pathlib import Path

    from PySide6.QtWidgets import QWidget

COLUMNS = ("Name", "Key id", "Fingerprint", "Trusted because", "Role")


class TrustedKeysDialog(QDialog):
    def __init__(self, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = TrustStore(home)
        self.setWindowTitle("Trusted keys")
        self.resize(820, 360)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("trustedKeys")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.note = QLabel("Removing a key holds its new events back on later imports; "
                           "what it signed before stays in your vaults.")
        self.note.setWordWrap(True)
        self.remove_button = QPushButton("&Remove")
        self.remove_button.setObjectName("removeTrust")
        self.remove_button.clicked.connect(self.on_remove)
        self.role_button = QPushButton("Set &role…")
        self.role_button.setObjectName("setRole")
        self.role_button.setToolTip("The peer's role in your topology: it sets the direction "
                                    "events go with it (docs/TOPOLOGIES.md)")
        self.role_button.clicked.connect(self.on_set_role)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.role_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    def refresh(self) -> None:
        try:
            keys = self.store.load()
            in_force = self.store.trusted_ids()
        except VaultError as exc:
            keys, in_force = {}, set()
            self.note.setText(f"Cannot read the trust store: {exc}")
        self.table.setRowCount(len(keys))
        for row, k in enumerate(sorted(keys.values(), key=lambda k: (k.name, k.key_id))):
            why = k.describe() + ("" if k.key_id in in_force else
                                  " (not in force: whoever vouched for it is no longer "
                                  "trusted)")
            role = ", ".join(k.roles) or "peer"
            for col, text in enumerate((k.name or "(no name)", k.key_id, k.fingerprint, why,
                                        role)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def selected_key_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 1)
        return item.text() if item is not None else None

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_key_id() is not None)
        self.role_button.setEnabled(self.selected_key_id() is not None)

    def on_set_role(self) -> None:
        """A role is a decision the user makes and sees: it sets the direction it implies
        (parent: send only, child: receive only) and shows in this table and the topology
        view; choosing "peer" undoes it."""
        key_id = self.selected_key_id()
        if key_id is None:
            return
        items = [f"{r.name}: {r.meaning}" for r in ROLES.values()]
        current = self.store.load().get(key_id)
        now = current.roles[0] if current is not None and current.roles else "peer"
        picked, ok = QInputDialog.getItem(self, "Role of this peer", f"{key_id}:", items,
                                          list(ROLES).index(now) if now in ROLES else 0,
                                          False)
        if not ok:
            return
        name = picked.split(":", 1)[0]
        # Only the direction changes: a scope set before (actors, namespaces) is kept.
        policy = {**(dict(current.policy) if current is not None else {}),
                  **make_policy(direction=ROLES[name].direction)}
        if ROLES[name].direction == "both":
            policy.pop("direction", None)
        try:
            self.store.set_policy(key_id, policy, roles=[name])
        except (UsageError, VaultError) as exc:
            QMessageBox.warning(self, "Trusted keys", str(exc))
        self.refresh()

    def on_remove(self) -> None:
        key_id = self.selected_key_id()
        if key_id is None:
            return
        try:
            self.store.remove(key_id)
        except VaultError as exc:
            QMessageBox.warning(self, "Trusted keys", str(exc))
        self.refresh()

"""Keys over time in the app: every key the vault knows with its life (store/vault_keys.py:
active, rotated, revoked; whose device; the trust boundary), and the reminder about the
recovery file (docs/KEYS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.keys import PublicKey
from provara_desktop.store import vault_keys
from provara_desktop.store.recovery_file import write_recovery_file

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.store.identity import Identity, IdentityStore
    from provara_desktop.store.vault import Vault

COLUMNS = ("Key", "Status", "Role", "Person / device", "Fingerprint", "Trust boundary",
           "Replaced by", "Events")


def key_rows(vault: Vault) -> tuple[list[tuple[str, ...]], list[str]]:
    """One row per key keys.json lists (the columns above), and the key events that do
    not count, as sentences."""
    life = vault_keys.key_life(vault)
    used = dict(vault.index.key_ids())
    rows: list[tuple[str, ...]] = []
    for entry in vault.keys_doc.get("keys", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("key_id"), str):
            continue
        kid = entry["key_id"]
        s = life.keys.get(kid)
        try:
            fp = PublicKey.from_b64(str(entry.get("public_key_b64"))).fingerprint
        except ValueError:
            fp = "unreadable"
        if s is None:
            rows.append((kid, str(entry.get("status")), "", "", fp, "", "",
                         str(used.get(kid, 0))))
            continue
        who = (f"device '{s.device_name}' of {s.person}" if s.role == "device" and s.device_name
               else f"recovery key of {s.person}" if s.role == "recovery"
               else s.person or "")
        rows.append((kid, s.status, s.role, who, fp, s.trust_boundary_event_id or "",
                     s.replaced_by or "", str(used.get(kid, 0))))
    # One person's keys together: their identity keys, recovery key and devices.
    rows.sort(key=lambda r: (person_of(r), r[2] != "identity", r[2]))
    notes = [p.message for p in life.problems]
    bare = vault_keys.without_recovery(life)
    if bare:
        notes.append(f"No recovery key is declared in this vault for {', '.join(bare)}: "
                     "nothing may rotate their keys. Each can make one (the status bar's "
                     "warning, or `identity add-recovery`); it is declared here with their "
                     "next event.")
    return rows, notes


def person_of(row: tuple[str, ...]) -> str:
    """Whose key a row of key_rows is ("" for a key no event ties to a person)."""
    who = row[3]
    return who.rsplit(" of ", 1)[-1].strip() if " of " in who else who


def people(rows: list[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    """key_rows grouped by person, in their order: one person with their keys and devices."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for row in rows:
        out.setdefault(person_of(row) or "(no person recorded)", []).append(row)
    return out


def _key_text(row: tuple[str, ...]) -> str:
    kid, status, role, who = row[:4]
    what = (who.split(" of ", 1)[0] if role == "device" else
            "recovery key" if role == "recovery" else f"{role or 'key'} key")
    return f"{what} — {status} — {kid} ({row[7]} events)"


class KeysDialog(QDialog):
    """``on_revoke(key_id)``: asked to revoke the selected key (a lost device, a leaked
    key); the caller gathers the recovery file and calls :meth:`refresh` when done.
    ``loaded``: the rows, computed by the caller (the app does it on its query thread)."""

    def __init__(self, vault: Vault, parent: QWidget | None = None, *,
                 on_revoke: Callable[[str], None] | None = None,
                 own_key_id: str | None = None,
                 loaded: tuple[list[tuple[str, ...]], list[str]] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keysDialog")
        self.setWindowTitle("Keys of this vault")
        self.vault = vault
        # The people view: each person with their keys and devices; a key picked here is
        # picked in the table below (its details, and the revoke button).
        self.people = QTreeWidget(self)
        self.people.setObjectName("peopleTree")
        self.people.setHeaderLabels(["People, their keys and devices"])
        self.people.itemSelectionChanged.connect(self._person_picked)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("keysTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.problems = QLabel("", self)
        self.problems.setObjectName("keysProblems")
        self.problems.setWordWrap(True)
        intro = QLabel("Every key the vault knows, with its life as the signed events say: "
                       "a rotated or revoked key's events up to its trust boundary stay "
                       "valid, later ones count for nothing. File › Rotate my key replaces "
                       "your own; a lost device or a leaked key is revoked here, with your "
                       "recovery file.", self)
        intro.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.revoke_button = buttons.addButton("Revoke selected key…",
                                               QDialogButtonBox.ButtonRole.ActionRole)
        self.revoke_button.setObjectName("revokeKeyButton")
        self.revoke_button.setEnabled(False)
        self._on_revoke = on_revoke
        self._own = own_key_id  # rotated (File > Rotate my key), never revoked from here
        self.revoke_button.clicked.connect(self._revoke)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.people)
        split.addWidget(self.table)
        lay.addWidget(split, 1)
        lay.addWidget(self.problems)
        lay.addWidget(buttons)
        self.resize(900, 520)
        self.refresh(loaded)

    def refresh(self, loaded: tuple[list[tuple[str, ...]], list[str]] | None = None) -> None:
        """Show ``loaded`` (key_rows, computed off the GUI thread: the first key life of a
        large rotated vault walks a long chain), or compute it here."""
        rows, problems = loaded if loaded is not None else key_rows(self.vault)
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.people.clear()
        for person, keys in people(rows).items():
            devices = sum(1 for r in keys if r[2] == "device")
            top = QTreeWidgetItem([f"{person}" + (f" — {devices} device(s)" if devices else "")])
            for row in keys:
                child = QTreeWidgetItem([_key_text(row)])
                child.setData(0, Qt.ItemDataRole.UserRole, row[0])
                top.addChild(child)
            self.people.addTopLevelItem(top)
        self.people.expandAll()
        self.problems.setText("\n".join(problems) if problems else
                              "Every key event in this vault counts.")
        self._selection_changed()

    def _person_picked(self) -> None:
        items = self.people.selectedItems()
        kid = items[0].data(0, Qt.ItemDataRole.UserRole) if items else None
        for r, row in enumerate(self.rows):
            if row[0] == kid:
                self.table.selectRow(r)
                return

    def selected_key(self) -> str | None:
        picked = self.table.selectionModel().selectedRows()
        return self.rows[picked[0].row()][0] if picked else None

    def _selection_changed(self) -> None:
        kid = self.selected_key()
        row = next((r for r in self.rows if r[0] == kid), None)
        # Revocable: an active identity or device key (a recovery key revokes, it is not
        # revoked here).
        self.revoke_button.setEnabled(self._on_revoke is not None and row is not None
                                      and row[0] != self._own and row[1] == "active"
                                      and row[2] in ("identity", "device"))

    def _revoke(self) -> None:
        kid = self.selected_key()
        if kid is not None and self._on_revoke is not None:
            self._on_revoke(kid)


def recovery_warning(identity: Identity | None) -> str:
    """What the status bar says about the recovery file ("" when nothing needs doing)."""
    if identity is None or identity.person_actor is not None:
        return ""  # a device's recovery key is its person's
    if identity.recovery_key_id is None:
        return "No recovery key: click to make one"
    if not identity.recovery_confirmed:
        return "Recovery file not confirmed stored: click when it is"
    return ""


def on_recovery_warning(parent: QWidget, store: IdentityStore,
                        identity: Identity) -> Identity | None:
    """The click on the warning: confirm the file is stored, or make a recovery key for an
    identity without one. The new identity facts, or None when nothing changed."""
    if identity.recovery_key_id is not None:
        answer = QMessageBox.question(
            parent, "Recovery file",
            "Is your recovery file stored away from this computer (a USB stick kept safe, "
            "or printed and the file deleted)? Whoever holds it can replace your key.")
        if answer != QMessageBox.StandardButton.Yes:
            return None
        return store.confirm_recovery_stored()
    passphrase, ok = QInputDialog.getText(
        parent, "Make a recovery key", "Your passphrase (the recovery key is recorded with "
        "your identity, sealed as before):", QLineEdit.EchoMode.Password)
    if not ok or not passphrase:
        return None
    path, _ = QFileDialog.getSaveFileName(parent, "Save the recovery file",
                                          str(Path.home() / "provara-recovery.json"),
                                          "Recovery file (*.json)")
    if not path:
        return None
    target = Path(path)

    def write(i: Any, r: Any) -> None:
        write_recovery_file(target, i, r)

    return store.add_recovery(passphrase, write)

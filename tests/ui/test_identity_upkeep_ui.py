"""The rest of a key's life from the app: a new passphrase for the same key (a wrong current
one changes nothing), and an identity restored on a new machine from its recovery file (a
wrong file is refused, the vault untouched)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton

from provara_desktop.core.errors import WrongPassphraseError
from provara_desktop.store import evidence, vault_keys
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import write_recovery_file
from provara_desktop.store.vault import Vault
from provara_desktop.ui.dialogs.identity_upkeep import (
    ChangePassphraseDialog,
    RestoreIdentityDialog,
)
from tests.ui.conftest import FAST, PASSPHRASE, tree_digest

if TYPE_CHECKING:
    from pathlib import Path


def _fill(qtbot: Any, dialog: QDialog, **fields: str) -> None:
    for name, text in fields.items():
        field = dialog.findChild(QLineEdit, name)
        field.clear()
        qtbot.keyClicks(field, text)


def test_a_new_passphrase_seals_the_same_key(qtbot: Any, store: IdentityStore,
                                             unlocked: Any) -> None:
    ident, key = unlocked
    dlg = ChangePassphraseDialog(store)
    qtbot.addWidget(dlg)
    dlg.show()
    error = dlg.findChild(QLabel, "passphraseError")
    _fill(qtbot, dlg, oldPassphrase="not it", newPassphrase="fresh words",
          newPassphraseRepeat="fresh words")
    qtbot.mouseClick(dlg.findChild(QPushButton, "changePassphraseButton"),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Sealing" not in error.text() and error.text() != "",
                    timeout=10000)
    assert "passphrase" in error.text().lower()
    assert store.unlock(PASSPHRASE).key_id == key.key_id  # unchanged
    _fill(qtbot, dlg, oldPassphrase=PASSPHRASE)
    qtbot.mouseClick(dlg.findChild(QPushButton, "changePassphraseButton"),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result() == QDialog.DialogCode.Accepted, timeout=10000)
    assert store.unlock("fresh words").key_id == key.key_id
    with pytest.raises(WrongPassphraseError):
        store.unlock(PASSPHRASE)
    assert store.load().fingerprint == ident.fingerprint


def test_an_identity_is_restored_on_a_new_machine(qtbot: Any, tmp_path: Path) -> None:
    def person(name: str) -> tuple[IdentityStore, Any, Path]:
        home, rec = tmp_path / name, tmp_path / f"{name}-recovery.json"
        s = IdentityStore(home, **FAST)
        made = s.create_with_recovery(name, PASSPHRASE,
                                      lambda i, r: write_recovery_file(rec, i, r) and None)
        return s, made, rec

    alice_store, alice, rec = person("Alice")
    _eve, _, eve_rec = person("Eve")
    key = alice_store.unlock(PASSPHRASE)
    vault_dir = tmp_path / "case"
    with Vault.init(vault_dir, key=key, actor=alice.actor, home=alice_store.home) as v:
        evidence.observe(v, key, alice.actor, subject="door", predicate="state", value="open")
    laptop = IdentityStore(tmp_path / "new-laptop", **FAST)
    dlg = RestoreIdentityDialog(laptop, tmp_path / "nowhere")
    qtbot.addWidget(dlg)
    dlg.show()
    error = dlg.findChild(QLabel, "restoreError")
    button = dlg.findChild(QPushButton, "restoreButton")
    _fill(qtbot, dlg, restoreRecoveryFile=str(eve_rec), restorePassphrase="new words",
          restoreRepeat="new words")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert "No vault at" in error.text()  # the default vault is not there: said at once
    before = tree_digest(vault_dir)
    _fill(qtbot, dlg, restoreVault=str(vault_dir))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Restoring" not in error.text(), timeout=10000)
    assert "wrong recovery file" in error.text()
    assert tree_digest(vault_dir) == before
    assert not laptop.exists()
    _fill(qtbot, dlg, restoreRecoveryFile=str(rec))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result() == QDialog.DialogCode.Accepted, timeout=10000)
    restored = laptop.load()
    assert restored.actor == alice.actor
    assert restored.key_id != alice.key_id
    assert dlg.key is not None
    assert dlg.key.key_id == restored.key_id
    with Vault.open(vault_dir, home=laptop.home) as v:
        life = vault_keys.key_life(v)
        assert life.keys[alice.key_id].status == "revoked"
        assert life.keys[alice.key_id].replaced_by == restored.key_id

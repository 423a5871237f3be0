"""Trust in the app: the import preview's tick is a recorded trust decision, and File >
Trusted keys… shows each key with where its trust came from and removes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from provara_desktop.store.trust import TrustSource, TrustStore
from provara_desktop.ui.dialogs import bundle_dialogs
from provara_desktop.ui.dialogs.trust_dialog import TrustedKeysDialog
from tests.ui.test_bundle_dialogs import (
    boxes,
    preview_of,
    ready,
    sender,
    settle,
    signer_decision_of,
)

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.session import VaultSession

__all__ = ["boxes", "ready", "sender"]  # fixtures shared with the bundle dialog tests


def test_ticking_accept_untrusted_records_the_decision(qtbot: Any, ready: VaultSession,
                                                       sender: Any) -> None:
    bundle, ident, key = sender
    parent = QWidget()
    qtbot.addWidget(parent)
    before = ready.vault.index.count()
    bundle_dialogs.import_bundle(parent, ready, str(bundle))
    settle(qtbot)
    signer_decision_of(parent).read_button.click()  # untrusted: read only when asked to
    settle(qtbot)
    dialog = preview_of(parent)
    assert "trusted from now on" in dialog.view.toPlainText()
    assert "Trusted keys" in dialog.accept_untrusted.text()
    dialog.accept_untrusted.setChecked(True)
    qtbot.waitUntil(dialog.import_button.isEnabled, timeout=10_000)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: ready.vault.index.count() == before + 3, timeout=20_000)
    settle(qtbot)
    entry = TrustStore(ready.vault.home).load()[key.key_id]
    assert entry.source.kind == "import"
    assert entry.source.detail["bundle"] == bundle.name
    assert entry.name == ident.actor


def test_trusted_keys_dialog_lists_sources_and_removes(qtbot: Any, tmp_path: Path,
                                                       sender: Any) -> None:
    _, ident, key = sender
    home = tmp_path / "viewer-home"
    store = TrustStore(home)
    store.add(key.key_id, key.public.b64, "Sam",
              TrustSource.imported(bundle="sam.provara-bundle", vault="/v",
                                   manifest_sha256="cd" * 32))
    dialog = TrustedKeysDialog(home)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 1
    cells = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert cells[:3] == ["Sam", key.key_id, key.public.fingerprint]
    assert cells[3].startswith("accepted at the import of sam.provara-bundle")
    assert not dialog.remove_button.isEnabled()
    dialog.table.selectRow(0)
    assert dialog.remove_button.isEnabled()
    dialog.remove_button.click()
    assert dialog.table.rowCount() == 0
    assert store.load() == {}


def test_the_file_menu_opens_it(qtbot: Any, make_window: Any, monkeypatch: Any) -> None:
    from PySide6.QtGui import QAction

    opened: list[TrustedKeysDialog] = []
    monkeypatch.setattr(TrustedKeysDialog, "exec", lambda self: opened.append(self) or 0)
    window = make_window()
    act = window.findChild(QAction, "actTrustedKeys")
    assert act is not None
    assert act.text().replace("&", "") == "Trusted keys…"
    act.trigger()
    assert len(opened) == 1
    assert opened[0].store.home == window.home

"""The app on a vault that lost events this profile saw (store/seen_heads.py): an alert
names them, writes are refused, and the user can accept the vault as it is, with a reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from provara_desktop.core.errors import TamperedVaultError
from provara_desktop.runtime.bus import EventBus
from provara_desktop.session import VaultSession
from provara_desktop.store import layout
from provara_desktop.store.evidence import observe
from provara_desktop.store.manifest import entry_for, manifest_bytes, manifest_doc, walk_files
from provara_desktop.store.vault import Vault
from tests.ui.conftest import tree_digest

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("PySide6")


def cut_and_reseal(root: Path) -> None:
    """What someone who edits the files would do: drop the last event, re-make the manifest
    over what is left (with the manifest code any Provara tool has)."""
    log = root / layout.EVENTS
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-1]))
    entries = [entry_for(root, rel) for rel in sorted(walk_files(root))]
    (root / layout.MANIFEST).write_bytes(manifest_bytes(manifest_doc(entries, "2026-01-01")))


def test_the_app_names_the_missing_event_and_refuses_to_record(
        qtbot, make_window, home: Path, unlocked) -> None:  # type: ignore[no-untyped-def]
    ident, key = unlocked
    root = home / "vaults" / "v"
    with Vault.init(root, key=key, actor=ident.actor, home=home) as vault:
        gone = observe(vault, key, ident.actor, subject="door", predicate="state",
                       value="open").events[0]["event_id"]
    cut_and_reseal(root)
    session = VaultSession(Vault.open(root, home=home), bus=EventBus())
    try:
        window = make_window(session, key=key)
        dialog = window.loss_dialog
        qtbot.waitUntil(dialog.isVisible)
        from PySide6.QtWidgets import QTextBrowser

        assert gone in dialog.findChild(QTextBrowser, "lossDetails").toPlainText()
        before = tree_digest(root)
        with pytest.raises(TamperedVaultError, match=gone):
            session.vault.append([session.vault.new_event(
                key=key, actor=ident.actor, event_type="OBSERVATION",
                payload={"subject": "x", "predicate": "y", "value": 1})], signer=key)
        assert tree_digest(root) == before
        # Accepting needs a reason; then writes work again.
        assert not dialog.accept_button.isEnabled()
        dialog.reason.setText("restored from last week's backup")
        dialog.accept_button.click()
        qtbot.waitUntil(lambda: not dialog.isVisible())
        assert session.vault.loss is None
        observe(session.vault, key, ident.actor, subject="x", predicate="y", value=1)
    finally:
        session.close()


def test_a_cut_made_while_the_app_is_open_raises_the_alert(
        qtbot, make_window, home: Path, unlocked) -> None:  # type: ignore[no-untyped-def]
    ident, key = unlocked
    root = home / "vaults" / "v"
    Vault.init(root, key=key, actor=ident.actor, home=home).close()
    session = VaultSession(Vault.open(root, home=home), bus=EventBus())
    try:
        window = make_window(session, key=key)
        qtbot.waitUntil(lambda: session.beliefs() is not None)
        gone = session.observe(subject="door", predicate="state",
                               value="open").result(10).events[0]["event_id"]
        assert getattr(window, "loss_dialog", None) is None
        cut_and_reseal(root)  # as another program would, while the app is open
        session.check_external().result(10)
        qtbot.waitUntil(lambda: getattr(window, "loss_dialog", None) is not None
                        and window.loss_dialog.isVisible())
        from PySide6.QtWidgets import QTextBrowser

        assert gone in window.loss_dialog.findChild(QTextBrowser, "lossDetails").toPlainText()
    finally:
        session.close()

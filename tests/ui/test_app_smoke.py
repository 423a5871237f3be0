"""The first window: opens the default vault, shows its events, follows appends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from provara_desktop.store.evidence import observe
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("PySide6")


@pytest.fixture
def vault(home: Path) -> Vault:
    store = IdentityStore(home)
    ident = store.create("Dana", "pw")
    key = store.unlock("pw")
    v = Vault.init(home / "vaults" / "default", key=key, actor=ident.actor, home=home)
    v.key, v.actor = key, ident.actor  # type: ignore[attr-defined]
    return v


def test_event_log_model_passes_modeltester(qtmodeltester, vault: Vault) -> None:
    from provara_desktop.ui.models.event_log_model import EventLogModel

    model = EventLogModel(vault.index)
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    observe(vault, vault.key, vault.actor, subject="door", predicate="status", value="open")
    model.refresh()
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    assert model.index(2, 3).data() == "door"


def test_main_window_shows_vault_and_new_events(qtbot, vault: Vault) -> None:
    from provara_desktop.app import MainWindow

    window = MainWindow(vault=vault, actor=vault.actor, fingerprint="F")
    qtbot.addWidget(window)
    window.show()
    assert "2 events" in window.statusBar().currentMessage()
    # Another process appends (here: another Vault object on the same directory).
    other = Vault.open(vault.root, home=vault.home)
    observe(other, vault.key, vault.actor, subject="door", predicate="status", value="shut")
    other.close()
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    assert window.table.model().index(2, 3).data() == "door"

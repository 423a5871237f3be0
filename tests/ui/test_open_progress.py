"""Opening a vault whose index must be built shows how far the indexing got in the status
bar, then the vault."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from provara_desktop.store import vault as vault_module

if TYPE_CHECKING:
    from pathlib import Path


def test_the_status_bar_shows_the_index_being_built(  # type: ignore[no-untyped-def]
        qtbot, make_window, session, monkeypatch, tmp_path: Path) -> None:
    window = make_window(session)
    root = session.vault.root
    release = threading.Event()
    real = vault_module.index_log

    def slow_index_log(*args: Any, progress: Any = None, **kw: Any) -> int:
        def held(p: Any) -> None:
            progress(p)  # reported, then held until the status bar has shown it
            release.wait(10)
        return real(*args, progress=held, **kw)

    monkeypatch.setattr(vault_module, "index_log", slow_index_log)
    other_home = tmp_path / "fresh-profile"  # no index there: it is built on open
    monkeypatch.setattr(window, "home", other_home)
    window.open_vault(root)
    qtbot.waitUntil(lambda: "Indexing" in window.statusBar().currentMessage(), timeout=10000)
    message = window.statusBar().currentMessage()
    assert str(root) in message
    assert "2 events (100%)" in message
    release.set()
    qtbot.waitUntil(lambda: window.session is not session, timeout=10000)
    assert window.session.vault.index.count() == 2

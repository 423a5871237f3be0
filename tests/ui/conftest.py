"""Fixtures for the UI tests: fresh settings for every test, a real identity (with cheap
key derivation), a real vault and session, and the main window built without dialogs."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import nacl.pwhash
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings  # noqa: E402

from provara_desktop.runtime.bus import EventBus  # noqa: E402
from provara_desktop.session import VaultSession  # noqa: E402
from provara_desktop.store.identity import IdentityStore  # noqa: E402
from provara_desktop.store.vault import Vault  # noqa: E402
from provara_desktop.ui.gui_thread_gc import GuiThreadCollector  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
PASSPHRASE = "correct horse"


@pytest.fixture(autouse=True)
def fresh_settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test gets its own settings file: nothing leaks between tests or from the
    developer's real settings."""
    d = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(d))
    return d


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp: object) -> Iterator[GuiThreadCollector]:
    """The app's policy (app.py): cyclic garbage is collected on the GUI thread only, never
    by a worker that happens to allocate (ui/gui_thread_gc.py). What the test left (a failed
    test's traceback holds its widgets in cycles) is collected here, on the GUI thread, before
    automatic collection comes back for the tests outside tests/ui."""
    import gc

    collector = GuiThreadCollector().start()
    yield collector
    gc.collect()
    collector.stop()


@pytest.fixture
def store(home: Path) -> IdentityStore:
    return IdentityStore(home, **FAST)


@pytest.fixture
def unlocked(store: IdentityStore):  # type: ignore[no-untyped-def]
    ident = store.create("Dana Tester", PASSPHRASE)
    return ident, store.unlock(PASSPHRASE)


@pytest.fixture
def session(home: Path, unlocked) -> Iterator[VaultSession]:  # type: ignore[no-untyped-def]
    ident, key = unlocked
    vault = Vault.init(home / "vaults" / "default", key=key, actor=ident.actor, home=home)
    s = VaultSession(vault, bus=EventBus())
    yield s
    s.close()


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``: compare before/after to prove "unchanged"."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def make_window(qtbot, store: IdentityStore):  # type: ignore[no-untyped-def]
    """Build a MainWindow the way app.py does, but with no first-run dialogs."""
    from provara_desktop.ui.bridge import QtBridge
    from provara_desktop.ui.log_panel import DequeHandler
    from provara_desktop.ui.main_window import MainWindow
    from provara_desktop.ui.settings import Settings

    def make(session: VaultSession | None = None, *, key=None):  # type: ignore[no-untyped-def]
        bus = session.bus if session is not None else EventBus()
        bridge = QtBridge(bus)
        window = MainWindow(bus=bus, bridge=bridge, settings=Settings(),
                            identity_store=store, session=None,
                            log_handler=DequeHandler())
        qtbot.addWidget(window)
        if key is not None:
            window.set_key(key)
        if session is not None:
            window.set_session(session)
        with qtbot.waitExposed(window):
            window.show()
        window.activateWindow()  # shortcuts only reach the active window
        qtbot.waitUntil(window.isActiveWindow)
        return window

    return make

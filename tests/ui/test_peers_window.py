"""The Peers tab in the main window: Ctrl+5 and View › Peers reach it; with the app's LAN
service (loopback only) the open vault is served as soon as the identity is unlocked; the
"LAN sync on" setting turns the peer off (and stays off for the next launch); new evidence
shows an in-window banner and a status bar message."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from provara_desktop.net.app_peer import LanOptions, LanService
from provara_desktop.runtime.async_loop import AsyncLoop
from provara_desktop.ui.settings import LAN_ENABLED, Settings

if TYPE_CHECKING:
    from provara_desktop.session import VaultSession

WAIT_MS = 30_000


def test_ctrl_5_shows_the_peers_tab_which_says_when_lan_is_unavailable(
        qtbot, make_window, session: VaultSession, unlocked) -> None:  # type: ignore[no-untyped-def]
    _, key = unlocked
    window = make_window(session, key=key)
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Peers"
    peers = window.views["Peers"]
    assert window.tabs.currentWidget() is peers
    qtbot.waitUntil(lambda: "not available" in peers.state_label.text(), timeout=WAIT_MS)
    window.on_new_evidence("New evidence from Bob: 3 events arrived")
    assert window.evidence_banner.isVisible()
    assert "3 events" in window.evidence_label.text()
    assert "New evidence from Bob" in window.statusBar().currentMessage()


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) == 0


def test_the_window_serves_the_open_vault_and_the_setting_turns_it_off(
        qtbot, home, store, session: VaultSession, unlocked) -> None:  # type: ignore[no-untyped-def]
    from provara_desktop.ui.bridge import QtBridge
    from provara_desktop.ui.log_panel import DequeHandler
    from provara_desktop.ui.main_window import MainWindow

    _, key = unlocked
    loop = AsyncLoop("test-net-window").start()
    lan = LanService(loop, home, LanOptions(host="127.0.0.1", port=0,
                                            interfaces=["127.0.0.1"], discovery=False))
    try:
        window = MainWindow(bus=session.bus, bridge=QtBridge(session.bus), settings=Settings(),
                            identity_store=store, log_handler=DequeHandler(), lan=lan)
        qtbot.addWidget(window)
        window.set_session(session)
        peers = window.views["Peers"]
        qtbot.waitUntil(lambda: "Unlock your identity" in peers.state_label.text(),
                        timeout=WAIT_MS)
        assert lan.peer is None  # nobody is served before the key proves who we are
        window.set_key(key)
        qtbot.waitUntil(lambda: "Listening on 127.0.0.1:" in peers.state_label.text(),
                        timeout=WAIT_MS)
        address = peers.snapshot.listening
        assert _listening(address)
        peers.lan_toggle.setChecked(False)
        qtbot.waitUntil(lambda: lan.peer is None and not _listening(address), timeout=WAIT_MS)
        assert "LAN sync is off" in peers.state_label.text()
        assert Settings().get(LAN_ENABLED) is False
        peers.lan_toggle.setChecked(True)
        qtbot.waitUntil(lambda: lan.peer is not None, timeout=WAIT_MS)
        assert Settings().get(LAN_ENABLED) is True
    finally:
        lan.stop_peer().result(20)
        loop.stop(timeout=10)


_CHILD = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from provara_desktop.app import run_app
seen = {}
def look():
    w = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")
    seen["state"] = w.views["Peers"].state_label.text()
    seen["threads"] = sorted(t.name for t in __import__("threading").enumerate())
QTimer.singleShot(4000, look)
code = run_app(quit_after_ms=5000)
import threading
seen["after"] = sorted(t.name for t in threading.enumerate())
print(json.dumps({"code": code, **seen}))
"""


def test_run_app_serves_the_vault_on_its_loop_thread_and_stops_it_on_quit(
        home, unlocked, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """app.py starts the loop thread before the window and the vault's peer on it
    (PROVARA_LAN=loopback: 127.0.0.1 only); quitting stops both (exit 0)."""
    import json
    import os
    import subprocess
    import sys

    from tests.ui.conftest import PASSPHRASE

    env = {**os.environ, "PROVARA_HOME": str(home), "PROVARA_PASSPHRASE": PASSPHRASE,
           "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PROVARA_LAN": "loopback"}
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert "Listening on 127.0.0.1:" in seen["state"], seen
    assert "provara-net" in seen["threads"]
    assert "provara-net" not in seen["after"]

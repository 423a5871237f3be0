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

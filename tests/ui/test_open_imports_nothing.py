"""Opening a vault imports no module on the GUI thread.

The window is on screen when a vault finishes opening; importing the views' modules then
(the Peers view pulls in the LAN code, TLS and x509) held the GUI thread for ~70 ms of a
110-180 ms start-up stall at a million events (docs/BENCHMARKS.md, "Later opens"). They are
imported while the window is built, before its first paint. A fresh interpreter is needed:
in this test process other tests have imported them long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("PySide6")

_CHILD = r"""
import json, sys
from pathlib import Path
import nacl.pwhash
from PySide6.QtWidgets import QApplication
from provara_desktop.runtime.bus import EventBus
from provara_desktop.session import VaultSession
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault
from provara_desktop.ui.bridge import QtBridge
from provara_desktop.ui.log_panel import DequeHandler
from provara_desktop.ui.main_window import MainWindow
from provara_desktop.ui.settings import Settings

app = QApplication([])
home = Path(sys.argv[1])
store = IdentityStore(home, opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                      memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN)
ident = store.create("Dana Tester", "correct horse")
key = store.unlock("correct horse")
vault = Vault.init(home / "vaults" / "v", key=key, actor=ident.actor, home=home)
bus = EventBus()
window = MainWindow(bus=bus, bridge=QtBridge(bus), settings=Settings(), identity_store=store,
                    log_handler=DequeHandler())
window.show()
app.processEvents()
session = VaultSession(vault, bus=bus)
before = set(sys.modules)
window.set_session(session)
new = sorted(m for m in set(sys.modules) - before if m.startswith("provara_desktop"))
print(json.dumps({"tabs": [window.tabs.tabText(i) for i in range(window.tabs.count())],
                  "imported": new}))
session.close()
"""


def test_set_session_imports_no_module_of_the_app(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PROVARA_LAN": "off",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "home")], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tabs"] == ["Beliefs", "Contested", "Timeline", "Verify", "Peers"]
    assert result["imported"] == [], "imported while the vault opened, on the GUI thread"

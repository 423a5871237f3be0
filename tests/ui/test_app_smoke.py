"""The app as launched: run_app on a profile, and the gui command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from provara_desktop.store.vault import Vault
from tests.ui.conftest import PASSPHRASE

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("PySide6")


_CHILD = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from provara_desktop.app import run_app
seen = {}
def look():
    w = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")
    seen["tabs"] = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    seen["session"] = w.session is not None
    seen["identity"] = w.identity_button.text()
    seen["dialogs"] = [d.objectName() for d in QApplication.topLevelWidgets()
                       if d.isVisible() and d is not w]
QTimer.singleShot(2500, look)
code = run_app(quit_after_ms=3500)
print(json.dumps({"code": code, **seen}))
"""


def test_run_app_creates_the_default_vault_on_first_launch(home: Path, unlocked,
                                                           tmp_path: Path) -> None:
    """With an identity and PROVARA_PASSPHRASE (as scripts and tests start it), the first
    launch opens the window and creates the default vault without any dialog, then quits
    by itself. In a child process: a QApplication that has run exec() keeps no working
    timers for the tests that follow."""
    import json
    import os
    import subprocess

    ident, _ = unlocked
    env = {**os.environ, "PROVARA_HOME": str(home), "PROVARA_PASSPHRASE": PASSPHRASE,
           "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PROVARA_LAN": "off"}  # no network in tests (the Peers tab says LAN is off)
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert seen["tabs"] == ["Beliefs", "Contested", "Timeline", "Verify", "Peers"]
    assert seen["session"] is True
    assert ident.fingerprint in seen["identity"]
    assert seen["dialogs"] == []  # no first-run dialog: identity and passphrase were given
    default = home / "vaults" / "default"
    assert (default / "events" / "events.ndjson").is_file()
    with Vault.open(default, home=home) as v:
        assert v.index.count() == 2

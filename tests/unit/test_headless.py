"""The vault core, store and CLI work on a machine without Qt (napari's headless job, done
cheaply): a child interpreter where importing PySide6 fails runs real commands."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

CHILD = r"""
import importlib, pkgutil, sys

class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6"):
            raise ImportError(f"{name} is not installed (headless test)")
        return None

sys.meta_path.insert(0, _NoQt())
import provara_desktop
for mod in pkgutil.walk_packages(provara_desktop.__path__, "provara_desktop."):
    if mod.name.startswith(("provara_desktop.ui", "provara_desktop.app",
                            "provara_desktop.__main__")):
        continue
    importlib.import_module(mod.name)
from provara_desktop.cli import main
vault = sys.argv[1]
assert main(["identity", "create", "--name", "Headless"]) == 0
assert main(["init", vault]) == 0
assert main(["observe", vault, "--subject", "s", "--predicate", "p", "--value", "1"]) == 0
assert main(["verify", vault]) == 0
assert "PySide6" not in sys.modules
print("HEADLESS-OK")
"""


def test_cli_runs_without_qt(tmp_path: Path) -> None:
    env = {"PROVARA_HOME": str(tmp_path / "home"), "PROVARA_PASSPHRASE": "pw",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "vault")], env=env,
                         capture_output=True, text=True, timeout=120, check=False,
                         cwd=tmp_path)  # where `identity create` writes the recovery file
    assert out.returncode == 0, out.stderr
    assert "HEADLESS-OK" in out.stdout

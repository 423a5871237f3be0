"""The PyInstaller one-folder build: it builds, its CLI works, and its app opens a vault.

Builds with scripts/build_app into a temp dir (~15 s here), then runs the built executable as a
user would, from an unrelated directory, with a private profile (PROVARA_HOME) and passphrase
(PROVARA_PASSPHRASE), on the demonstration vault. The app runs offscreen in smoke mode
(packaging/launcher.py: PROVARA_QUIT_AFTER_MS), which prints what was on screen before it
quits by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.demo_vault import DemoVault, make_demo_vault

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MAIN_TABS = ["Beliefs", "Contested", "Timeline", "Verify"]


@pytest.fixture(scope="module")
def exe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("bundle")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_app"), "--quiet",
                    "--dist", str(out / "dist"), "--work", str(out / "work")],
                   check=True, timeout=300, capture_output=True)
    built = out / "dist" / "provara-desktop" / "provara-desktop"
    assert built.is_file()
    assert os.access(built, os.X_OK)
    yield built
    shutil.rmtree(out, ignore_errors=True)  # ~175 MB: do not leave it to pytest's retention


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoVault:
    return make_demo_vault(tmp_path_factory.mktemp("demo"))


def _run(exe: Path, args: list[str], home: Path, cwd: Path,
         **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PROVARA_HOME=str(home), PROVARA_PASSPHRASE="packaged pass",
               QT_QPA_PLATFORM="offscreen", **extra_env)
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_bundle_holds_only_what_the_app_uses(exe: Path) -> None:
    internal = exe.parent / "_internal"
    bindings = {p.name.split(".")[0] for p in (internal / "PySide6").glob("Qt*.so")}
    # QtPdf: attachments' PDF pages are previewed by Qt (ui/dialogs/attachment_dialog.py)
    assert bindings == {"QtCore", "QtGui", "QtWidgets", "QtPdf"}
    qt_libs = {p.name for p in (internal / "PySide6" / "Qt" / "lib").iterdir()}
    assert not {n for n in qt_libs if n.startswith(("libQt6Qml", "libQt6Quick"))}
    assert "libQt6Pdf.so.6" in qt_libs
    assert not (internal / "pytest").exists()
    assert not (internal / "provara").exists()  # the reference implementation: tests only
    assert (internal / "resources" / "icons" / "provara-desktop-256.png").is_file()
    # LAN sync needs `cryptography` (the TLS identity certificate, net/tls.py): 14 MB of the
    # 267 MB measured; Qt is 97 MB. The bound catches a test or dev package slipping in.
    assert (internal / "cryptography").is_dir()
    assert not (internal / "hypothesis").exists()
    size = sum(p.stat().st_size for p in exe.parent.rglob("*") if p.is_file())
    assert size < 280e6, f"the bundle grew to {size / 1e6:.0f} MB"


def test_packaged_cli_verifies_the_demo_vault(exe: Path, demo: DemoVault,
                                              tmp_path: Path) -> None:
    home = tmp_path / "home"
    version = _run(exe, ["--version"], home, tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith("provara-desktop ")

    verified = _run(exe, ["verify", "--json", str(demo.path)], home, tmp_path)
    # Exit 1: the demo's deliberate fork, and nothing else, fails verification.
    assert verified.returncode == 1, verified.stderr
    report = json.loads(verified.stdout)
    assert report["problems"] == []
    assert report["event_count"] == demo.event_count
    assert [(f["actor"], set(f["event_ids"])) for f in report["forks"]] == [
        (demo.fork_actor, set(demo.fork_event_ids))]

    state = _run(exe, ["state", "--json", str(demo.path)], home, tmp_path)
    assert state.returncode == 0, state.stderr
    assert sorted(json.loads(state.stdout)["contested"]) == sorted(demo.contested_keys)

    missing = _run(exe, ["verify", str(tmp_path / "no-such-vault")], home, tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ")
    assert "no-such-vault" in missing.stderr


def test_packaged_app_opens_the_demo_vault(exe: Path, demo: DemoVault, tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = _run(exe, ["identity", "create", "--name", "Packaged Reviewer", "--json"],
                   home, tmp_path)
    assert created.returncode == 0, created.stderr
    shot = tmp_path / "window.png"

    run = _run(exe, ["gui", str(demo.path)], home, tmp_path,
               PROVARA_QUIT_AFTER_MS="1500", PROVARA_SMOKE_SCREENSHOT=str(shot))

    assert run.returncode == 0, run.stdout + run.stderr
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("provara-smoke ")]
    assert len(lines) == 1, run.stdout
    seen = json.loads(lines[0].removeprefix("provara-smoke "))
    assert seen["first_paint_ms"] is not None, "the main window never painted"
    windows = seen["windows"]
    assert len(windows) == 1, windows  # the main window, no error dialog
    main = windows[0]
    assert main["width"] >= 600
    assert main["height"] >= 400
    assert main["object_name"] == "mainWindow"
    assert main["tabs"][:4] == MAIN_TABS
    # It opened the vault it was given: no default vault was created in the new profile,
    # and the vault was indexed into that profile.
    assert not (home / "vaults" / "default").exists()
    assert any((home / "index").iterdir())
    _assert_real_picture(shot, main["width"], main["height"])


def _assert_real_picture(path: Path, width: int, height: int) -> None:
    """The grab is the window's size and shows more than a blank fill."""
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    assert not image.isNull(), f"{path} is not an image"
    assert (image.width(), image.height()) == (width, height)
    colours = {image.pixel(x, y) for x in range(0, width, 7) for y in range(0, height, 7)}
    assert len(colours) > 8, "the window looks blank"

"""The bundle's entry point, run from source (fast; the built bundle is tested in
test_packaged_app.py): it is the normal CLI, and its smoke mode reports the open window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.demo_vault import DemoVault, make_demo_vault

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "packaging" / "launcher.py"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoVault:
    return make_demo_vault(tmp_path_factory.mktemp("demo"))


def _launch(args: list[str], demo: DemoVault, tmp_path: Path,
            **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PROVARA_HOME=str(demo.viewer_home), PROVARA_PASSPHRASE=demo.passphrase,
               QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=str(REPO), **env_extra)
    return subprocess.run([sys.executable, str(LAUNCHER), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_launcher_is_the_cli(demo: DemoVault, tmp_path: Path) -> None:
    run = _launch(["state", "--json", str(demo.path)], demo, tmp_path)
    assert run.returncode == 0, run.stderr
    assert sorted(json.loads(run.stdout)["contested"]) == sorted(demo.contested_keys)


def test_smoke_mode_reports_the_window_and_quits(demo: DemoVault, tmp_path: Path) -> None:
    run = _launch(["gui", str(demo.path)], demo, tmp_path, PROVARA_QUIT_AFTER_MS="800")
    assert run.returncode == 0, run.stdout + run.stderr
    [line] = [ln for ln in run.stdout.splitlines() if ln.startswith("provara-smoke ")]
    seen = json.loads(line.removeprefix("provara-smoke "))
    assert seen["first_paint_ms"] is not None
    assert len(seen["windows"]) == 1, seen
    window = seen["windows"][0]
    assert window["object_name"] == "mainWindow"
    assert window["tabs"][:4] == ["Beliefs", "Contested", "Timeline", "Verify"]


def test_smoke_delay_must_be_a_number(demo: DemoVault, tmp_path: Path) -> None:
    run = _launch(["gui", str(demo.path)], demo, tmp_path, PROVARA_QUIT_AFTER_MS="soon")
    assert run.returncode == 2
    assert "PROVARA_QUIT_AFTER_MS" in run.stderr

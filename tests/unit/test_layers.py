"""The import contracts in pyproject.toml hold the layers apart, and they would catch a breach.

A contract that is never seen failing proves little, so each probe below breaks one rule in a
copy of the package (in a temporary directory: the tree itself is never touched) and
``lint-imports`` must fail, naming the contract and the probe. The unchanged copy must pass,
so a failure is the probe's doing and not the copy's. Every package and top-level module of
provara_desktop must sit in the layers contract, so a new one cannot slip past it."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import provara_desktop

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(provara_desktop.__file__).parent
LINT = Path(sys.executable).with_name("lint-imports")
LAYERS = "Layers point one way"
PURE = "core is pure"


def _contracts() -> list[dict[str, object]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["tool"]["importlinter"]["contracts"])


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package and pyproject.toml, copied: probes are written here only."""
    where = tmp_path_factory.mktemp("layers")
    shutil.copytree(PACKAGE, where / "provara_desktop",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, before the installed (editable) package.
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run([str(LINT), "--no-cache", "--no-logo"], cwd=where, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_unchanged_copy_keeps_every_contract(copy: Path) -> None:
    done = _lint(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    # the copy, not the installed package, is what was analysed
    assert "Analyzed" in done.stdout


@pytest.mark.parametrize(("package", "probe", "contract"), [
    ("core", "import sqlite3", PURE),
    ("core", "import socket", PURE),
    ("core", "from concurrent.futures import ProcessPoolExecutor", PURE),
    ("core", "import threading", PURE),
    ("core", "import os", PURE),
    ("core", "from provara_desktop.runtime import bus", LAYERS),
    ("core", "from provara_desktop.store import layout", LAYERS),
    ("runtime", "from provara_desktop.store import layout", LAYERS),
    ("runtime", "from provara_desktop import session", LAYERS),
    ("store", "from provara_desktop.bundle import format", LAYERS),
])
def test_a_probe_breaking_a_rule_fails_the_check(copy: Path, package: str, probe: str,
                                                 contract: str) -> None:
    module = copy / "provara_desktop" / package / "layer_probe.py"
    module.write_text(f'"""A probe written by tests/unit/test_layers.py."""\n\n{probe}\n')
    try:
        done = _lint(copy)
    finally:
        module.unlink()
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    [name] = [str(c["name"]) for c in _contracts() if str(c["name"]).startswith(contract)]
    text = " ".join(out.split())  # long contract names wrap in the report
    assert f"{name} BROKEN" in text, out
    assert f"provara_desktop.{package}.layer_probe" in out
    assert not (PACKAGE / package / "layer_probe.py").exists()  # the real tree untouched


def test_every_package_and_module_sits_in_a_layer() -> None:
    [layers] = [c for c in _contracts() if str(c["name"]).startswith(LAYERS)]
    listed = {name.strip() for entry in layers["layers"]  # type: ignore[attr-defined]
              for name in str(entry).replace(":", "|").split("|")}
    present = {f"provara_desktop.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert present - listed == set(), "add these to the layers contract"
    assert listed - present == set(), "the layers contract names what does not exist"


def test_core_is_checked_for_io_and_concurrency_imports() -> None:
    [pure] = [c for c in _contracts() if str(c["name"]).startswith(PURE)]
    assert pure["source_modules"] == ["provara_desktop.core"]
    forbidden = set(pure["forbidden_modules"])  # type: ignore[call-overload]
    assert {"sqlite3", "socket", "ssl", "asyncio", "subprocess", "multiprocessing",
            "concurrent", "threading", "zeroconf", "sqlite_utils", "PySide6"} <= forbidden

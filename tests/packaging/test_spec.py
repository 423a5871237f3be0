"""What packaging/provara.spec asks PyInstaller for, on each OS.

Only the Linux build can run here (PyInstaller does not cross-build), so the spec is executed
as PyInstaller executes it, with sys.platform set to each OS and PyInstaller's build steps
(Analysis, EXE, COLLECT, BUNDLE) replaced by recorders: this checks the per-OS decisions
(executables and console flags, icons and version resource really written, the runtime hook,
the macOS bundle), not PyInstaller itself. The real Linux build is test_packaged_app.py.
"""

from __future__ import annotations

import ast
import importlib
import struct
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "packaging" / "provara.spec"


def _run_spec(platform: str, work: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    calls: dict[str, list[Any]] = {}

    def recorder(kind: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> SimpleNamespace:
            step = SimpleNamespace(args=args, kw=kwargs, pure=[], scripts=[], binaries=[],
                                   datas=[])
            calls.setdefault(kind, []).append(step)
            return step
        return record

    # PyInstaller reads sys.platform once, when first imported (as "win32" it imports
    # pywin32-ctypes): import it under the real platform, as it is when PyInstaller runs the
    # spec, not under whichever OS the first of these tests fakes (random test order).
    importlib.import_module("PyInstaller.utils.hooks")
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the spec prepends its own dirs
    namespace = {kind: recorder(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT",
                                                   "BUNDLE")}
    namespace.update(SPECPATH=str(SPEC.parent), workpath=str(work), __name__="__main__")
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return calls


def test_linux_one_console_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _run_spec("linux", tmp_path, monkeypatch)
    [analysis] = calls["Analysis"]
    assert "_cffi_backend" in analysis.kw["hiddenimports"]
    assert analysis.kw["runtime_hooks"] == []
    assert Path(analysis.args[0][0]).name == "launcher.py"
    dests = {dest for _, dest in analysis.kw["datas"]}
    assert {"resources", "resources/icons"} <= dests
    [exe] = calls["EXE"]
    assert exe.kw["name"] == "provara-desktop"
    assert exe.kw["console"] is True
    assert exe.kw["upx"] is False
    assert exe.kw["exclude_binaries"] is True  # one folder, not one file
    assert "BUNDLE" not in calls


def test_windows_gui_and_cli_with_icon_and_version(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _run_spec("win32", tmp_path, monkeypatch)
    exes = {e.kw["name"]: e.kw for e in calls["EXE"]}
    assert exes["provara-desktop"]["console"] is False
    assert exes["provara-desktop-cli"]["console"] is True
    icon = Path(exes["provara-desktop"]["icon"])
    assert struct.unpack("<HHH", icon.read_bytes()[:6]) == (0, 1, 2)  # an ICO of 2 images
    version = Path(exes["provara-desktop"]["version"]).read_text(encoding="utf-8")
    ast.parse(version, mode="eval")  # PyInstaller evaluates this text on Windows
    assert "Provara Desktop" in version
    assert "(0, 1, 0, 0)" in version
    [hook] = calls["Analysis"][0].kw["runtime_hooks"]
    assert Path(hook).is_file()
    assert "BUNDLE" not in calls


def test_macos_app_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _run_spec("darwin", tmp_path, monkeypatch)
    assert {e.kw["name"]: e.kw["console"] for e in calls["EXE"]} == {
        "provara-desktop": False, "provara-desktop-cli": True}
    [bundle] = calls["BUNDLE"]
    assert bundle.kw["name"] == "Provara Desktop.app"
    assert bundle.kw["bundle_identifier"] == "org.provara.desktop"
    assert bundle.kw["info_plist"]["NSHighResolutionCapable"] is True
    assert Path(bundle.kw["icon"]).read_bytes()[:4] == b"icns"
    assert calls["Analysis"][0].kw["runtime_hooks"] == []


def test_no_excluded_module_is_imported_by_the_app(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An excluded module the app imports would only show as a crash of the built app."""
    excludes = set(_run_spec("linux", tmp_path, monkeypatch)["Analysis"][0].kw["excludes"])
    imported: set[str] = set()
    for path in (REPO / "provara_desktop").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    clashes = {m for m in imported if any(m == e or m.startswith(e + ".") for e in excludes)}
    assert not clashes, f"the spec excludes modules the app imports: {sorted(clashes)}"

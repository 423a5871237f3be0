"""The .ico and .icns files the Windows and macOS builds get are well formed and carry our
PNGs byte for byte (they are packed at build time, so this is the only place they are read)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
PNGS = [REPO / "resources" / "icons" / "provara-desktop-256.png",
        REPO / "resources" / "icons" / "provara-desktop-48.png"]


def _icons() -> ModuleType:
    # packaging/ is not a package (and "packaging" is a PyPI name): load the file directly.
    spec = importlib.util.spec_from_file_location("provara_build_icons",
                                                  REPO / "packaging" / "icons.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ico_directory_points_at_each_png(tmp_path: Path) -> None:
    icons = _icons()
    out = icons.write_icon("ico", PNGS, tmp_path / "app.ico")
    data = out.read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, 2)
    for i, png in enumerate(PNGS):
        w, h, _, _, planes, bpp, size, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * i: 22 + 16 * i])
        edge = icons.png_size(png.read_bytes())[0]
        assert (w or 256, h or 256) == (edge, edge)
        assert (planes, bpp) == (1, 32)
        assert data[offset: offset + size] == png.read_bytes()


def test_icns_holds_the_256_png(tmp_path: Path) -> None:
    icons = _icons()
    data = icons.write_icon("icns", PNGS[:1], tmp_path / "app.icns").read_bytes()
    assert data[:4] == b"icns"
    assert struct.unpack(">I", data[4:8])[0] == len(data)
    assert data[8:12] == b"ic08"
    assert data[16:] == PNGS[0].read_bytes()


def test_sizes_the_formats_cannot_hold_are_refused() -> None:
    icons = _icons()
    with pytest.raises(ValueError, match="ICNS has no PNG slot"):
        icons.icns_bytes([PNGS[1].read_bytes()])  # 48 px: no PNG element type for it
    with pytest.raises(ValueError, match="not a PNG"):
        icons.ico_bytes([b"GIF89a" + bytes(30)])

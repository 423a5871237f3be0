"""Windows .ico and macOS .icns files made from our PNG icons, at build time.

PyInstaller wants the platform's icon format and would need Pillow to convert a PNG. Both
formats can simply carry PNG images (ICO since Windows Vista, ICNS since OS X 10.7), so a few
lines of struct packing do it and no converted file is ever committed.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# ICNS element types that hold a PNG of the given edge length.
ICNS_PNG_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08",
                  512: b"ic09", 1024: b"ic10"}


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which always comes first."""
    if data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def ico_bytes(pngs: list[bytes]) -> bytes:
    """An ICO directory with each PNG stored as is (an edge of 256 is written as 0)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries, images = [], []
    for data in pngs:
        width, height = png_size(data)
        if width > 256 or height > 256:
            raise ValueError(f"an ICO image is at most 256x256, not {width}x{height}")
        entries.append(struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32,
                                   len(data), offset))
        images.append(data)
        offset += len(data)
    return header + b"".join(entries) + b"".join(images)


def icns_bytes(pngs: list[bytes]) -> bytes:
    """An ICNS file with one PNG element per image (square, of a size ICNS knows)."""
    elements = []
    for data in pngs:
        width, height = png_size(data)
        kind = ICNS_PNG_TYPES.get(width)
        if width != height or kind is None:
            raise ValueError(f"ICNS has no PNG slot for {width}x{height}")
        elements.append(kind + struct.pack(">I", 8 + len(data)) + data)
    body = b"".join(elements)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def write_icon(kind: str, pngs: list[Path], out: Path) -> Path:
    """Write ``out`` as an "ico" or "icns" file made of ``pngs``; returns ``out``."""
    data = [p.read_bytes() for p in pngs]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(ico_bytes(data) if kind == "ico" else icns_bytes(data))
    return out

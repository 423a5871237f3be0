"""Render resources/icons/provara-desktop.svg to the PNG sizes the desktop and packagers use.

    .venv/bin/python resources/render_icon.py

Run it after editing the SVG; the PNGs are committed so that neither the app nor a build needs
the SVG renderer. Qt's own renderer is used (QtSvg ships with pyside6-essentials).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ICONS = Path(__file__).resolve().parent / "icons"
SIZES = (256, 48)


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICONS / "provara-desktop.svg"))
    if not renderer.isValid():
        sys.stderr.write("error: the SVG does not parse\n")
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = ICONS / f"provara-desktop-{size}.png"
        image.save(str(out))
        sys.stdout.write(f"wrote {out} ({out.stat().st_size} bytes)\n")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The private Xvfb that screenshots and the UI benchmark use really hosts a Qt window."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.support.xvfb import start_xvfb

CHILD = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication, QLabel
    app = QApplication(sys.argv[:1])
    label = QLabel("provara")
    label.setAutoFillBackground(True)
    pal = label.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#ff0000"))
    label.setPalette(pal)
    label.resize(200, 100)
    label.show()
    def grab():
        # What the X server itself holds for the window, not Qt's own rendering.
        image = label.screen().grabWindow(label.winId()).toImage()
        print(app.platformName(), image.width(), image.height(),
              QColor(image.pixel(5, 5)).name())
        app.quit()
    QTimer.singleShot(300, grab)
    app.exec()
""")


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (scripts/setup)")
def test_a_window_is_drawn_on_the_private_display() -> None:
    xvfb = start_xvfb(640, 480)
    assert xvfb is not None, "Xvfb did not come up"
    try:
        assert xvfb.display.startswith(":")
        env = {**os.environ, "DISPLAY": xvfb.display, "QT_QPA_PLATFORM": "xcb"}
        run = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                             text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["xcb", "200", "100", "#ff0000"]
    finally:
        xvfb.stop()
    assert xvfb.process.poll() is not None  # stopped, nothing left running

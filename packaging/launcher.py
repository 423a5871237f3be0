"""Entry point of the packaged app: the same command line as ``provara-desktop``.

With no command, or ``gui [VAULT]``, it starts the desktop app; any other command runs
headless, so the one bundle is both the app and the CLI.

Smoke mode, for tests of the built bundle and for nothing else: when
``PROVARA_QUIT_AFTER_MS`` is set, the app quits by itself that many milliseconds after its
window is up (through ``run_app(quit_after_ms=...)``), and just before quitting prints one
line ``provara-smoke {json}`` on stdout describing the windows that were on screen (their
objectName, title, size and the main tabs) and how long after ``run_app()`` was called the
main window first painted (``first_paint_ms``). ``PROVARA_SMOKE_SCREENSHOT=FILE`` also saves
a grab of the main window there. If no window came up (say a dialog blocked
start-up), it gives up after the delay plus ``SMOKE_GRACE_MS`` and exits with code 3.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

QUIT_ENV = "PROVARA_QUIT_AFTER_MS"
SCREENSHOT_ENV = "PROVARA_SMOKE_SCREENSHOT"
SMOKE_GRACE_MS = 60_000


def _quit_after_ms() -> int | None:
    raw = os.environ.get(QUIT_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        sys.stderr.write(f"error: {QUIT_ENV}={raw!r} is not a number of milliseconds\n")
        raise SystemExit(2) from None
    return max(0, value)


def _describe_windows() -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication, QTabWidget

    windows = []
    for w in QApplication.topLevelWidgets():
        if not w.isVisible():
            continue
        entry: dict[str, Any] = {"object_name": w.objectName(), "class": type(w).__name__,
                                 "title": w.windowTitle(), "width": w.width(),
                                 "height": w.height()}
        tabs = w.findChild(QTabWidget, "mainTabs")
        if tabs is not None:
            entry["tabs"] = [tabs.tabText(i) for i in range(tabs.count())]
        windows.append(entry)
    return {"windows": windows}


def _grab_main_window(path: str) -> None:
    from PySide6.QtWidgets import QApplication

    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    main = [w for w in visible if w.objectName() == "mainWindow"] or visible
    if main:
        main[0].grab().save(path)


class _Smoke:
    """Watches the app from inside: when the main window first paints, and what was on screen
    when the app began to quit (Qt closes every window on quit, so the report is made on
    the first Close event, while the windows are still up)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QObject

        self.started = time.perf_counter()
        self.first_paint_ms: float | None = None
        self.reported = False
        smoke = self

        class Filter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
                smoke.on_event(obj, event)
                return False

        self.filter = Filter()

    def on_event(self, obj: Any, event: Any) -> None:
        from PySide6.QtCore import QEvent
        from PySide6.QtWidgets import QMainWindow, QWidget

        kind = event.type()
        if kind == QEvent.Type.Paint and self.first_paint_ms is None and isinstance(
                obj, QWidget) and (obj.window().objectName() == "mainWindow"
                                   or isinstance(obj.window(), QMainWindow)):
            self.first_paint_ms = (time.perf_counter() - self.started) * 1000
        elif kind == QEvent.Type.Close and isinstance(obj, QWidget) and obj.isWindow():
            self.report()

    def report(self) -> None:
        if self.reported:
            return
        self.reported = True
        doc = _describe_windows()
        doc["first_paint_ms"] = self.first_paint_ms
        shot = os.environ.get(SCREENSHOT_ENV)
        if shot:
            _grab_main_window(shot)
        if sys.stdout is not None:  # a windowed build on Windows has no stdout
            sys.stdout.write("provara-smoke " + json.dumps(doc) + "\n")
            sys.stdout.flush()


def _smoke_gui(home: str | None, vault: str | None, quit_after: int) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from provara_desktop.app import run_app

    # run_app uses an existing QApplication, so the watcher is attached before it starts.
    app = QApplication.instance() or QApplication(sys.argv[:1])
    smoke = _Smoke()
    app.installEventFilter(smoke.filter)
    app.aboutToQuit.connect(smoke.report)  # if no window was ever up to be closed

    def give_up() -> None:  # nothing quit in time: a modal dialog is probably up
        smoke.report()
        QApplication.exit(3)

    QTimer.singleShot(quit_after + SMOKE_GRACE_MS, give_up)
    return run_app(home=home, vault=vault, quit_after_ms=quit_after)


def main() -> int:
    argv = sys.argv[1:]
    quit_after = _quit_after_ms()
    if quit_after is not None:
        from provara_desktop.cli import build_parser
        from provara_desktop.core.errors import ProvaraDesktopError

        try:
            args = build_parser().parse_args(argv)
        except (ProvaraDesktopError, SystemExit):
            args = None  # let the real CLI report the usage error
        if args is not None and args.command in (None, "gui"):
            return _smoke_gui(args.home, getattr(args, "vault", None), quit_after)
    from provara_desktop.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())

"""Composition root of the desktop app: logging, settings, the event bus and its Qt bridge,
the identity store and how vault sessions are made, then the main window, which opens (or
on first launch creates) the vault.

Services are built here and passed to the window as keyword arguments; nothing is a
singleton. The window is shown before the vault is opened, so even a million-event vault
paints at once; its beliefs are computed in the background.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.net.app_peer import LanOptions, LanService
from provara_desktop.passphrase_input import read_passphrase
from provara_desktop.runtime.async_loop import AsyncLoop
from provara_desktop.runtime.bus import EventBus
from provara_desktop.session import VaultSession
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.profile_paths import resolve_home
from provara_desktop.ui.bridge import QtBridge
from provara_desktop.ui.errors import CrashReporter, install_excepthooks, standalone_error
from provara_desktop.ui.gui_thread_gc import GuiThreadCollector
from provara_desktop.ui.log_panel import install_handler
from provara_desktop.ui.main_window import MainWindow
from provara_desktop.ui.settings import THEME, Settings
from provara_desktop.ui.theme import apply_theme
from provara_desktop.ui.vault_lifecycle import default_vault_path

log = logging.getLogger(__name__)
__all__ = ["MainWindow", "default_vault_path", "run_app"]


def _set_icon(app: QApplication) -> None:
    """The window icon from resources/: beside the package in a checkout, at the bundle's
    root in a PyInstaller build. A pip-installed app has none, and looks no worse."""
    from PySide6.QtGui import QIcon

    base = Path(getattr(sys, "_MEIPASS", None) or Path(__file__).resolve().parents[1])
    icon = QIcon()
    for size in (48, 256):
        path = base / "resources" / "icons" / f"provara-desktop-{size}.png"
        if path.is_file():
            icon.addFile(str(path))
    if not icon.isNull():
        app.setWindowIcon(icon)


def _file_logging(home: Path) -> logging.Handler | None:
    """A rotating log in the profile (a few files of 1 MiB: old ones are pruned)."""
    logs = home / "logs"
    try:
        logs.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            logs / "provara-desktop.log", maxBytes=1 << 20, backupCount=3, encoding="utf-8")
    except OSError as exc:  # a read-only profile still gets a working app
        log.warning("cannot write a log file in %s: %s", logs, exc)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def lan_options(env: str | None) -> tuple[bool, LanOptions]:
    """``PROVARA_LAN``: unset or ``on`` (listen on every address, announce and browse on the
    system's choice of interfaces), ``off`` (no LAN peer at all, whatever the setting says),
    ``loopback`` (127.0.0.1 only, any free port: tests and demos on one machine)."""
    mode = (env or "on").strip().lower()
    if mode == "off":
        return False, LanOptions()
    if mode == "loopback":
        return True, LanOptions(host="127.0.0.1", port=0, interfaces=["127.0.0.1"])
    return True, LanOptions()


def run_app(*, home: str | None = None, vault: str | None = None,
            quit_after_ms: int | None = None) -> int:
    """Start the desktop app on ``vault`` (default: the default vault of the profile at
    ``home``, created on first launch). ``quit_after_ms`` quits by itself (packaging and
    screenshot checks). Returns the process exit code."""
    # The reducer and verifier threads run pure Python for seconds at a time; each time the
    # GUI thread hands the GIL to Qt it waits up to the switch interval to get it back, and
    # a repaint does that hundreds of times (a table's paint calls the model's data() for
    # every role of every visible cell, each call one wait). On the 1M-event vault, GUI
    # stalls over 100 ms while beliefs are computed went from 10 to 2 (max 138 ms) with
    # 1 ms instead of 5 ms; 0.2 ms took the longest stall at start-up, the beliefs arriving
    # in a table while the writer lists the contested ones, from 131-170 ms to 93 ms. The
    # switch only happens while another thread waits for the GIL (mostly the GUI thread).
    sys.setswitchinterval(0.0002)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    # Cyclic garbage is collected on this thread only, so no Qt object it holds is ever
    # deleted on a worker (ui/gui_thread_gc.py).
    collector = GuiThreadCollector(app).start()
    app.setApplicationName("provara-desktop")
    app.setDesktopFileName("provara-desktop")  # resources/provara-desktop.desktop
    _set_icon(app)
    app.setOrganizationName("provara")
    home_dir = resolve_home(home)
    log_handler = install_handler()
    file_log = _file_logging(home_dir)
    reporter = CrashReporter(app)
    install_excepthooks(reporter)
    settings = Settings()
    apply_theme(app, settings.get(THEME))
    try:
        passphrase: str | None = read_passphrase(None, prompt=False)
    except ProvaraDesktopError:
        passphrase = None
    bus = EventBus()
    bridge = QtBridge(bus)
    # The one asyncio loop (STYLE rule 3), started before the window: the LAN peer of the
    # open vault (serve + discovery + sync, net/app_peer.py) runs on it.
    aloop = AsyncLoop("provara-net").start()
    lan_allowed, options = lan_options(os.environ.get("PROVARA_LAN"))
    lan = LanService(aloop, home_dir, options) if lan_allowed else None
    try:
        store = IdentityStore(home_dir)
        window = MainWindow(bus=bus, bridge=bridge, settings=settings, identity_store=store,
                            log_handler=log_handler,
                            session_factory=lambda vault: VaultSession(vault, bus=bus),
                            lan=lan)
    except ProvaraDesktopError as exc:  # e.g. an unreadable identity file
        aloop.stop()
        collector.stop()
        standalone_error(str(exc))
        return exc.exit_code
    window.show()
    vault_path = Path(vault).expanduser().absolute() if vault else default_vault_path(home_dir)
    # Queued, so the window paints before any dialog or background work starts.
    QTimer.singleShot(0, lambda: window.start(vault_path, passphrase=passphrase))
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
        QTimer.singleShot(quit_after_ms, app.quit)
    try:
        return int(app.exec())
    finally:
        # The peer first (goodbyes on mDNS, open sessions cut with committed batches kept),
        # then the loop, then the vault.
        if lan is not None:
            try:
                lan.stop_peer().result(15)
            except Exception as exc:  # noqa: BLE001 - quitting goes on
                log.warning("the LAN peer did not stop cleanly: %s", exc)
        aloop.stop()
        if window.session is not None:
            window.session.close()
        collector.stop()  # run_app may run again in this process (tests)
        if file_log is not None:
            logging.getLogger().removeHandler(file_log)
            file_log.close()

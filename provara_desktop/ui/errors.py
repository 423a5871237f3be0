"""One place that turns exceptions into dialogs: what happened and what to do, never a
traceback (STYLE rule 6). Cancellation is silent."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from provara_desktop.core.errors import (
    IdentityError,
    ProvaraDesktopError,
    StoreError,
    UserCancelled,
    VaultError,
    WrongPassphraseError,
)

if TYPE_CHECKING:
    from types import TracebackType

    from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

_ADVICE: list[tuple[type[BaseException], str]] = [
    (WrongPassphraseError, "Check the passphrase (and Caps Lock) and try again."),
    (IdentityError, "Create or unlock your identity from the File menu."),
    (VaultError, "Nothing was changed. Run Verify to see every problem in the vault."),
    (StoreError, "Check that the file or folder exists and that you may write to it. "
                 "Nothing was changed."),
]


def describe(exc: BaseException) -> tuple[str, str]:
    """(what happened, what to do) for a user."""
    if isinstance(exc, ProvaraDesktopError):
        advice = next((a for cls, a in _ADVICE if isinstance(exc, cls)), "")
        return str(exc), advice
    return (f"An unexpected error occurred: {type(exc).__name__}: {exc}",
            "The details are in the log panel. Your vault was not changed by this error.")


def show_exception(parent: QWidget | None, exc: BaseException) -> None:
    if isinstance(exc, UserCancelled):
        return
    what, advice = describe(exc)
    if not isinstance(exc, ProvaraDesktopError):
        log.error("unexpected error:\n%s",
                  "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    box = QMessageBox(QMessageBox.Icon.Warning, "provara-desktop", what,
                      QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText(advice)
    box.setObjectName("errorDialog")
    box.open()


def show_message(parent: QWidget | None, what: str, advice: str = "") -> QMessageBox:
    """A warning for bad input found before any work started (nothing was changed)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "provara-desktop", what,
                      QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText(advice)
    box.setObjectName("errorDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class CrashReporter(QObject):
    """Uncaught exceptions from any thread end here: the hooks only emit a signal (queued to
    the GUI thread), and the dialog says what happened without a traceback; the traceback
    goes to the log (panel and file)."""

    crashed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.last: BaseException | None = None
        self.crashed.connect(self.on_crashed, Qt.ConnectionType.QueuedConnection)

    def excepthook(self, etype: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, exc, tb)
            return
        log.error("uncaught exception:\n%s", "".join(traceback.format_exception(etype, exc, tb)))
        self.crashed.emit(exc)

    def threading_hook(self, args: Any) -> None:
        if args.exc_value is None:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    def on_crashed(self, exc: BaseException) -> None:
        self.last = exc
        what, advice = describe(exc)
        box = QMessageBox(QMessageBox.Icon.Critical, "provara-desktop: internal error",
                          what, QMessageBox.StandardButton.Ok,
                          QApplication.activeWindow())
        box.setInformativeText(advice if isinstance(exc, ProvaraDesktopError) else
                               "This is a bug in provara-desktop. The details are in the log "
                               "panel (View > Log). Your vault was not changed by this error; "
                               "save your work and restart the app if it misbehaves.")
        box.setObjectName("crashDialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()


def install_excepthooks(reporter: CrashReporter) -> None:
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.threading_hook


def standalone_error(message: str) -> None:
    """Before the main window exists (or when Qt cannot start a window): a bare box."""
    app = QApplication.instance()
    if app is None:
        sys.stderr.write(f"provara-desktop: {message}\n")
        return
    QMessageBox.critical(None, "provara-desktop", message)

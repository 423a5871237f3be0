"""One place that turns exceptions into dialogs: what happened and what to do, never a
traceback (STYLE rule 6). Cancellation is silent."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from provara_desktop.core.errors import (
    IdentityError,
    ProvaraDesktopError,
    StoreError,
    UserCancelled,
    VaultError,
    WrongPassphraseError,
)

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

_ADVICE: list[tuple[type[BaseException], str]] = [
    (WrongPassphraseError, "Check the passphrase and try again."),
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

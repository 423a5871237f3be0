"""Handing work from any thread to the GUI thread, without a signal emitted off it.

A queued signal emitted from a Python worker thread makes Qt call back into Python (to copy
the arguments) while it holds one of its connection mutexes; the GUI thread, holding the
GIL, can at that moment be waiting for that very mutex (every connect() takes one from a
small shared pool): both threads then wait for ever. That hung the UI test suite. Posting an
event never calls into Python, so a worker puts the call in a queue and posts an event; the
GUI thread runs the queued calls when the event arrives.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject

if TYPE_CHECKING:
    from collections.abc import Callable

_WAKE = QEvent.Type(QEvent.registerEventType())


class Inbox(QObject):
    """Create on the GUI thread (as a child of the object it serves); ``call`` from any
    thread. Calls run on the GUI thread in the order they were made; calls made after the
    inbox was deleted are dropped."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self._calls.append((fn, args))  # deque appends and pops are thread-safe
        try:
            QCoreApplication.postEvent(self, QEvent(_WAKE))
        except RuntimeError:  # deleted (its owner is gone): nobody is waiting
            pass

    def customEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == _WAKE:
            while self._calls:
                fn, args = self._calls.popleft()
                fn(*args)

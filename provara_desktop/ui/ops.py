"""Run work off the GUI thread and get the result back on it (Anki's CollectionOp, small).

    run_op(parent, lambda: session.observe(...)).success(cb).failure(cb)

``fn`` returns a concurrent Future (the session's writer or reader thread runs the job); the
callbacks run on the GUI thread. Failures go to ui.errors.show_exception unless a failure
callback is given. A busy cursor appears only if the job takes longer than 300 ms.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from provara_desktop.core.errors import UserCancelled
from provara_desktop.ui.errors import show_exception
from provara_desktop.ui.gui_thread_calls import Inbox

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from PySide6.QtWidgets import QWidget

_live: set[OpHandle] = set()  # keeps handles alive until their job reports back
# Work that belongs to no vault session (deriving a key from a passphrase, opening or
# creating a vault) runs here, never on the GUI thread.
_background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ui-background")


def pending_ops() -> int:
    """How many operations have not reported back yet (tests wait for this to reach 0)."""
    return len(_live)


class OpHandle(QObject):

    def __init__(self, parent: QWidget | None) -> None:
        # Owned by the application object, not by Python. The worker thread holds this
        # handle (through its future's done-callback) until it drops the finished work
        # item, which can happen after on_done has run here; a QObject owned by Python
        # would then be deleted on that thread, and with it, through the references
        # below, perhaps the widget that asked: a crash (seen in the UI tests).
        super().__init__(QCoreApplication.instance())
        self._parent = parent
        self._on_success: Callable[[Any], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None
        self._cursor_timer = QTimer(self)
        self._cursor_timer.setSingleShot(True)
        self._cursor_timer.timeout.connect(self.on_slow)
        self._busy = False
        self._inbox = Inbox(self)  # the worker reports back through it (see ui/inbox.py)

    def success(self, cb: Callable[[Any], None]) -> OpHandle:
        self._on_success = cb
        return self

    def failure(self, cb: Callable[[BaseException], None]) -> OpHandle:
        self._on_failure = cb
        return self

    def start(self, future: Future[Any]) -> OpHandle:
        _live.add(self)
        self._cursor_timer.start(300)
        future.add_done_callback(self._from_worker)
        return self

    def _from_worker(self, future: Future[Any]) -> None:
        if future.cancelled():
            # A job cancelled before it ran (its session closed with it still queued):
            # future.exception() would raise here, on the worker, and this handle would
            # never report back, so pending_ops() never returned to 0 again (a UI test
            # waiting for it timed out in a later test). It reports a silent cancel.
            self._inbox.call(self.on_done, None,
                             UserCancelled("the job was cancelled before it ran"))
            return
        exc = future.exception()
        self._inbox.call(self.on_done, None if exc else future.result(), exc)

    def on_slow(self) -> None:
        self._busy = True
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)

    def on_done(self, result: Any, exc: BaseException | None) -> None:
        self._cursor_timer.stop()
        if self._busy:
            QApplication.restoreOverrideCursor()
        _live.discard(self)
        self.deleteLater()
        # Let go of the widget and the callbacks here, on the GUI thread (see __init__).
        parent, on_success, on_failure = self._parent, self._on_success, self._on_failure
        self._parent = self._on_success = self._on_failure = None
        if parent is not None and not shiboken6.isValid(parent):
            return  # the widget that asked is gone (window closed, vault switched)
        if exc is not None:
            if on_failure is not None:
                on_failure(exc)
            else:
                show_exception(parent, exc)
        elif on_success is not None:
            on_success(result)


def run_op(parent: QWidget | None, fn: Callable[[], Future[Any]]) -> OpHandle:
    handle = OpHandle(parent)
    try:
        future = fn()
    except Exception as exc:  # a synchronous failure (e.g. bad input) reports the same way
        from concurrent.futures import Future as _F

        future = _F()
        future.set_exception(exc)
    return handle.start(future)


def background(fn: Callable[[], Any]) -> Future[Any]:
    """Submit ``fn`` to the shared background pool (for jobs outside any vault session)."""
    return _background.submit(fn)

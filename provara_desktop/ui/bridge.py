"""The only place bus events become Qt signals (STYLE rule 2).

The bridge lives in the GUI thread. A worker thread publishing on the bus only queues the
event and posts a Qt event to the bridge; the bridge emits ``event_received`` on the GUI
thread, so every slot connected to it runs there. Not a queued signal emitted from the
worker: for that Qt calls back into Python (to copy the arguments) while holding one of its
connection mutexes, and the GUI thread, holding the GIL, may be waiting for the same mutex
(see ui/ops.py): a deadlock.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal

if TYPE_CHECKING:
    from provara_desktop.runtime.bus import EventBus


_WAKE = QEvent.Type(QEvent.registerEventType())


class QtBridge(QObject):
    event_received = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._pending: deque[object] = deque()
        self._gui_thread = threading.get_ident()
        bus.subscribe(self.on_bus_event)

    def on_bus_event(self, event: object) -> None:
        if threading.get_ident() == self._gui_thread:
            self.event_received.emit(event)
            return
        self._pending.append(event)  # deque appends and pops are thread-safe
        QCoreApplication.postEvent(self, QEvent(_WAKE))

    def customEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == _WAKE:
            while self._pending:
                self.event_received.emit(self._pending.popleft())

"""The only place bus events become Qt signals (STYLE rule 2).

The bridge lives in the GUI thread and emits ``event_received`` there, so every slot
connected to it runs there; an event published on a worker thread reaches it through an
Inbox (a signal emitted on the worker can deadlock: see ui/inbox.py).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from provara_desktop.ui.gui_thread_calls import Inbox

if TYPE_CHECKING:
    from provara_desktop.runtime.bus import EventBus


class QtBridge(QObject):
    event_received = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._inbox = Inbox(self)
        self._gui_thread = threading.get_ident()
        bus.subscribe(self.on_bus_event)

    def on_bus_event(self, event: object) -> None:
        if threading.get_ident() == self._gui_thread:
            self.event_received.emit(event)
            return
        self._inbox.call(self.event_received.emit, event)

"""The only place bus events become Qt signals (STYLE rule 2).

The bridge lives in the GUI thread; ``Signal(object)`` emitted from a worker thread is
delivered queued, so every slot connected to ``event_received`` runs on the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from provara_desktop.runtime.bus import EventBus


class QtBridge(QObject):
    event_received = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        bus.subscribe(self.on_bus_event)

    def on_bus_event(self, event: object) -> None:
        self.event_received.emit(event)

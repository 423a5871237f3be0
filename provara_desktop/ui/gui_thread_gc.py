"""Python's cyclic garbage collector, run on the GUI thread only.

An automatic collection runs on whichever thread allocates when a generation's count passes
its threshold: a vault's writer, a verifier, the LAN loop. The cyclic garbage it frees can hold
Qt objects owned by Python (a widget in a failed slot's traceback, a window in a reference
cycle); freeing them there deletes them off the GUI thread, while the GUI thread uses or
deletes them too: a crash. So the app turns automatic collection off (runtime/gcpause.py's
process-wide policy, which its pauses respect) and collects from a timer on the GUI thread,
the generation the interpreter would have picked, with the thresholds it would have used.

A pass walks only what is not frozen; the big, long-lived results of bulk work are frozen when
it ends (gcpause's ``keep_survivors``), so the passes stay short. While a pause runs the timer
waits: the pause's objects are about to be frozen, and walking them is what it avoids.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, QTimer

from provara_desktop.runtime import gcpause

# Often enough that garbage does not pile up between ticks (a busy GUI thread allocates a few
# thousand containers in that time), rarely enough to cost nothing when there is none.
TICK_MS = 100
# A full collection walks every object not frozen: the interpreter runs one only when the
# objects that survived into the oldest generation since the last one are a quarter of those
# it held then. Python does not expose that count; the memory blocks allocated stand in for it.
FULL_GROWTH = 1.25


class GuiThreadCollector(QObject):
    """Create on the GUI thread; ``start`` takes collection over, ``stop`` gives it back."""

    def __init__(self, parent: QObject | None = None, *, tick_ms: int = TICK_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self.collect_due)
        self._blocks_after_full = sys.getallocatedblocks()
        self._was_manual = False

    def start(self) -> GuiThreadCollector:
        self._was_manual = gcpause.manual_collection()
        gcpause.set_manual_collection(True)
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop collecting; automatic collection comes back unless another collector (or
        whoever set the policy before ``start``) still holds it."""
        self._timer.stop()
        if not self._was_manual:
            gcpause.set_manual_collection(False)

    def collect_due(self) -> int | None:
        """Collect the oldest generation whose count passed its threshold (the rule of the
        automatic collector); the generation collected, or None."""
        if gcpause.paused():
            return None
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if (counts[2] > thresholds[2]
                and sys.getallocatedblocks() > self._blocks_after_full * FULL_GROWTH):
            gc.collect(2)
            self._blocks_after_full = sys.getallocatedblocks()
            return 2
        if counts[1] > thresholds[1]:
            gc.collect(1)
            return 1
        if counts[0] > thresholds[0]:
            gc.collect(0)
            return 0
        return None

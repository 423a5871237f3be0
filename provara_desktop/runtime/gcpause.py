"""Pausing Python's cyclic garbage collector while bulk work runs.

Verifying or importing a large log builds hundreds of thousands of small containers (one
record per event, the parsed events, their index rows) that all stay alive until the work
ends and form no reference cycles. The cyclic collector cannot know that: whenever enough new
containers pile up it walks them, and every older generation with them, again and again. That
was 1.5 s of parent CPU in a 39 s verify of 1M events, and 0.85 s of a 7 s import of 100k
(docs/BENCHMARKS.md). Reference counting still frees everything dropped during the pause;
only garbage that forms cycles waits until the pause ends, and the collector runs normally
from then on.

The pause is process-wide (the collector has no per-thread switch), so it nests and is shared:
the collector comes back when the last pause started on any thread ends, and only if it was on
when the first one began.

What survives a long pause is all in the collector's youngest generation, and its next pass
walks every object of it, then of the next generations as they fill: with the GIL held, so
every thread (the app's GUI thread included) stands still. After a 100k-event import in the
app those passes took 110-180 ms each. Work whose results live on (the beliefs of an open
vault, a bundle checked for an import) therefore ends its pause with ``keep_survivors``: what
is alive then is frozen out of the collector's reach (``gc.freeze()``), before it runs again.
Reference counting still frees those objects when they are dropped; the price is that
cyclic garbage not yet collected at that moment (made during the pause, on any thread, or
just before it) is kept until the app ends. The app's bulk work makes none of its own; what
other threads make meanwhile is small.

A GUI process collects only on its GUI thread (``set_manual_collection(True)``; the app's
ui/gui_thread_gc.py runs the collector from a timer there): an automatic collection runs on
whichever thread happens to allocate, and the Qt objects held by the cyclic garbage it frees
would then be deleted off the GUI thread. Pauses respect that policy: while it holds, the end
of a pause never turns automatic collection back on.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_manual = False  # automatic collection stays off: the process collects on a thread it picks


def set_manual_collection(manual: bool) -> None:
    """Process-wide: ``True`` turns automatic collection off for good (the process runs
    ``gc.collect`` itself, on the thread of its choice); ``False`` gives it back to the
    interpreter. Inside a pause, takes effect when the last pause ends."""
    global _manual, _was_enabled
    with _lock:
        _manual = manual
        if _depth > 0:
            _was_enabled = not manual
        elif manual:
            gc.disable()
        else:
            gc.enable()


def manual_collection() -> bool:
    """Whether the process collects by itself (see ``set_manual_collection``)."""
    return _manual


def paused() -> bool:
    """Whether a pause is running on some thread: a manual collector waits for its end (the
    pause's survivors are frozen then, out of its reach)."""
    return _depth > 0


@contextmanager
def gc_paused(*, keep_survivors: bool = False) -> Iterator[None]:
    """Keep the cyclic collector off for the duration of the ``with`` block; with
    ``keep_survivors``, freeze every object alive at its end (see the module's notes)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled() and not _manual
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            if keep_survivors:
                gc.freeze()  # the collector is still off: nothing has walked them yet
            _depth -= 1
            if _depth == 0 and _was_enabled and not _manual:
                gc.enable()

"""Where another program's rewrite of the log began, as seen by one open session.

The session announces which log positions changed, and the views refetch from there. A merge
of older events by another program (the CLI importing a backdated bundle, a sync) rewrites
the log from some early position p; the session only notices that the log's end moved. To
tell the views where the rewrite began it remembers the event id it showed at every
``stride``-th position (and at the last one) and compares those marks, from the end
backwards, with what the index holds now: the rewrite began after the newest mark that
still holds its event.

Why from the end and why that is right: a merge re-sorts the tail from p, so every position
from p to the end of the shorter log holds another event than before (an inserted event,
or an old one moved later by the insertions before it; event ids are unique). So every mark
at or after p differs, every mark before p matches, and the newest matching mark m says
the rewrite began in (m, next mark]. The session announces m + 1: at most one stride before
the real start, never after it (refreshing a few unchanged rows is harmless; keeping stale
ones is the defect this avoids). A rewrite that puts back the same event at every mark
after it and at the end is not seen here, as the index itself would not see it.

Cost: a poll that finds the log intact looks at the last mark only (one lookup by
position); a rewrite costs one lookup per mark after its start. The stride grows with the
log at open (about 1,024 marks), so remembering a million-event log costs ~1,000 lookups
once, and about 16 bytes per mark.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

_MIN_STRIDE = 256
_MARKS_AT_OPEN = 1024


class _Row(Protocol):
    @property
    def event_id(self) -> str: ...


class SeenPositions:
    """Event ids a session has shown at sampled log positions (see the module's doc)."""

    def __init__(self, row_at: Callable[[int], _Row | None], count: int) -> None:
        self._row_at = row_at
        stride = _MIN_STRIDE
        while count // stride > _MARKS_AT_OPEN:
            stride *= 2
        self.stride = stride
        self.count = 0
        self._pos: list[int] = []  # ascending
        self._ids: list[str] = []
        self.record(0, count)

    def record(self, first: int, count: int) -> None:
        """The session now shows the log as the index holds it, positions ``first`` and on
        new or rewritten, ``count`` events in all: re-read the marks from ``first``."""
        cut = bisect.bisect_left(self._pos, first)
        # The previous end mark is off the stride: drop it (one such mark at most is kept).
        if cut and cut == len(self._pos) and (self._pos[-1] + 1) % self.stride:
            cut -= 1
        del self._pos[cut:], self._ids[cut:]
        start = self._pos[-1] + 1 if self._pos else 0
        wanted = list(range(start + (-start - 1) % self.stride, count - 1, self.stride))
        if count:
            wanted.append(count - 1)
        for pos in wanted:
            row = self._row_at(pos)
            if row is None:  # the log is shorter than the count (it changed meanwhile)
                break
            self._pos.append(pos)
            self._ids.append(row.event_id)
        self.count = count

    def first_changed(self) -> int:
        """The first position the session must treat as changed since ``record``: its
        count when every mark still holds its event (nothing was rewritten), otherwise
        the position after the newest mark that does (0 if none)."""
        for i in range(len(self._pos) - 1, -1, -1):
            row = self._row_at(self._pos[i])
            if row is not None and row.event_id == self._ids[i]:
                return self.count if i == len(self._pos) - 1 else self._pos[i] + 1
        return 0

"""Kept sha256 states of events.ndjson at byte offsets, so that re-sealing the manifest
after a write costs the bytes near the write, not the whole log.

The manifest lists the sha256 of the whole log. An append needs the state at the old end
(kept after every write); a merge that rewrites the tail from offset ``o`` needs the state
at ``o``, which a single end state cannot give (sha256 cannot be rewound). A sync that
receives 100k older events in 200 batches rewrites the tail 200 times: hashing the whole
log each time made the sync quadratic. So states are also kept along the log, at most
``STEP`` bytes apart; the state at ``o`` is then the nearest kept one at or before ``o`` plus
at most ``STEP`` bytes read from disk.

The marks describe the log as this process last saw or wrote it, stamped with the file's
size, inode and mtime then: a file with another stamp (written by another program, edited
behind our back) gets none of them (``usable``), and is hashed again. One set per log and
process (``for_log``), shared by every Vault object of that log: ``serve`` and the app open
a Vault per sync session, and each session's first write would otherwise hash the whole
log again (~0.35 s at a million events). Every change to them happens under the vault's
write lock, which excludes the other Vault objects of the same process too (flock).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

Stamp = tuple[int, int, int]  # (size, inode, mtime_ns) of the log

STEP = 8 << 20  # bytes between kept states: at most this much is re-read per rewrite
_READ = 1 << 22
# States kept at the starts of the last lines each write leaves. Events that arrive sort
# most often just before our own newest ones (a new replica's own events are the newest it
# holds): the next write then rewrites from one of those lines, and its hash starts right
# there instead of reading back to the last STEP mark (~4 MiB per batch of a full sync).
TAIL_LINES = 8


class LogHashMarks:
    def __init__(self, step: int = STEP) -> None:
        self.step = step
        self._offsets: list[int] = []  # ascending
        self._states: list[Any] = []  # sha256 state after the first _offsets[i] bytes
        self._end: tuple[int, Any] | None = None  # the state at the end we last wrote
        # States at the starts of the last lines of the last write (TAIL_LINES), and those
        # of a write being made (kept only once it committed: after_write).
        self._tail: list[tuple[int, Any]] = []
        self._pending: tuple[int, list[tuple[int, Any]]] | None = None
        self.stamp: Stamp | None = None  # the log's stamp when the marks were last right
        self.bytes_read = 0  # bytes of the log hashed from disk so far (diagnostics, tests)

    @classmethod
    def for_log(cls, path: Path) -> LogHashMarks:
        """This process's marks of the log at ``path``."""
        key = str(path.resolve())
        with _SHARED_LOCK:
            marks = _SHARED.get(key)
            if marks is None:
                marks = _SHARED[key] = cls()
            return marks

    def usable(self, stamp: Stamp) -> bool:
        """Whether the marks describe the log whose stamp is ``stamp``; if not, they are
        dropped (so a scan keeps fresh ones). A log another program wrote is hashed whole
        again: nothing short of reading it says its first bytes are still ours (its
        manifest's sha256 matching our kept state proves nothing when that manifest was
        not re-sealed for this very file)."""
        if stamp == self.stamp:
            return True
        self.clear()
        return False

    def clear(self) -> None:
        self._offsets, self._states, self._end, self.stamp = [], [], None, None
        self._tail, self._pending = [], None

    def __len__(self) -> int:
        return len(self._offsets) + (self._end is not None)

    def prefix(self, path: Path, offset: int) -> Any:
        """The sha256 state of the first ``offset`` bytes of ``path``: from the nearest kept
        state at or before it, reading the bytes in between (and keeping a state every
        ``step`` bytes on the way)."""
        start, h = 0, None
        i = bisect.bisect_right(self._offsets, offset) - 1
        if i >= 0:
            start, h = self._offsets[i], self._states[i]
        if self._end is not None and start <= self._end[0] <= offset:
            start, h = self._end
        for at, state in self._tail:
            if start <= at <= offset:
                start, h = at, state
        h = hashlib.sha256() if h is None else h.copy()
        if start == offset:
            return h
        last = start  # the next kept state (if any) lies past ``offset``
        with path.open("rb") as f:
            f.seek(start)
            pos = start
            while pos < offset:
                chunk = f.read(min(_READ, offset - pos, self.step - (pos - last)))
                if not chunk:  # shorter than the caller thinks: its size check decides
                    break
                h.update(chunk)
                pos += len(chunk)
                self.bytes_read += len(chunk)
                if pos - last >= self.step:
                    self._keep(pos, h.copy())
                    last = pos
        return h

    def hash_tail(self, h: Any, offset: int, tail: bytes) -> Any:
        """``h`` (the state at ``offset``) updated with ``tail``, the bytes a write puts
        there; the states at the starts of its last lines are held until ``after_write``
        says the write committed."""
        starts: list[int] = []
        pos = len(tail) - 1  # past the last line's own newline
        while len(starts) < TAIL_LINES and pos > 0:
            nl = tail.rfind(b"\n", 0, pos)
            if nl < 0:
                break
            starts.append(nl + 1)
            pos = nl
        view = memoryview(tail)
        marks: list[tuple[int, Any]] = []
        done = 0
        for at in reversed(starts):
            h.update(view[done:at])
            marks.append((offset + at, h.copy()))
            done = at
        h.update(view[done:])
        self._pending = (offset, marks)
        return h

    def after_write(self, offset: int, new_end: int, state: Any, stamp: Stamp) -> None:
        """The log was rewritten from byte ``offset`` and now ends at ``new_end`` with the
        sha256 state ``state`` and the file stamp ``stamp``: states past ``offset``
        describe bytes that are gone."""
        self.stamp = stamp
        cut = bisect.bisect_right(self._offsets, offset)
        del self._offsets[cut:], self._states[cut:]
        if self._end is not None and self._end[0] <= offset:
            # The old end is still a true prefix: keep it as a mark when it fills a gap.
            last = self._offsets[-1] if self._offsets else 0
            if self._end[0] - last >= self.step:
                self._keep(*self._end)
        self._end = (new_end, state.copy())
        pending, self._pending = self._pending, None
        self._tail = pending[1] if pending is not None and pending[0] == offset else []

    def _keep(self, offset: int, state: Any) -> None:
        i = bisect.bisect_left(self._offsets, offset)
        self._offsets.insert(i, offset)
        self._states.insert(i, state)


_SHARED: dict[str, LogHashMarks] = {}
_SHARED_LOCK = threading.Lock()

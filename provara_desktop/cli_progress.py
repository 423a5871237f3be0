"""Progress of a long indexing run on the command line's stderr.

Building a vault's index from scratch (the first open of a vault the reference wrote, a new
profile, ``reindex``) takes seconds at a million events. Quick runs print nothing: the first
line comes only after :data:`QUIET_SECONDS`. On a terminal one line is rewritten in place, at
most :data:`TTY_EVERY` apart; into a file or a pipe (a CI log, a script) a plain line every
:data:`PIPE_EVERY` seconds, so the log shows the run is alive without thousands of lines.
stdout is never touched: it carries the command's output (``--json`` included).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.store.index_build import IndexBuildProgress

__all__ = ["IndexProgressLine"]

QUIET_SECONDS = 1.0
TTY_EVERY = 0.25
PIPE_EVERY = 5.0


class IndexProgressLine:
    """A ``progress`` callback for ``Vault.open``/``Vault.sync_index``."""

    def __init__(self, stream: TextIO | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._last: float | None = None  # when the last line was written
        self._open_line = False  # a TTY line without its newline yet
        self._finished = False  # the last line is written

    def __call__(self, p: IndexBuildProgress) -> None:
        done = p.log_bytes >= p.total_bytes
        if self._finished or (p.elapsed < QUIET_SECONDS and self._last is None):
            return
        now = self._clock()
        every = TTY_EVERY if self._tty else PIPE_EVERY
        if not done and self._last is not None and now - self._last < every:
            return
        self._last = now
        self._finished = done
        if done:
            text = f"indexed the vault: {p.events:,} events in {p.elapsed:.1f} s"
        else:
            text = (f"indexing the vault: {p.events:,} events, "
                    f"{p.fraction:.0%} of the log")
        if self._tty:
            # \r and a clear to the end of the line: the line is rewritten in place.
            self._stream.write(f"\r{text}\x1b[K" + ("\n" if done else ""))
            self._open_line = not done
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End a line left open on a terminal (the run stopped early, on an error)."""
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False

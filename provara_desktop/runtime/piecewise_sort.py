"""Work on background threads that leaves the GUI thread its turn at the GIL.

Python hands the GIL between threads only between bytecodes. One C call that runs long, like
``sorted()`` over the 143k belief keys of a million-event vault (about 80 ms), keeps every
other thread out for all of it: the GUI thread cannot run a single slot or answer a single
``data()`` call, and the window freezes. The same sort done in pieces, merged by
``heapq.merge`` (a generator, so bytecode between items), gives the GIL back every few
milliseconds at a modest cost in total time.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

T = TypeVar("T")

# One sorted() of this many short strings takes a few milliseconds.
_PIECE = 8192


def sorted_gently(items: Iterable[T], *, key: Callable[[T], Any] | None = None,
                  reverse: bool = False) -> list[T]:
    """``sorted(items, key=key, reverse=reverse)``, stable like it, without holding the
    GIL for more than one piece's sort at a time."""
    seq = list(items)
    by: Any = key  # sorted() and merge() type their key apart; both take any callable
    if len(seq) <= _PIECE:
        return sorted(seq, key=by, reverse=reverse)
    pieces = [sorted(seq[i:i + _PIECE], key=by, reverse=reverse)
              for i in range(0, len(seq), _PIECE)]
    return list(heapq.merge(*pieces, key=by, reverse=reverse))

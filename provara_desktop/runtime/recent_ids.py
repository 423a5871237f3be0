"""The event ids at the last log positions a session reduced, so that a merge of older
events by another program (a sync, an import) can tell the events it inserted from the old
ones it only moved.

Why it matters: a belief's state depends only on its own key's events, in order
(core/reducer.belief_key). A merge inserts events into the tail; the old events of the tail
keep their order among themselves, except those that build, through their actor's chain, on
an inserted event (they wait for it in the total order, PROTOCOL.md A §6). So only the keys
of the inserted events and of those descendants need reducing again; a key whose events
only moved keeps its state. Without knowing which tail events are old, every key the tail
touches had to be reduced again, and in a busy vault the tail touches the few hot keys that
hold most of the log (a replay of all of it).

The index cannot say which events are old once the tail is rewritten, so the session keeps
the ids of the last ``KEEP`` positions itself (~5 MB); a rewrite that begins before them is
handled as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.reducer import belief_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

KEEP = 65_536


class RecentIds:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._base = 0  # the log position of _ids[0]
        self._ids: list[str] = []

    @property
    def end(self) -> int:
        return self._base + len(self._ids)

    def reset(self, count: int, ids_between: Callable[[int, int], list[str]]) -> None:
        """The log holds ``count`` events: keep the ids of its last positions, read by
        ``ids_between(first, end)`` (the index's ids at those positions, in order)."""
        first = max(0, count - self.keep)
        ids = ids_between(first, count)
        self._base, self._ids = (first, ids) if len(ids) == count - first else (count, [])

    def extend(self, ids: Iterable[str]) -> None:
        """Positions appended after ``end``, in order."""
        self._ids.extend(ids)
        self._trim()

    def replace_from(self, first: int, ids: Iterable[str]) -> None:
        """The log from position ``first`` on now holds ``ids`` (a rewritten tail)."""
        if first < self._base:
            self._base, self._ids = first, list(ids)
        else:
            del self._ids[first - self._base:]
            self._ids.extend(ids)
        self._trim()

    def between(self, first: int, end: int) -> set[str] | None:
        """The ids at positions [first, end), or None when they are not all kept."""
        if first < self._base or end > self.end or first > end:
            return None
        return set(self._ids[first - self._base:end - self._base])

    def _trim(self) -> None:
        extra = len(self._ids) - self.keep
        if extra > 0:
            del self._ids[:extra]
            self._base += extra


def keys_to_reduce_again(tail: Sequence[Mapping[str, Any]], old: set[str] | None) -> set[str]:
    """The belief keys a rewritten tail (events in the new log order) changes: with ``old``
    (the ids the tail's positions held before), those of the inserted events and of the old
    events that build on one (their order among the other old events may have changed);
    without it, every key the tail touches."""
    if old is None:
        return {k for ev in tail if (k := belief_key(ev)) is not None}
    moved: set[str] = set()  # inserted events and the old ones that build on them
    keys: set[str] = set()
    for ev in tail:  # log order: a predecessor comes first
        eid = str(ev.get("event_id"))
        # Any prev counts here (the total order only waits for the same actor's): a
        # superset of the keys is safe, a subset would leave a belief stale.
        if eid in old and ev.get("prev_event_hash") not in moved:
            continue
        moved.add(eid)
        if (k := belief_key(ev)) is not None:
            keys.add(k)
    return keys

"""The vault's deterministic total order (PROTOCOL.md A §6) and fork detection.

Repeatedly take, among the events whose predecessor is already placed, the one with the
smallest (timestamp_utc, event_id). The predecessor counts only when prev_event_hash names an
event of the same actor present in the set; anything else (a dangling or cross-actor prev) does
not hold an event back, it is reported by verification instead. Two replicas holding the same
events therefore write byte-identical logs, whatever order the events arrived in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.event import order_key

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def _predecessor_index(
    events: Sequence[Mapping[str, Any]], index_of: Mapping[str, int]
) -> list[int]:
    preds: list[int] = []
    for i, ev in enumerate(events):
        prev = ev.get("prev_event_hash")
        j = index_of.get(prev, -1) if isinstance(prev, str) else -1
        if j >= 0 and (j == i or events[j].get("actor") != ev.get("actor")):
            j = -1
        preds.append(j)
    return preds


def _sorted_if_causal(events: Sequence[Mapping[str, Any]],
                      preds: Sequence[int]) -> list[int] | None:
    """The indices sorted by (order_key, index) when that order puts every predecessor
    first, else None. Such an order is exactly what the loop below produces (at each step
    the next one is the smallest of all remaining events, and it is ready), and a sort
    runs in C: merging a batch into a log whose clocks were sane (an import, a sync, a
    whole vault) costs a sort instead of a heap operation per event."""
    keys = [order_key(ev) for ev in events]
    order = sorted(range(len(events)), key=keys.__getitem__)  # stable: ties keep index order
    placed = [False] * len(events)
    for i in order:
        p = preds[i]
        if p >= 0 and not placed[p]:
            return None
        placed[i] = True
    return order


def total_order(events: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``events`` in total order. Event ids must be unique (callers dedupe)."""
    index_of: dict[str, int] = {}
    for i, ev in enumerate(events):
        eid = ev.get("event_id")
        if isinstance(eid, str):
            index_of.setdefault(eid, i)
    preds = _predecessor_index(events, index_of)
    quick = _sorted_if_causal(events, preds)
    if quick is not None:
        return quick
    children: dict[int, list[int]] = {}
    heap: list[tuple[str, str, int]] = []
    for i, p in enumerate(preds):
        if p < 0:
            heap.append((*order_key(events[i]), i))
        else:
            children.setdefault(p, []).append(i)
    heapq.heapify(heap)
    out: list[int] = []
    while heap:
        _, _, i = heapq.heappop(heap)
        out.append(i)
        for c in children.pop(i, ()):
            heapq.heappush(heap, (*order_key(events[c]), c))
    if len(out) < len(events):
        # Only a forged log can hold a cycle of prev links (ids are content hashes); place
        # such events last, still deterministically, and let verification report them.
        placed = set(out)
        rest = [i for i in range(len(events)) if i not in placed]
        rest.sort(key=lambda i: (*order_key(events[i]), i))
        out.extend(rest)
    return out


def insertion_point(
    ordered_keys: Sequence[tuple[str, str]], after: int, key: tuple[str, str]
) -> int:
    """Where a new event with no dependants goes in an already ordered log.

    ``after`` is the position of its predecessor (-1 for none). The greedy order is unchanged
    up to the first later position whose event sorts after the new one; the new event is
    placed there, and nothing after it moves (nothing depends on it)."""
    for pos in range(after + 1, len(ordered_keys)):
        if key < ordered_keys[pos]:
            return pos
    return len(ordered_keys)


@dataclass(frozen=True)
class Fork:
    """One actor signed two events on the same predecessor: equivocation, with its proof."""

    actor: str
    prev_event_hash: str | None
    event_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "prev_event_hash": self.prev_event_hash,
            "event_ids": list(self.event_ids),
        }


def detect_forks(events: Sequence[Mapping[str, Any]]) -> list[Fork]:
    """Group by (actor, prev_event_hash); a null prev is a group too, as in the reference
    (two "first" events by one actor are a fork)."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for ev in events:
        actor = ev.get("actor")
        eid = ev.get("event_id")
        prev = ev.get("prev_event_hash")
        if not isinstance(actor, str) or not isinstance(eid, str):
            continue
        if prev is not None and not isinstance(prev, str):
            continue
        groups.setdefault((actor, prev), []).append(eid)
    forks = [
        Fork(actor, prev, tuple(ids)) for (actor, prev), ids in groups.items() if len(ids) > 1
    ]
    forks.sort(key=lambda f: (f.actor, f.prev_event_hash or ""))
    return forks

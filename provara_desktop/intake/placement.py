"""Where foreign events go in a vault's deterministic total order. Reads the vault, changes
nothing: the commit calls it under the vault's write lock, the preview without."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provara_desktop.core.event import order_key
from provara_desktop.core.logline import parse_line_or_raise
from provara_desktop.core.order import total_order

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.core.event import Event
    from provara_desktop.store.vault import Vault


def placement(vault: Vault, new: Sequence[Event]) -> tuple[int, list[Event]]:
    """(the first log position that would be rewritten, the events from there on in their
    final order). Positions before it keep their events; normally it is the vault's event
    count (everything new sorts after what is there)."""
    start, merged, _old_tail = placement_with_tail(vault, new)
    return start, merged


def placement_with_tail(vault: Vault, new: Sequence[Event]
                        ) -> tuple[int, list[Event], bytes]:
    """placement() and the old tail bytes the new order replaces. The old tail is read and
    parsed only when events really sort before existing ones."""
    new_ids = {e.get("event_id") for e in new}
    index = vault.index
    count = index.count()
    start = count
    for ev in new:
        prev = ev.get("prev_event_hash")
        if prev in new_ids:
            continue  # placed after its predecessor in the batch, wherever that goes
        prev_row = index.get(prev) if isinstance(prev, str) else None
        after = prev_row.pos if prev_row is not None and prev_row.actor == ev.get(
            "actor") else -1
        later = index.first_pos_sorting_after(after, order_key(ev))
        if later is not None:
            start = min(start, later)
    # An event already held that named one of these as its (then missing) prev waits for
    # it in the total order: it moves, so the rewrite starts at it at the latest.
    waiting = index.first_pos_waiting_on({str(e.get("event_id")): str(e.get("actor"))
                                          for e in new})
    if waiting is not None:
        start = min(start, waiting)
    old_tail = b""
    old: list[Event] = []
    if start < count:
        _offset, old_tail = vault.log_tail(start)
        old = [parse_line_or_raise(raw, where=f"{vault.events_path} line {start + i + 1}")
               for i, raw in enumerate(old_tail.split(b"\n")) if raw.strip()]
    merged = [*old, *new]
    return start, [merged[i] for i in total_order(merged)], old_tail

"""What an import would do to the beliefs: which become contested, change value or appear."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.order import total_order
from provara_desktop.core.reducer import Reducer, belief_key
from provara_desktop.intake.placement import placement
from provara_desktop.store.key_events import events_of_keys

if TYPE_CHECKING:
    from provara_desktop.store.vault import Vault

_MAX_LISTED = 1000  # belief changes listed in full; the counts are always exact


def belief_changes(vault: Vault, new_events: list[dict[str, Any]]) -> dict[str, Any]:
    """Beliefs that would become contested, change value, or appear, if the events were
    added (the whole log is reduced twice, in total order, as the vault will hold it), and
    the state hash before and after."""
    old = list(vault.events())
    before = Reducer().apply_all(old)
    merged = old + new_events
    after = Reducer().apply_all(merged[i] for i in total_order(merged))
    return _compare(before, after, hashes=True)


def belief_changes_by_key(vault: Vault, new_events: list[dict[str, Any]],
                          live: Reducer | None = None) -> dict[str, Any]:
    """belief_changes() for what the app's preview shows, at any vault size: only the
    beliefs the new events touch are reduced, in the order the import will give them. No
    state hashes (those need the whole state: ``state_hash_before``/``state_hash_after``
    are None). On a million-event vault the whole-log version read every event into memory
    twice over (over 1 GB).

    ``live``, the vault's current beliefs when the caller holds them (the app), is where the
    touched beliefs start from: copied out of it, untouched, so no event is read at all.
    That needs every new event to sort after the vault's and ``live`` to be up to date;
    otherwise the touched beliefs are reduced from their own events, read through the
    index."""
    touched = {k for ev in new_events if (k := belief_key(ev)) is not None}
    start, tail = placement(vault, new_events)
    # After the import: the vault's events before ``start`` keep their places, the rest
    # (new events and any old ones they sort before) follow in their final order.
    tail = [ev for ev in tail if belief_key(ev) in touched]
    if live is not None and start == vault.index.count() == live.event_count:
        before = live.copy_keys(touched)
        return _compare(before, live.copy_keys(touched).apply_all(tail), hashes=False)
    old = events_of_keys(vault, touched)
    before = Reducer().apply_all(ev for _pos, ev in old)
    after = Reducer().apply_all([ev for pos, ev in old if pos < start] + tail)
    return _compare(before, after, hashes=False)


def _compare(before: Reducer, after: Reducer, *, hashes: bool) -> dict[str, Any]:
    became_contested = sorted(set(after.contested_keys) - set(before.contested_keys))
    changed = []
    for ns in ("canonical", "local"):
        a, b = getattr(before, ns), getattr(after, ns)
        for key in sorted(set(a) | set(b)):
            va = a.get(key, {}).get("value") if key in a else None
            vb = b.get(key, {}).get("value") if key in b else None
            if (key in a) != (key in b) or va != vb:
                changed.append({"namespace": ns, "key": key,
                                "before": va if key in a else None,
                                "after": vb if key in b else None})
    return {"became_contested": became_contested[:_MAX_LISTED],
            "became_contested_count": len(became_contested),
            "changed": changed[:_MAX_LISTED], "changed_count": len(changed),
            "state_hash_before": before.state_hash() if hashes else None,
            "state_hash_after": after.state_hash() if hashes else None}

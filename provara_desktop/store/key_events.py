"""Every event of some belief keys, in log order, read through the index's
(subject, predicate, pos) index: what a key's belief is reduced from when only a few keys
changed (an import's preview, a rewritten tail applied to the running app's beliefs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.logline import parse_line_or_raise
from provara_desktop.core.reducer import belief_key, key_splits

if TYPE_CHECKING:
    from collections.abc import Iterable

    from provara_desktop.core.event import Event
    from provara_desktop.store.index_rows import IndexRow
    from provara_desktop.store.vault import Vault


def events_of_keys(vault: Vault, keys: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    """``(pos, event)`` for every indexed event whose belief key is in ``keys``, by pos.

    A key "a:b:c" splits two ways (subject "a", predicate "b:c" or "a:b", "c"): both are
    looked up and the events whose own key is another one dropped."""
    wanted = set(keys)
    index = vault.index
    rows = {r.pos: r for key in wanted for subject, predicate in key_splits(key)
            for r in index.query(subject=subject, predicate=predicate)}
    ordered = [rows[pos] for pos in sorted(rows)]
    return [(row.pos, ev) for row, ev in zip(ordered, read_rows(vault, ordered), strict=True)
            if belief_key(ev) in wanted]


def events_count(vault: Vault, keys: Iterable[str]) -> int:
    """How many events events_of_keys() would read (an upper bound, from the index alone:
    a count over the (subject, predicate, pos) index per key, no row read)."""
    index = vault.index
    return sum(index.count(subject=subject, predicate=predicate)
               for key in set(keys) for subject, predicate in key_splits(key))


def read_rows(vault: Vault, rows: Iterable[IndexRow]) -> list[Event]:
    """The events of ``rows``, the log opened once (Vault.read_row opens it per event)."""
    path = vault.events_path
    out: list[Event] = []
    with path.open("rb") as f:
        for row in rows:
            f.seek(row.offset)
            out.append(parse_line_or_raise(f.read(row.length),
                                           where=f"{path} line {row.pos + 1}"))
    return out

"""The shape of one row of the SQLite index (see store.index), shared by the index and its
query mixins."""

from __future__ import annotations

from typing import NamedTuple

# Column order of the events table == field order of IndexRow, so a SELECT of _COLUMNS maps
# positionally onto IndexRow(*row) without building a dict per row.
_COLUMNS: tuple[str, ...] = (
    "pos",
    "event_id",
    "type",
    "actor",
    "actor_key_id",
    "timestamp_utc",
    "namespace",
    "subject",
    "predicate",
    "prev_event_hash",
    "offset",
    "length",
    "first_seen_utc",
)
# "offset" is an SQL keyword, so every column name is quoted in hand-written SQL.
_SELECT_COLUMNS = ", ".join(f'"{c}"' for c in _COLUMNS)


class IndexRow(NamedTuple):
    """One indexed log line. Field order matches the ``events`` table's column order.

    A named tuple rather than a frozen dataclass: an import or a rebuild makes one per event
    and a query one per fetched row, and a tuple is built several times faster (a frozen
    dataclass sets each field through object.__setattr__); it is also exactly the parameter
    tuple an INSERT binds, so rows go to SQLite without being copied into another tuple."""

    pos: int
    event_id: str
    type: str | None
    actor: str | None
    actor_key_id: str | None
    timestamp_utc: str | None
    namespace: str | None
    subject: str | None
    predicate: str | None
    prev_event_hash: str | None
    offset: int
    length: int
    first_seen_utc: str  # when THIS replica first stored the event (not signed, not shared)

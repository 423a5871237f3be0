"""The shape of one row of the SQLite index (see store.index), shared by the index and its
query mixins."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One indexed log line. Field order matches the ``events`` table's column order."""

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

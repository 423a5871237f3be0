"""The shape of one row of the SQLite index (see store.index), shared by the index and its
query mixins, and how a row is made from a parsed event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

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

@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the log the index reflects."""

    event_count: int
    log_bytes: int
    last_line_sha256: str | None


def _text(value: Any) -> str | None:
    # Envelope fields are strings by the protocol; a foreign log may carry anything. An odd
    # type is not something we can filter on meaningfully, so it is stored as NULL rather
    # than crashing the indexer (judging the event is the verifier's job, not the index's).
    return value if type(value) is str or isinstance(value, str) else None


def _key_text(value: Any) -> str | None:
    # subject/predicate are user data: a numeric subject ("42") is still a useful filter
    # key, so non-strings are kept as str() rather than dropped.
    if value is None or isinstance(value, str):
        return value
    return str(value)


def row_from_event(
    event: Mapping[str, Any], *, pos: int, offset: int, length: int, first_seen_utc: str
) -> IndexRow:
    """Build the index row of one parsed event; never raises on odd or missing fields."""
    # type() before isinstance(): an ABC check costs more than the rest of a row, and an
    # import or a rebuild makes a row per event.
    if type(event) is not dict and not isinstance(event, Mapping):
        # A foreign line holding a JSON array or scalar: still a line with a position.
        event = {}
    payload = event.get("payload")
    subject = predicate = None
    if type(payload) is dict or isinstance(payload, Mapping):
        subject = _key_text(payload.get("subject"))
        predicate = _key_text(payload.get("predicate"))
    raw_id = event.get("event_id")
    if isinstance(raw_id, str):
        event_id = raw_id
    elif raw_id is not None:
        event_id = str(raw_id)
    else:
        # event_id is UNIQUE and NOT NULL; an event without one can still be listed and
        # paged through, so give it a placeholder that no real id can equal (real ids are
        # "evt_" + hex) and that is unique because positions are.
        event_id = f"<no event_id at pos {pos}>"
    get = event.get
    # Positional, in IndexRow's field order (keywords cost a measurable share here).
    return IndexRow(pos, event_id, _text(get("type")), _text(get("actor")),
                    _text(get("actor_key_id")), _text(get("timestamp_utc")),
                    _text(get("namespace")), subject, predicate,
                    _text(get("prev_event_hash")), offset, length, first_seen_utc)

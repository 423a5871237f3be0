"""The event index's queries: counts, keyset pages by filter, single rows, actors, types,
keys, and the writer's placement query. A mixin of store.index.EventIndex (which supplies
the connection a read goes through and builds the deferred secondary indexes a read needs),
kept apart from the index's schema, writes and coverage so each module reads on its own.
The provenance timeline's queries are a mixin of their own (store.index_timeline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.store.index_rows import _SELECT_COLUMNS, Coverage, IndexRow
from provara_desktop.store.index_timeline import TimelineQueries

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_BY_ID = frozenset({"events_event_id"})
_IDS_PER_QUERY = 500  # bound parameters per IN (...) query, well under SQLite's limit
_BY_ACTOR = frozenset({"events_actor_pos"})
_BY_TYPE = frozenset({"events_type_pos"})
_BY_KEY = frozenset({"events_subject_predicate_pos"})
_BY_PREV = frozenset({"events_prev_actor"})
# An actor's newest events, up to this many, are found without its index (see query()).
_NEWEST_BY_SCAN = 16


def _filter_indexes(actor: str | None, type_: str | None, subject: str | None,
                    predicate: str | None) -> frozenset[str]:
    """The indexes a query filtered on these fields may walk."""
    needed: frozenset[str] = frozenset()
    if actor is not None:
        needed |= _BY_ACTOR
    if type_ is not None:
        needed |= _BY_TYPE
    if subject is not None or predicate is not None:
        needed |= _BY_KEY
    return needed


class EventQueries(TimelineQueries):
    """Read-only queries over the events table (EventIndex provides ``_reading``,
    ``coverage`` and ``_has_indexes``)."""

    def coverage(self) -> Coverage:
        raise NotImplementedError  # EventIndex: how much of the log the index covers

    def _has_indexes(self, names: frozenset[str]) -> bool:
        raise NotImplementedError  # EventIndex: whether these deferred indexes are built


    def count(
        self,
        *,
        actor: str | None = None,
        type: str | None = None,  # shadows the builtin on purpose: mirrors the field
        subject: str | None = None,
        predicate: str | None = None,
    ) -> int:
        """Number of indexed events matching every given filter (all events if none)."""
        clauses, params = self._where(actor, type, subject, predicate)
        if not clauses:
            # count(*) walks the whole table (tens of ms at 1M rows); the maintained
            # counter is exact because every write updates it in the same transaction.
            return self.coverage().event_count
        sql = "SELECT count(*) FROM events WHERE " + " AND ".join(clauses)
        with self._reading(indexed=_filter_indexes(actor, type, subject, predicate)) as conn:
            (n,) = conn.execute(sql, params).fetchone()
        return int(n)

    def query(
        self,
        *,
        actor: str | None = None,
        type: str | None = None,  # shadows the builtin on purpose: mirrors the field
        subject: str | None = None,
        predicate: str | None = None,
        after_pos: int = -1,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[IndexRow]:
        """Rows matching every given filter, ordered by pos, one keyset page at a time.

        Ascending: rows with ``pos > after_pos`` (start with -1, continue with the last
        row's pos). Descending: rows with ``pos < after_pos``, or from the newest event when
        ``after_pos`` is negative.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        clauses, params = self._where(actor, type, subject, predicate)
        needed = _filter_indexes(actor, type, subject, predicate)
        if (needed == _BY_ACTOR and descending and after_pos < 0 and limit is not None
                and limit <= _NEWEST_BY_SCAN and not self._has_indexes(_BY_ACTOR)):
            # An actor's newest events (a chain head) right after a rebuild: walking the
            # table back from its end finds them within a few rows (actors write in turn),
            # where building the actor index first would cost ~1.5 s at a million rows.
            needed = frozenset()
        if not descending:
            clauses.append("pos > ?")
            params.append(after_pos)
        elif after_pos >= 0:
            clauses.append("pos < ?")
            params.append(after_pos)
        sql = f"SELECT {_SELECT_COLUMNS} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY pos DESC" if descending else " ORDER BY pos"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading(indexed=needed) as conn:
            rows = conn.execute(sql, params).fetchall()
        return [IndexRow(*r) for r in rows]

    def get(self, event_id: str) -> IndexRow | None:
        """The row of ``event_id``, or None if it is not indexed."""
        return self._one("event_id = ?", event_id, indexed=_BY_ID)

    def get_many(self, event_ids: Iterable[str]) -> dict[str, IndexRow]:
        """The rows of those of ``event_ids`` that are indexed, by id: one query per few
        hundred ids (a sync batch or an import checks hundreds at a time; one query each
        cost ~50 µs of Python and SQLite overhead per id)."""
        ids = list(dict.fromkeys(event_ids))
        out: dict[str, IndexRow] = {}
        if not ids:
            return out
        with self._reading(indexed=_BY_ID) as conn:
            for i in range(0, len(ids), _IDS_PER_QUERY):
                part = ids[i:i + _IDS_PER_QUERY]
                marks = ",".join("?" * len(part))
                for r in conn.execute(f"SELECT {_SELECT_COLUMNS} FROM events "
                                      f"WHERE event_id IN ({marks})", part):
                    row = IndexRow(*r)
                    out.setdefault(row.event_id, row)
        return out

    def ids_between(self, first: int, end: int) -> list[str]:
        """The event ids at positions [first, end), in log order (ids only: a few ms for
        tens of thousands, where whole rows cost ten times more)."""
        with self._reading() as conn:
            return [str(r[0]) for r in conn.execute(
                "SELECT event_id FROM events WHERE pos >= ? AND pos < ? ORDER BY pos",
                (first, end))]

    def row_at(self, pos: int) -> IndexRow | None:
        """The row at position ``pos``, or None past the end."""
        return self._one("pos = ?", pos)

    def _one(self, where: str, value: object, *,
             indexed: frozenset[str] = frozenset()) -> IndexRow | None:
        with self._reading(indexed=indexed) as conn:
            row = conn.execute(
                f"SELECT {_SELECT_COLUMNS} FROM events WHERE {where}", (value,)
            ).fetchone()
        return None if row is None else IndexRow(*row)

    def first_seen(self, event_id: str) -> str | None:
        """When this replica first stored ``event_id`` (None if not indexed)."""
        with self._reading(indexed=_BY_ID) as conn:
            row = conn.execute(
                "SELECT first_seen_utc FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def _grouped(self, column: str) -> list[tuple[str, int]]:
        # Served from the (column, pos) index alone (a covering index scan), not the table.
        with self._reading(indexed=True) as conn:
            rows = conn.execute(
                f'SELECT "{column}", count(*) FROM events WHERE "{column}" IS NOT NULL '
                f'GROUP BY "{column}" ORDER BY "{column}"'
            ).fetchall()
        return [(str(value), int(n)) for value, n in rows]

    def actor_names(self) -> list[str]:
        """Every actor, sorted: one seek of the (actor, pos) index per actor. A GROUP BY
        scans that whole index instead: 73 ms at a million events, which the timeline paid
        on every screen it fetched."""
        if not self._has_indexes(_BY_ACTOR):
            # Right after a rebuild (the open's loss check asks first): one scan of the
            # table (~0.2 s at a million rows) instead of building the index (~1.5 s).
            with self._reading() as conn:
                rows = conn.execute(
                    "SELECT DISTINCT actor FROM events WHERE actor IS NOT NULL").fetchall()
            # Python's str order is code point order, as SQLite's BINARY collation (UTF-8
            # bytes) is: the same order as the index seeks below give.
            return sorted(str(r[0]) for r in rows)
        names: list[str] = []
        with self._reading(indexed=_BY_ACTOR) as conn:
            row = conn.execute("SELECT min(actor) FROM events").fetchone()
            while row is not None and row[0] is not None:
                names.append(str(row[0]))
                row = conn.execute("SELECT min(actor) FROM events WHERE actor > ?",
                                   (row[0],)).fetchone()
        return names

    def actor_chains(self, actors: list[str] | None = None) -> dict[str, tuple[int, list[str]]]:
        """Per actor (every one, or ``actors``): its event count and the heads of its chains,
        sorted: its events that no event of the same actor names as prev (PROTOCOL.md A
        §6), forks and dangling starts included. Answered inside SQLite, per actor, from the
        (actor, pos) and (prev_event_hash, actor) indexes: no row but a head's id comes out
        (the frontier of net/chains.py; building it from every row in Python cost ~8 s at a
        million events)."""
        out: dict[str, tuple[int, list[str]]] = {}
        names = self.actor_names() if actors is None else actors
        with self._reading(indexed=_BY_ACTOR | _BY_PREV) as conn:
            for actor in names:
                if not actor:  # no chain (an invalid event: verify reports it)
                    continue
                (n,) = conn.execute("SELECT count(*) FROM events WHERE actor = ?",
                                    (actor,)).fetchone()
                heads = sorted(str(r[0]) for r in conn.execute(
                    "SELECT e.event_id FROM events e WHERE e.actor = ? AND NOT EXISTS "
                    "(SELECT 1 FROM events s WHERE s.prev_event_hash = e.event_id "
                    "AND s.actor = e.actor)", (actor,)))
                if n:
                    out[actor] = (int(n), heads)
        return out

    def actor_ranked(self, actor: str, offsets: Iterable[int]) -> list[str]:
        """The ids of ``actor``'s events at those ``offsets`` back from its newest event by
        log position (0: the newest), in the order given; offsets past its first event are
        left out. Each is a skip along the covering (actor, pos) index, then one seek by
        position (the samples of net/chains.py: ~7 ms for 17 offsets up to 65,536 at a
        million events, where fetching each skipped row took 2.5 s)."""
        positions: list[int] = []
        with self._reading(indexed=_BY_ACTOR) as conn:
            for off in offsets:
                row = conn.execute("SELECT pos FROM events WHERE actor = ? ORDER BY pos DESC "
                                   "LIMIT 1 OFFSET ?", (actor, off)).fetchone()
                if row is not None:
                    positions.append(int(row[0]))
            return [str(conn.execute("SELECT event_id FROM events WHERE pos = ?",
                                    (p,)).fetchone()[0]) for p in positions]

    def first_pos_waiting_on(self, new: Mapping[str, str]) -> int | None:
        """The first position of an indexed event that builds on one of ``new`` (event id
        -> its actor: the same actor's event names it as prev), or None. Such an event was
        written before its predecessor arrived (a dangling prev); the total order puts it
        after the predecessor, so a merge of ``new`` must rewrite the log from there too.
        Asked of the (prev_event_hash, actor) index a few hundred ids per query."""
        ids = list(new)
        first: int | None = None
        with self._reading(indexed=_BY_PREV) as conn:
            for i in range(0, len(ids), _IDS_PER_QUERY):
                part = ids[i:i + _IDS_PER_QUERY]
                marks = ",".join("?" * len(part))
                for prev, actor, pos in conn.execute(
                        "SELECT prev_event_hash, actor, min(pos) FROM events WHERE "
                        f"prev_event_hash IN ({marks}) GROUP BY prev_event_hash, actor", part):
                    if new.get(prev) == actor and (first is None or pos < first):
                        first = int(pos)
        return first

    def builds_on(self, event_id: str, actor: str) -> bool:
        """Whether an event of ``actor`` names ``event_id`` as its prev (one index seek)."""
        with self._reading(indexed=_BY_PREV) as conn:
            row = conn.execute("SELECT 1 FROM events WHERE prev_event_hash = ? AND actor = ? "
                               "LIMIT 1", (event_id, actor)).fetchone()
        return row is not None

    def types(self) -> list[tuple[str, int]]:
        """``(type, event count)`` for every event type, sorted by type."""
        return self._grouped("type")

    # ------------------------------------------------------------------ queries of the writer

    def key_ids(self) -> list[tuple[str, int]]:
        """``(actor_key_id, event count)`` for every signing key, sorted by key id."""
        return self._grouped("actor_key_id")

    def first_pos_sorting_after(self, after_pos: int, key: tuple[str, str]) -> int | None:
        """The first position > ``after_pos`` whose (timestamp_utc, event_id) sorts after
        ``key`` (``core.event.order_key``); None when there is none (a new event with that
        key then simply goes last).

        The timestamp index makes this a short range scan: only events stamped at or after
        the new one are looked at, normally none. A missing timestamp is NULL here but ""
        in order_key, so for ts == "" the range is dropped (every row is >= "") and NULL
        rows are compared on event_id alone, exactly as order_key compares them.
        """
        ts, eid = key
        if ts:
            # Rows with a smaller (or NULL, i.e. "") timestamp can never sort after ts.
            # INDEXED BY because, left alone, SQLite answers min(pos) by walking the pos
            # (rowid) order from after_pos until a row matches: a full scan when none does.
            # _needs_indexes() below guarantees the index exists.
            sql = (
                "SELECT min(pos) FROM events INDEXED BY events_timestamp_utc "
                "WHERE timestamp_utc >= ? AND pos > ? AND (timestamp_utc > ? OR event_id > ?)"
            )
            params: list[Any] = [ts, after_pos, ts, eid]
        else:
            sql = (
                "SELECT min(pos) FROM events WHERE pos > ? AND (timestamp_utc > '' OR event_id > ?)"
            )
            params = [after_pos, eid]
        with self._reading(indexed=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None or row[0] is None else int(row[0])

"""Queries of the provenance timeline and the contested workbench over the SQLite index:
time windows, per-actor time bounds, sampling for dense lanes, chain successors and ranks,
forks. A mixin of store.index.EventIndex, kept apart so each module stays readable.

Time bounds are ISO-8601 strings in the form the protocol writes (``isoformat()``, "+00:00");
they compare as strings, which is the order of the timestamp indexes. Ranges are half-open:
``start <= timestamp_utc < end``; None leaves that side open.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from provara_desktop.store.index_rows import _SELECT_COLUMNS, IndexRow

if TYPE_CHECKING:
    import contextlib
    import sqlite3
    from collections.abc import Sequence

# A time window holding fewer events than this is read through the timestamp index.
_NARROW_RANGE = 20_000


class TimelineQueries:
    """Read-only queries; EventIndex supplies the connection to read through (see
    EventIndex._reading) and builds the deferred secondary indexes these queries need."""

    def _reading(self, *, indexed: bool | frozenset[str] = False
                 ) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # EventIndex: the connection a read goes through

    @staticmethod
    def _where(
        actor: str | None, type_: str | None, subject: str | None, predicate: str | None
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("actor", actor),
            ("type", type_),
            ("subject", subject),
            ("predicate", predicate),
        ):
            if value is not None:
                clauses.append(f'"{column}" = ?')
                params.append(value)
        return clauses, params

    # ------------------------------------------------------------------ provenance queries
    #
    # Used by the timeline and the contested workbench. Time bounds are ISO-8601 strings in
    # the form the protocol writes (``datetime.isoformat()``, "+00:00"); they compare as
    # strings, which is the order of the timestamp indexes. Ranges are half-open:
    # ``start <= timestamp_utc < end``; None leaves that side open.

    @staticmethod
    def _filters(
        *,
        actor: str | None = None,
        type_: str | None = None,
        subject: str | None = None,
        predicate: str | None = None,
        namespace: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> tuple[list[str], list[Any]]:
        clauses, params = TimelineQueries._where(actor, type_, subject, predicate)
        if namespace is not None:
            clauses.append('"namespace" = ?')
            params.append(namespace)
        if start is not None:
            clauses.append("timestamp_utc >= ?")
            params.append(start)
        if end is not None:
            clauses.append("timestamp_utc < ?")
            params.append(end)
        return clauses, params

    def positions(
        self,
        *,
        actor: str | None = None,
        type: str | None = None,  # shadows the builtin on purpose: mirrors the field
        subject: str | None = None,
        predicate: str | None = None,
        namespace: str | None = None,
        start: str | None = None,
        end: str | None = None,
        after_pos: int = -1,
        limit: int | None = None,
    ) -> list[int]:
        """Positions (ascending, ``> after_pos``) of the events matching every filter: a
        filtered table holds these ints, never the rows, so 100k matches cost ~1 MB."""
        clauses, params = self._filters(actor=actor, type_=type, subject=subject,
                                         predicate=predicate, namespace=namespace,
                                         start=start, end=end)
        clauses.append("pos > ?")
        params.append(after_pos)
        source = "events"
        if start is not None and end is not None and self.count_time_range(
                start, end, cap=_NARROW_RANGE) < _NARROW_RANGE:
            # A narrow time window: gather its few rows from the timestamp index and sort
            # them, rather than let SQLite walk every position testing the time (~130 ms
            # per million events).
            source = "events INDEXED BY events_timestamp_utc"
        sql = f"SELECT pos FROM {source} WHERE " + " AND ".join(clauses) + " ORDER BY pos"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading(indexed=True) as conn:
            return [int(r[0]) for r in conn.execute(sql, params)]

    def time_bounds(self, *, actor: str | None = None) -> tuple[str, str] | None:
        """(earliest, latest) claimed timestamp, of one actor or of all; None if none.

        Two index seeks (min and max of an index are its ends), not a scan."""
        if actor is None:
            lo_sql = "SELECT min(timestamp_utc) FROM events WHERE timestamp_utc > ''"
            hi_sql = "SELECT max(timestamp_utc) FROM events"
            params: list[Any] = []
        else:
            lo_sql = ("SELECT min(timestamp_utc) FROM events "
                      "WHERE actor = ? AND timestamp_utc > ''")
            hi_sql = "SELECT max(timestamp_utc) FROM events WHERE actor = ?"
            params = [actor]
        with self._reading(indexed=True) as conn:
            lo = conn.execute(lo_sql, params).fetchone()[0]
            hi = conn.execute(hi_sql, params).fetchone()[0]
        if lo is None or hi is None:
            return None
        return str(lo), str(hi)

    def in_time_range(
        self,
        start: str | None,
        end: str | None,
        *,
        actor: str | None = None,
        type: str | None = None,  # shadows the builtin on purpose: mirrors the field
        subject: str | None = None,
        namespace: str | None = None,
        limit: int | None = None,
    ) -> list[IndexRow]:
        """Rows with ``start <= timestamp_utc < end`` in time order (ties by pos), at most
        ``limit`` of them."""
        clauses, params = self._filters(actor=actor, type_=type, subject=subject,
                                         namespace=namespace, start=start, end=end)
        if start is None:
            clauses.append("timestamp_utc IS NOT NULL")
        sql = (f"SELECT {_SELECT_COLUMNS} FROM events WHERE " + " AND ".join(clauses)
               + " ORDER BY timestamp_utc, pos")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading(indexed=True) as conn:
            rows = conn.execute(sql, params).fetchall()
        return [IndexRow(*r) for r in rows]

    def count_time_range(
        self,
        start: str | None,
        end: str | None,
        *,
        actor: str | None = None,
        type: str | None = None,  # shadows the builtin on purpose: mirrors the field
        subject: str | None = None,
        namespace: str | None = None,
        cap: int | None = None,
    ) -> int:
        """How many rows :meth:`in_time_range` would return; with ``cap``, counting stops
        there (a caller deciding "all or a sample" needs no more, and a count over a
        million index entries is not free)."""
        clauses, params = self._filters(actor=actor, type_=type, subject=subject,
                                         namespace=namespace, start=start, end=end)
        if start is None:
            clauses.append("timestamp_utc IS NOT NULL")
        inner = "SELECT 1 FROM events WHERE " + " AND ".join(clauses)
        if cap is not None:
            inner += " LIMIT ?"
            params.append(cap)
        with self._reading(indexed=True) as conn:
            (n,) = conn.execute(f"SELECT count(*) FROM ({inner})", params).fetchone()
        return int(n)

    def time_samples(
        self,
        boundaries: Sequence[str],
        *,
        actor: str | None = None,
        type: str | None = None,  # shadows the builtin on purpose: mirrors the field
        subject: str | None = None,
        namespace: str | None = None,
    ) -> list[IndexRow]:
        """A sample of a dense time range: for each bucket ``[b[i], b[i+1])``, the first
        event in it (if any), in time order.

        One index seek per bucket, whatever the number of events in the range, so a
        canvas can draw a million-event range by asking one bucket per few pixels: every
        bucket that holds events shows one. (With type/subject/namespace filters the seek
        walks the bucket until a row matches.)"""
        clauses, params = self._filters(actor=actor, type_=type, subject=subject,
                                         namespace=namespace)
        clauses += ["timestamp_utc >= ?", "timestamp_utc < ?"]
        sql = (f"SELECT {_SELECT_COLUMNS} FROM events WHERE " + " AND ".join(clauses)
               + " ORDER BY timestamp_utc, pos LIMIT 1")
        out: list[IndexRow] = []
        with self._reading(indexed=True) as conn:
            for lo, hi in itertools.pairwise(boundaries):
                row = conn.execute(sql, [*params, lo, hi]).fetchone()
                if row is not None:
                    out.append(IndexRow(*row))
        return out

    def successors(self, event_id: str) -> list[IndexRow]:
        """Rows naming ``event_id`` as their ``prev_event_hash`` (any actor), by pos. More
        than one of the same actor is a fork."""
        with self._reading(indexed=True) as conn:
            rows = conn.execute(
                f"SELECT {_SELECT_COLUMNS} FROM events WHERE prev_event_hash = ? ORDER BY pos",
                (event_id,),
            ).fetchall()
        return [IndexRow(*r) for r in rows]

    def chain_rank(self, actor: str, pos: int) -> int:
        """How many events of ``actor`` sit at positions ``<= pos`` (1 for its first)."""
        with self._reading(indexed=True) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM events WHERE actor = ? AND pos <= ?", (actor, pos)
            ).fetchone()
        return int(n)

    def fork_groups(self) -> list[tuple[str, str | None, list[str]]]:
        """``(actor, prev_event_hash, event ids by pos)`` for every predecessor that one
        actor signed more than one successor of (a null predecessor counts: two "first"
        events), as core.order.detect_forks defines a fork. Grouped from the
        (prev_event_hash, actor) index alone; the ids are fetched only for the groups."""
        with self._reading(indexed=True) as conn:
            groups = conn.execute(
                "SELECT prev_event_hash, actor FROM events WHERE actor IS NOT NULL "
                "GROUP BY prev_event_hash, actor HAVING count(*) > 1"
            ).fetchall()
            out: list[tuple[str, str | None, list[str]]] = []
            for prev, actor in groups:
                ids = conn.execute(
                    "SELECT event_id FROM events WHERE prev_event_hash IS ? AND actor = ? "
                    "ORDER BY pos",
                    (prev, actor),
                ).fetchall()
                out.append((str(actor), None if prev is None else str(prev),
                            [str(r[0]) for r in ids]))
        out.sort(key=lambda g: (g[0], g[1] or ""))
        return out

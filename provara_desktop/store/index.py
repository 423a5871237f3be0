"""SQLite index of a vault's event log (a cache: the NDJSON log is the only truth).

The index lives OUTSIDE the vault directory (see :func:`index_path_for`) so that copying,
bundling or syncing a vault never carries a stale cache along, and so that two copies of the
same vault on one machine never share (and corrupt) one index.

One row per log line: where the line is (byte ``offset`` and ``length`` without the newline)
and its ``pos`` (0-based line number = position in the vault's total order), plus the few
event fields the CLI and GUI filter on. Everything else is read back from the log by offset.

The ``meta`` table records how much of the log the index covers (``log_bytes``,
``event_count``) and the sha256 of the last indexed line, so the vault can tell "the log only
grew" (index the tail incrementally) from "the log was rewritten under us" (truncate or
rebuild). A database with another schema version or another vault's uid is dropped and
recreated: it is only a cache.

Queries page by position (keyset paging: ``pos > after_pos``), never by OFFSET, so that page
N of a million-event log costs the same as page 1; every filter has an index ending in
``pos`` so that "filter + ORDER BY pos LIMIT n" is a range scan that stops after n rows.

Bulk loads: maintaining six more b-trees row by row costs several times more than the table
itself (a million-row rebuild took ~40 s that way on a small 2-core machine), while building
an index once from finished data is a sort. So whenever the table is emptied (fresh
database, :meth:`EventIndex.reset`, ``truncate(0)``) or a truncate drops most of it, its
indexes are dropped, and large appends (>= ``BULK_MIN_ROWS`` rows) leave them unbuilt.
They are built, once, by the first small append, by the first read that needs them (a
filtered query, ``get`` ...), or by :meth:`EventIndex.ensure_indexes`. While they are
deferred, UNIQUE(event_id) is enforced by an in-memory set of id hashes, so append raises
exactly as it would with the index present. Unfiltered paging (``query()``, ``row_at``)
never needs them: the GUI's timeline stays live during a rebuild.

Threading: the connection is opened with ``check_same_thread=False`` so a GUI worker thread
may use the same object as the thread that opened it. The vault has ONE writer and callers
must serialise writes; an internal re-entrant lock additionally keeps a reader on another
thread from running in the middle of a write transaction (it would otherwise see the
writer's uncommitted rows, since they share one connection).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import operator
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlite_utils import Database

from provara_desktop.store.index_paths import index_path_for
from provara_desktop.store.index_queries import EventQueries
from provara_desktop.store.index_rows import (
    _COLUMNS,
    _SELECT_COLUMNS,
    Coverage,
    IndexRow,
    row_from_event,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

log = logging.getLogger(__name__)
__all__ = ["BULK_MIN_ROWS", "Coverage", "EventIndex", "IndexRow", "index_path_for",
           "row_from_event"]

SCHEMA_VERSION = "1"

_INSERT_SQL = f"INSERT INTO events ({_SELECT_COLUMNS}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_SET_META_SQL = (
    "INSERT INTO meta(key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)

# (name, columns, unique) of every index on events besides the pos primary key. Each filter
# index ends in pos so that "WHERE actor = ? AND pos > ? ORDER BY pos LIMIT n" walks the
# index in order and stops after n rows instead of sorting every match.
_INDEXES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("events_event_id", ("event_id",), True),
    ("events_actor_pos", ("actor", "pos"), False),
    ("events_type_pos", ("type", "pos"), False),
    ("events_subject_predicate_pos", ("subject", "predicate", "pos"), False),
    ("events_timestamp_utc", ("timestamp_utc",), False),
    ("events_actor_key_id", ("actor_key_id",), False),
    # Added for the provenance timeline (an index file built before them lacks them: they
    # are then "deferred" and built, with IF NOT EXISTS, by the first read that needs them,
    # exactly like after a bulk load; the schema of the table itself is unchanged).
    # Lanes of the timeline: one actor's events within a time window, in time order.
    ("events_actor_timestamp", ("actor", "timestamp_utc"), False),
    # Chain successors (who names this event as prev) and forks (two events of one actor
    # on the same predecessor), both answered from this index alone.
    ("events_prev_actor", ("prev_event_hash", "actor"), False),
)
_INDEX_NAMES = frozenset(name for name, _, _ in _INDEXES)
_EVENT_ID = operator.itemgetter(_COLUMNS.index("event_id"))
_POS = operator.itemgetter(_COLUMNS.index("pos"))

# An append of at least this many rows into a table whose indexes are deferred keeps them
# deferred (it is a rebuild or a big catch-up); a smaller one means the bulk load is over.
BULK_MIN_ROWS = 1000

# WAL pages between automatic checkpoints: SQLite's default, and during a bulk load 16x more.
# In WAL mode with synchronous=NORMAL every checkpoint syncs the database file; a million-row
# rebuild wrote ~300 MB, i.e. ~75 syncs at the default (0.3-0.7 s of a ~3 s insert here).
# The WAL then grows to ~64 MB at most before it is copied back, and is reused after.
_CHECKPOINT_PAGES = 1000
_BULK_CHECKPOINT_PAGES = 16_000

# Page cache for this connection (negative = KiB), counted in the app's memory once full.
# Bigger buys nothing measurable: indexing 100k appended events after 1M took 2.9-3.0 s
# with 8, 16, 32 or 64 MiB (the pages it drops are re-read from the OS's file cache),
# while 64 MiB was ~50 MB more at the peak of an import in the app.
_CACHE_KIB = 16 * 1024






@dataclass(slots=True)
class _BulkGuard:
    """UNIQUE(event_id) for a bulk load whose event_id index is not built yet.

    Python ``hash()`` values rather than the strings (~70 MB per million ids instead of
    ~110 MB, and only for the duration of a bulk load); a hit is confirmed against the exact ids, so
    a 64-bit collision costs one slow lookup, never a false error. ``event_count`` is the
    count the set describes: if the table's count differs, the set is re-read from the table.
    """

    event_count: int
    id_hashes: set[int]


class EventIndex(EventQueries):
    """The SQLite index of one vault's event log. Create with :meth:`open`."""

    # Per-instance knob so tests can exercise bulk loads with a handful of rows.
    bulk_min_rows: int = BULK_MIN_ROWS

    def __init__(self, db: Database, path: Path, vault_uid: str) -> None:
        self._db = db
        self._conn: sqlite3.Connection = db.conn
        self.path = path
        self.vault_uid = vault_uid
        self._lock = threading.RLock()
        # Connections for reads on threads that find the lock taken (see _reading): one per
        # thread, made on first need, all closed with the index.
        self._local = threading.local()
        # Each with a lock its thread holds while reading: close() takes it before closing,
        # so a connection is never closed under a query running on it.
        self._readers: list[tuple[sqlite3.Connection, threading.RLock]] = []
        self._readers_lock = threading.Lock()  # not _lock: that one is busy when we need it
        self._savepoints = itertools.count()
        # Present only while this object is bulk-loading a table whose indexes are deferred:
        # hashes of every indexed event_id, standing in for UNIQUE(event_id). Dropped (to be
        # re-read from the table when needed) whenever it might not match the table.
        self._bulk: _BulkGuard | None = None
        self._checkpoint_pages = _CHECKPOINT_PAGES

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, db_path: Path, *, vault_uid: str) -> EventIndex:
        """Open (creating dirs and schema as needed) the index at ``db_path``.

        A database of another schema version or another vault is rebuilt empty; so is a file
        that is not an SQLite database at all. The caller then re-indexes from the log.
        """
        db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls._open_once(db_path, vault_uid)
        except sqlite3.DatabaseError as exc:
            # OperationalError (locked, read-only, disk full...) is a real problem to
            # report; anything else here means "not a database" or corruption, and a cache
            # may simply be thrown away.
            if isinstance(exc, sqlite3.OperationalError):
                raise
            log.warning("index %s is unreadable (%s); recreating it", db_path, exc)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(db_path) + suffix).unlink(missing_ok=True)
            return cls._open_once(db_path, vault_uid)

    @classmethod
    def _open_once(cls, db_path: Path, vault_uid: str) -> EventIndex:
        # isolation_level=None: the driver never opens implicit transactions, so every
        # transaction is one we began explicitly (BEGIN IMMEDIATE or a sqlite-utils
        # savepoint) and nothing commits behind our back.
        conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        try:
            db = Database(conn, execute_plugins=False)
            db.enable_wal()
            # WAL + NORMAL: a commit is durable against process crashes, and at worst the
            # last transactions are lost on power loss; acceptable for a rebuildable cache
            # and it removes the fsync from every single-event append.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            db.execute("PRAGMA temp_store=MEMORY")
            index = cls(db, db_path, vault_uid)
            index._prepare_schema()
        except BaseException:
            conn.close()
            raise
        return index

    def _prepare_schema(self) -> None:
        # IMMEDIATE so two processes opening the same index at once cannot both decide to
        # drop-and-create.
        with self.transaction():
            tables = set(self._db.table_names())
            if "meta" in tables:
                meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
                version, uid = meta.get("schema_version"), meta.get("vault_uid")
                if version == SCHEMA_VERSION and uid == self.vault_uid and "events" in tables:
                    return
                log.warning(
                    "index %s has schema_version=%r vault_uid=%r, want %r/%r; rebuilding it",
                    self.path,
                    version,
                    uid,
                    SCHEMA_VERSION,
                    self.vault_uid,
                )
            elif tables:
                log.warning("index %s has no meta table; rebuilding it", self.path)
            self._drop_everything()
            self._create_schema()

    def _drop_everything(self) -> None:
        # Drop every table, not only ours: a future schema version may have added tables
        # that would otherwise linger forever. Dropping a table drops its indexes.
        for name in self._db.table_names():
            if not name.startswith("sqlite_"):
                self._conn.execute(f'DROP TABLE IF EXISTS "{name}"')

    def _create_schema(self) -> None:
        self._db.table("meta").create({"key": str, "value": str}, pk="key")
        events = self._db.table("events")
        events.create(
            {
                "pos": int,
                "event_id": str,
                "type": str,
                "actor": str,
                "actor_key_id": str,
                "timestamp_utc": str,
                "namespace": str,
                "subject": str,
                "predicate": str,
                "prev_event_hash": str,
                "offset": int,
                "length": int,
                "first_seen_utc": str,
            },
            # INTEGER PRIMARY KEY makes pos the rowid: rows are stored in log order and
            # paging by pos is a direct b-tree range walk.
            pk="pos",
            column_order=list(_COLUMNS),
            not_null={"event_id", "offset", "length", "first_seen_utc"},
        )
        # No indexes yet: the table is empty, so they are deferred (see the module doc).
        initial_meta: list[dict[str, Any]] = [
            {"key": "schema_version", "value": SCHEMA_VERSION},
            {"key": "vault_uid", "value": self.vault_uid},
            {"key": "log_bytes", "value": "0"},
            {"key": "event_count", "value": "0"},
            {"key": "last_line_sha256", "value": None},
        ]
        self._db.table("meta").insert_all(initial_meta)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._lock:
            with self._readers_lock:
                for conn, busy in self._readers:
                    with busy:
                        conn.close()
                self._readers.clear()
            self._db.close()

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def _reading(self, *, indexed: bool | frozenset[str] = False
                 ) -> Iterator[sqlite3.Connection]:
        """The connection a read goes through. The main one when its lock is free or held
        by this thread (which then sees its own uncommitted writes). When another thread
        holds it (a writer indexing a batch, a long query), this thread's own connection:
        in WAL mode a reader sees the last commit and never waits for a writer, so a read
        on the GUI thread is never stuck behind a write on another thread (on a
        million-event vault those waits were GUI stalls of 0.2-0.3 s). ``indexed``: the
        query needs the secondary indexes (True: all of them; or the names of those it
        uses), built first if a bulk load deferred them (a write: that case waits for the
        lock). Naming them matters right after a rebuild: opening a vault looks up a few
        ids and each actor's newest event, which need two of the eight indexes; building
        the other six is left to the first query that uses them (or to ensure_indexes in
        the background), not paid by the open."""
        needed = _INDEX_NAMES if indexed is True else indexed or frozenset()
        if self._lock.acquire(blocking=False):
            try:
                if needed:
                    self._needs_indexes(needed)
                yield self._conn
            finally:
                self._lock.release()
            return
        conn, busy = self._reader()
        with busy:
            built = not needed or needed <= self._built_index_names(conn)
            if built:
                yield conn
                return
        with self._lock:
            self._needs_indexes(needed)
            yield self._conn

    def _reader(self) -> tuple[sqlite3.Connection, threading.RLock]:
        reader: tuple[sqlite3.Connection, threading.RLock] | None = getattr(
            self._local, "reader", None)
        if reader is None:
            # check_same_thread=False only so that close() may close it from another
            # thread; it is used by the thread that made it and no other.
            conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA cache_size = -8192")
            reader = self._local.reader = (conn, threading.RLock())
            with self._readers_lock:
                self._readers.append(reader)
        return reader

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: ``BEGIN IMMEDIATE`` ... ``COMMIT``, ``ROLLBACK`` on any error.

        Nested use (including the implicit one inside :meth:`append`/:meth:`truncate`)
        becomes a savepoint, so ``with index.transaction(): truncate(...); append(...)``
        commits both or neither.
        """
        with self._lock:
            if self._conn.in_transaction:
                name = f"event_index_{next(self._savepoints)}"
                self._conn.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    # The bulk guard may now describe rows that no longer exist.
                    self._bulk = None
                    # An error may already have destroyed the whole transaction (e.g.
                    # SQLITE_FULL); then there is no savepoint left to roll back to.
                    if self._conn.in_transaction:
                        self._conn.execute(f"ROLLBACK TO {name}")
                        self._conn.execute(f"RELEASE {name}")
                    raise
                self._conn.execute(f"RELEASE {name}")
                return
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads
            # meta first and then writes can fail with SQLITE_BUSY on the upgrade if
            # another process (CLI next to the GUI) wrote in between.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._bulk = None
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ coverage

    def _meta(self, conn: sqlite3.Connection) -> dict[str, str | None]:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
        return {str(k): (None if v is None else str(v)) for k, v in rows}

    def coverage(self) -> Coverage:
        with self._reading() as conn:
            meta = self._meta(conn)
        return Coverage(
            event_count=int(meta.get("event_count") or 0),
            log_bytes=int(meta.get("log_bytes") or 0),
            last_line_sha256=meta.get("last_line_sha256"),
        )

    def _set_coverage(self, event_count: int, log_bytes: int, sha: str | None) -> None:
        self._conn.executemany(
            _SET_META_SQL,
            [
                ("event_count", str(event_count)),
                ("log_bytes", str(log_bytes)),
                ("last_line_sha256", sha),
            ],
        )

    @staticmethod
    def _check_log_bytes(log_bytes: int) -> None:
        if isinstance(log_bytes, bool) or not isinstance(log_bytes, int) or log_bytes < 0:
            raise ValueError(f"log_bytes must be a non-negative int, got {log_bytes!r}")

    # ------------------------------------------------------------------ deferred indexes

    def _built_index_names(self, conn: sqlite3.Connection | None = None) -> frozenset[str]:
        # Asked of sqlite_master every time (tens of microseconds) rather than cached, so
        # that a reset done through another connection can never leave this one appending
        # unguarded into an index-less table.
        return frozenset(
            str(r[0])
            for r in (conn or self._conn).execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
            )
        )

    def _set_checkpoint_pages(self, pages: int) -> None:
        if self._checkpoint_pages != pages:
            self._conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
            self._checkpoint_pages = pages

    def _has_indexes(self, names: frozenset[str]) -> bool:
        with self._reading() as conn:
            return names <= self._built_index_names(conn)

    def _indexes_built(self, conn: sqlite3.Connection | None = None) -> bool:
        return self._built_index_names(conn) >= _INDEX_NAMES

    def indexes_built(self) -> bool:
        """False while a bulk load has the secondary indexes deferred."""
        with self._lock:
            return self._indexes_built()

    def ensure_indexes(self) -> None:
        """Build the deferred indexes now (a few seconds per million rows); else a no-op.

        Called implicitly by the first small append or filtered read; a vault may call it
        itself right after a rebuild so that the cost is not paid by the first GUI query.
        """
        with self._lock:
            if self._indexes_built():
                return
            with self.transaction():
                self._build_indexes()

    def _build_indexes(self, names: frozenset[str] = _INDEX_NAMES) -> None:
        started = time.perf_counter()
        events = self._db.table("events")
        try:
            for name, columns, unique in _INDEXES:
                if name in names:
                    events.create_index(
                        list(columns), index_name=name, unique=unique, if_not_exists=True
                    )
        except sqlite3.IntegrityError as exc:
            # Unreachable through this class (the bulk guard rejects duplicates first);
            # possible only if another writer bypassed it.
            raise ValueError(f"cannot build the event index: {exc}") from exc
        if self._indexes_built():
            self._bulk = None  # UNIQUE(event_id) and every index are SQLite's again
            self._set_checkpoint_pages(_CHECKPOINT_PAGES)
        elapsed = time.perf_counter() - started
        if elapsed > 0.5:
            log.info("built deferred indexes of %s in %.1f s", self.path, elapsed)

    def _drop_indexes(self) -> None:
        # Called when the table was emptied or mostly truncated, i.e. just before a bulk
        # refill: the refill then skips index upkeep and the indexes are built once after.
        for name in sorted(_INDEX_NAMES):
            self._conn.execute(f'DROP INDEX IF EXISTS "{name}"')

    def _needs_indexes(self, names: frozenset[str] = _INDEX_NAMES) -> None:
        # Reads that filter or look up by id build the deferred indexes they use first:
        # one sort now beats a full table scan on every call.
        if not names <= self._built_index_names():
            with self.transaction():
                self._build_indexes(names)

    def _seed_guard(self, event_count: int) -> _BulkGuard:
        ids = self._conn.execute("SELECT event_id FROM events")
        return _BulkGuard(event_count=event_count, id_hashes={hash(r[0]) for r in ids})

    def _check_unique_ids(self, rows: Sequence[IndexRow], guard: _BulkGuard) -> set[int]:
        """Raise ValueError on an event_id already indexed or repeated within ``rows``;
        return the hashes of the batch's ids (for the guard, once they are written).

        Set operations over the whole batch, in C: a Python test per row was a tenth of a
        rebuild. Only a batch that looks suspect (a repeat, or a hash the guard knows:
        a duplicate or a 64-bit collision) is walked row by row to confirm exactly."""
        ids = list(map(_EVENT_ID, rows))
        hashes = set(map(hash, ids))
        if len(hashes) == len(ids) and guard.id_hashes.isdisjoint(hashes):
            return hashes
        batch_ids: set[str] = set()
        for row in rows:
            event_id = row.event_id
            if event_id in batch_ids or (
                hash(event_id) in guard.id_hashes
                # A hash hit is confirmed exactly; a scan, but only on a real duplicate
                # or a 64-bit hash collision.
                and self._conn.execute(
                    "SELECT 1 FROM events WHERE event_id = ?", (event_id,)
                ).fetchone()
                is not None
            ):
                raise ValueError(
                    f"cannot index rows: duplicate event_id {event_id!r} at position {row.pos}"
                )
            batch_ids.add(event_id)
        return hashes

    # ------------------------------------------------------------------ writes

    def append(
        self, rows: Sequence[IndexRow], *, log_bytes: int, last_line_sha256: str | None
    ) -> None:
        """Index ``rows`` (the log's next lines) and record the new coverage, atomically.

        ``rows[0].pos`` must equal the current event count and positions must be
        consecutive: a gap would make pos disagree with the line number, which is what
        every offset lookup and every page boundary relies on. A duplicate event_id is a
        ValueError too. Nothing is written when either is raised.
        """
        self._check_log_bytes(log_bytes)
        with self.transaction():
            # Read inside the transaction: a truncate earlier in the same transaction has
            # already lowered the count.
            count = self.coverage().event_count
            # Compared as whole lists (C speed); walked only to name the first gap.
            if list(map(_POS, rows)) != list(range(count, count + len(rows))):
                for i, row in enumerate(rows):
                    if row.pos != count + i:
                        raise ValueError(
                            f"index rows must continue at position {count + i}, got {row.pos}"
                        )
            if rows and log_bytes < rows[-1].offset + rows[-1].length:
                raise ValueError(
                    f"log_bytes={log_bytes} ends before the last row "
                    f"(offset {rows[-1].offset} + length {rows[-1].length})"
                )
            guard = self._bulk_guard(count, len(rows))
            hashes = self._check_unique_ids(rows, guard) if guard is not None else None
            self._set_checkpoint_pages(_BULK_CHECKPOINT_PAGES if guard is not None
                                       else _CHECKPOINT_PAGES)
            # Plain executemany of prepared tuples rather than Table.insert_all: sqlite-utils
            # caps multi-row INSERTs at 999 bound variables (76 rows of 13 columns), and
            # converts every value and opens a savepoint per chunk, which makes a
            # million-row rebuild several times slower. Schema creation still goes through
            # sqlite-utils.
            try:
                self._conn.executemany(_INSERT_SQL, rows)
            except sqlite3.IntegrityError as exc:
                # The only constraint a position-checked row can break is UNIQUE(event_id):
                # the same event twice in the log. Surface it as a value problem.
                raise ValueError(f"cannot index rows: {exc}") from exc
            self._set_coverage(count + len(rows), log_bytes, last_line_sha256)
            if guard is not None and hashes is not None:
                guard.id_hashes |= hashes
                guard.event_count = count + len(rows)

    def _bulk_guard(self, count: int, n_rows: int) -> _BulkGuard | None:
        """The guard to append ``n_rows`` with indexes deferred, or None to use the indexes.

        A small batch means the bulk load is over: the deferred indexes are built now.
        """
        if self._indexes_built():
            self._bulk = None
            return None
        if n_rows < self.bulk_min_rows:
            self._build_indexes()
            return None
        guard = self._bulk
        if guard is None or guard.event_count != count:
            # No guard yet, or one that no longer describes the table (rolled back,
            # truncated, another process, a previous run): re-read the ids. One scan of
            # the ids is far cheaper than building the indexes and going row by row.
            guard = self._bulk = self._seed_guard(count)
        return guard

    def truncate(self, from_pos: int, *, log_bytes: int, last_line_sha256: str | None) -> None:
        """Forget rows at ``pos >= from_pos`` (the log's tail was rewritten from there)."""
        self._check_log_bytes(log_bytes)
        with self.transaction():
            count = self.coverage().event_count
            if isinstance(from_pos, bool) or not 0 <= from_pos <= count:
                raise ValueError(f"truncate position {from_pos} is outside 0..{count}")
            if from_pos == 0:
                self._clear()
            else:
                removed = count - from_pos
                if removed >= self.bulk_min_rows and 2 * removed >= count:
                    # Most of the table goes and the caller is about to re-append it: a
                    # bulk load again. Deleting without the indexes is also far cheaper.
                    self._drop_indexes()
                self._conn.execute("DELETE FROM events WHERE pos >= ?", (from_pos,))
                # The guard still holds the forgotten ids; the next bulk append re-seeds it.
                self._bulk = None
            self._set_coverage(from_pos, log_bytes, last_line_sha256)

    def reset(self) -> None:
        """Delete every row; coverage becomes zero (the caller re-indexes from scratch)."""
        with self.transaction():
            self._clear()
            self._set_coverage(0, 0, None)

    def _clear(self) -> None:
        # Drop the indexes before the rows: deleting a million rows then costs one table
        # truncation instead of seven b-tree purges, and the refill that follows is a bulk
        # load with deferred indexes.
        self._drop_indexes()
        self._conn.execute("DELETE FROM events")
        self._bulk = None

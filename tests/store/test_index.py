"""EventIndex: the SQLite index of a vault's event log (real SQLite files in tmp_path)."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.store.index import (
    Coverage,
    EventIndex,
    IndexRow,
    index_path_for,
    row_from_event,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

UID = "vault-uid-1"
FIRST_SEEN = "2026-11-25T17:43:54.535031+00:00"
ACTORS = ("alice", "bob", "carol")
TYPES = ("OBSERVATION", "ASSERTION", "ATTESTATION")


def make_event(i: int, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "actor": ACTORS[i % 3],
        "actor_key_id": f"bp1_{i % 3:016x}",
        "event_id": f"evt_{hashlib.sha256(str(i).encode()).hexdigest()[:24]}",
        "namespace": "local",
        "payload": {
            "confidence": 0.9,
            "predicate": "status" if i % 2 else "location",
            "subject": f"door_{i % 5:02d}",
            "value": "open",
        },
        "prev_event_hash": None,
        "sig": "c2ln",
        "timestamp_utc": f"2026-11-25T17:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        "ts_logical": i,
        "type": TYPES[i % 3],
    }
    event.update(overrides)
    return event


class Log:
    """An in-memory NDJSON log: hands out rows with real offsets, lengths and line hashes."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.size = 0  # bytes, newlines included

    def last_sha(self) -> str | None:
        return hashlib.sha256(self.lines[-1]).hexdigest() if self.lines else None

    def add(self, events: Sequence[dict[str, Any]]) -> list[IndexRow]:
        rows = []
        for event in events:
            line = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
            rows.append(
                row_from_event(
                    event,
                    pos=len(self.lines),
                    offset=self.size,
                    length=len(line),
                    first_seen_utc=FIRST_SEEN,
                )
            )
            self.lines.append(line)
            self.size += len(line) + 1
        return rows

    def cut(self, pos: int) -> None:
        del self.lines[pos:]
        self.size = sum(len(line) + 1 for line in self.lines)

    def append_to(self, index: EventIndex, events: Sequence[dict[str, Any]]) -> list[IndexRow]:
        rows = self.add(events)
        index.append(rows, log_bytes=self.size, last_line_sha256=self.last_sha())
        return rows


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "index" / "test.sqlite"


@pytest.fixture
def index(db_path: Path) -> Iterator[EventIndex]:
    with EventIndex.open(db_path, vault_uid=UID) as idx:
        yield idx


@pytest.fixture
def filled(index: EventIndex) -> tuple[EventIndex, list[IndexRow]]:
    """150 events: one batch of 100, then 50 single-row appends (indexes built)."""
    log = Log()
    rows = log.append_to(index, [make_event(i) for i in range(100)])
    for i in range(100, 150):
        rows += log.append_to(index, [make_event(i)])
    return index, rows


def all_pages(index: EventIndex, page: int, **filters: Any) -> list[IndexRow]:
    """Walk a filter with keyset paging, asserting every page is ordered and sized."""
    out: list[IndexRow] = []
    after = -1
    while True:
        chunk = index.query(after_pos=after, limit=page, **filters)
        assert len(chunk) <= page
        if not chunk:
            return out
        out += chunk
        after = chunk[-1].pos


# ---------------------------------------------------------------- append and query


def test_open_creates_parent_dirs_and_empty_coverage(index: EventIndex, db_path: Path) -> None:
    assert db_path.is_file()
    assert index.coverage() == Coverage(event_count=0, log_bytes=0, last_line_sha256=None)
    assert index.count() == 0
    assert index.query() == []
    assert index.actor_names() == []
    assert index.row_at(0) is None


def test_wal_mode_and_schema(index: EventIndex, db_path: Path) -> None:
    Log().append_to(index, [make_event(0)])  # a small append builds the indexes
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta["schema_version"] == "1"
        assert meta["vault_uid"] == UID
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {
            "events_event_id",
            "events_actor_pos",
            "events_type_pos",
            "events_subject_predicate_pos",
            "events_timestamp_utc",
            "events_actor_key_id",
        } <= names
        cols = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
        assert cols == list(IndexRow._fields)
    finally:
        conn.close()


def test_append_records_rows_and_coverage(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    index, rows = filled
    cov = index.coverage()
    assert cov.event_count == 150
    last = rows[-1]
    assert cov.log_bytes == last.offset + last.length + 1
    assert index.count() == 150
    assert index.query() == rows
    assert index.row_at(42) == rows[42]
    assert index.row_at(150) is None
    assert index.get(rows[7].event_id) == rows[7]
    assert index.get("evt_nope") is None
    assert index.first_seen(rows[7].event_id) == FIRST_SEEN
    assert index.first_seen("evt_nope") is None


def test_row_from_event_fields() -> None:
    event = make_event(1, prev_event_hash="evt_8a6ec72ab017a7b045a37bdf")
    row = row_from_event(event, pos=5, offset=10, length=20, first_seen_utc=FIRST_SEEN)
    assert row == IndexRow(
        pos=5,
        event_id=event["event_id"],
        type="ASSERTION",
        actor="bob",
        actor_key_id=event["actor_key_id"],
        timestamp_utc=event["timestamp_utc"],
        namespace="local",
        subject="door_01",
        predicate="status",
        prev_event_hash="evt_8a6ec72ab017a7b045a37bdf",
        offset=10,
        length=20,
        first_seen_utc=FIRST_SEEN,
    )


@pytest.mark.parametrize(
    "filters",
    [
        {"actor": "alice"},
        {"type": "ATTESTATION"},
        {"subject": "door_03"},
        {"predicate": "status"},
        {"subject": "door_02", "predicate": "location"},
        {"actor": "bob", "type": "ASSERTION"},
        {"actor": "nobody"},
        {},
    ],
)
def test_query_filters_with_keyset_paging(
    filled: tuple[EventIndex, list[IndexRow]], filters: dict[str, Any]
) -> None:
    index, rows = filled
    expected = [r for r in rows if all(getattr(r, k) == v for k, v in filters.items())]
    assert index.count(**filters) == len(expected)
    assert index.query(**filters) == expected
    assert all_pages(index, 7, **filters) == expected

    # Descending pages walk the same rows newest first.
    backwards: list[IndexRow] = []
    after = -1
    while chunk := index.query(after_pos=after, limit=11, descending=True, **filters):
        backwards += chunk
        after = chunk[-1].pos
    assert backwards == expected[::-1]

    # A page starting in the middle sees only later (or earlier) positions.
    assert index.query(after_pos=75, **filters) == [r for r in expected if r.pos > 75]
    assert index.query(after_pos=75, descending=True, **filters) == [
        r for r in reversed(expected) if r.pos < 75
    ]


def test_query_limit_edges(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    index, rows = filled
    assert index.query(limit=0) == []
    assert index.query(limit=3) == rows[:3]
    assert index.query(after_pos=148) == rows[149:]
    assert index.query(after_pos=149) == []
    assert index.query(after_pos=0, descending=True) == []
    with pytest.raises(ValueError, match="limit"):
        index.query(limit=-1)


def test_actors_and_types(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    index, _ = filled
    assert index.actor_names() == ["alice", "bob", "carol"]
    assert index.types() == [("ASSERTION", 50), ("ATTESTATION", 50), ("OBSERVATION", 50)]


def test_filtered_queries_use_an_index(
    filled: tuple[EventIndex, list[IndexRow]], db_path: Path
) -> None:
    # The GUI pages a million rows: a filter must be an index range walk, never a scan
    # followed by a sort.
    conn = sqlite3.connect(db_path)
    try:
        for where, args in [
            ("actor = ? AND pos > ?", ("alice", 5)),
            ("type = ? AND pos > ?", ("ASSERTION", 5)),
            ("subject = ? AND predicate = ? AND pos > ?", ("door_01", "status", 5)),
        ]:
            plan = " ".join(
                str(r[3])
                for r in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT * FROM events WHERE {where} ORDER BY pos LIMIT 9",
                    args,
                )
            )
            assert "USING" in plan, plan
            assert "INDEX" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()


# ---------------------------------------------------------------- positions


def test_positions_must_continue_the_log(index: EventIndex) -> None:
    log = Log()
    log.append_to(index, [make_event(i) for i in range(3)])
    before = index.coverage()
    good = row_from_event(make_event(3), pos=3, offset=999, length=5, first_seen_utc=FIRST_SEEN)
    for bad in (
        [good._replace(pos=4)],
        [good._replace(pos=2)],
        [good, good._replace(pos=5, event_id="evt_other")],  # a gap after a good row
        [good, good._replace(event_id="evt_other")],  # the same position twice
    ):
        with pytest.raises(ValueError, match="position"):
            index.append(bad, log_bytes=2000, last_line_sha256="x")
    assert index.coverage() == before
    assert index.count() == 3
    assert index.row_at(3) is None


def test_append_rejects_log_bytes_short_of_the_rows(index: EventIndex) -> None:
    rows = Log().add([make_event(0)])
    with pytest.raises(ValueError, match="log_bytes"):
        index.append(rows, log_bytes=rows[0].length - 1, last_line_sha256=None)
    with pytest.raises(ValueError, match="log_bytes"):
        index.append([], log_bytes=-1, last_line_sha256=None)
    assert index.coverage().event_count == 0


def test_empty_append_only_moves_coverage(index: EventIndex) -> None:
    index.append([], log_bytes=12, last_line_sha256="abc")
    assert index.coverage() == Coverage(event_count=0, log_bytes=12, last_line_sha256="abc")


def test_duplicate_event_id_is_a_value_error(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    index, rows = filled
    dup = rows[10]._replace(pos=150)
    with pytest.raises(ValueError, match="event_id"):
        index.append([dup], log_bytes=10**9, last_line_sha256=None)
    assert index.coverage().event_count == 150


# ---------------------------------------------------------------- truncate / transactions


def test_truncate_and_reappend_in_one_transaction(index: EventIndex) -> None:
    log = Log()
    log.append_to(index, [make_event(i) for i in range(50)])
    # An older event arrives and belongs at position 20: the tail is rewritten.
    log.cut(20)
    with index.transaction():
        index.truncate(20, log_bytes=log.size, last_line_sha256=log.last_sha())
        assert index.coverage().event_count == 20
        new_tail = log.append_to(index, [make_event(1000)] + [make_event(i) for i in range(20, 50)])
    assert index.coverage() == Coverage(51, log.size, log.last_sha())
    assert index.row_at(20) == new_tail[0]
    assert index.get(make_event(1000)["event_id"]) == new_tail[0]
    assert index.get(make_event(49)["event_id"]) == new_tail[-1]
    assert [r.pos for r in index.query()] == list(range(51))


def test_failed_transaction_rolls_back_everything(index: EventIndex) -> None:
    log = Log()
    rows = log.append_to(index, [make_event(i) for i in range(30)])
    before = index.coverage()

    class Boom(Exception):
        pass

    def rewrite_then_fail() -> None:
        with index.transaction():
            index.truncate(10, log_bytes=rows[10].offset, last_line_sha256=None)
            index.append(
                Log().add([make_event(i) for i in range(11)])[10:],
                log_bytes=10**6,
                last_line_sha256="new",
            )
            assert index.coverage().event_count == 11
            raise Boom

    with pytest.raises(Boom):
        rewrite_then_fail()
    assert index.coverage() == before
    assert index.query() == rows
    # The connection is usable afterwards (no transaction left open).
    log.append_to(index, [make_event(30)])
    assert index.coverage().event_count == 31


def test_failed_append_inside_transaction_keeps_earlier_work_of_the_transaction(
    index: EventIndex,
) -> None:
    log = Log()
    log.append_to(index, [make_event(i) for i in range(5)])
    with index.transaction():
        log.append_to(index, [make_event(5)])
        with pytest.raises(ValueError, match="position"):
            index.append(Log().add([make_event(99)]), log_bytes=10**6, last_line_sha256=None)
    assert index.coverage().event_count == 6


def test_truncate_bounds(index: EventIndex) -> None:
    Log().append_to(index, [make_event(i) for i in range(5)])
    for bad in (-1, 6):
        with pytest.raises(ValueError, match="truncate"):
            index.truncate(bad, log_bytes=0, last_line_sha256=None)
    index.truncate(5, log_bytes=7, last_line_sha256="s")  # a no-op on rows
    assert index.coverage() == Coverage(5, 7, "s")


def test_reset(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    index, _ = filled
    index.reset()
    assert index.coverage() == Coverage(0, 0, None)
    assert index.query() == []
    assert index.actor_names() == []
    Log().append_to(index, [make_event(0)])
    assert index.count() == 1


# ---------------------------------------------------------------- bulk loads

# The bulk path is exercised with a small threshold to keep these tests fast.
BULK_MIN_ROWS = 50


def test_default_bulk_threshold() -> None:
    # Small catch-ups (a sync, a few appends) keep the indexes; only real bulk loads defer.
    assert EventIndex.bulk_min_rows >= 1000


def test_bulk_load_defers_indexes_and_matches_row_by_row(tmp_path: Path) -> None:
    events = [make_event(i) for i in range(2 * BULK_MIN_ROWS + 10)]
    with EventIndex.open(tmp_path / "bulk.sqlite", vault_uid=UID) as bulk:
        bulk.bulk_min_rows = BULK_MIN_ROWS
        log = Log()
        log.append_to(bulk, events[:BULK_MIN_ROWS])
        log.append_to(bulk, events[BULK_MIN_ROWS : 2 * BULK_MIN_ROWS])
        assert not bulk.indexes_built()
        # Unfiltered paging works without the deferred indexes (and does not build them).
        assert [r.pos for r in bulk.query(after_pos=59, limit=3)] == [60, 61, 62]
        assert not bulk.indexes_built()
        # A small append ends the bulk load.
        log.append_to(bulk, events[2 * BULK_MIN_ROWS :])
        assert bulk.indexes_built()
        bulk_rows = bulk.query()
        bulk_actors = bulk.actor_names()
    with EventIndex.open(tmp_path / "slow.sqlite", vault_uid=UID) as slow:
        slow.bulk_min_rows = BULK_MIN_ROWS
        log = Log()
        log.append_to(slow, events[:1])
        log.append_to(slow, events[1:])
        assert slow.indexes_built()
        assert slow.query() == bulk_rows
        assert slow.actor_names() == bulk_actors


def built_indexes(index: EventIndex) -> set[str]:
    with sqlite3.connect(index.path) as conn:
        return {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
            "AND name NOT LIKE 'sqlite_%'")}


def test_filtered_read_builds_the_deferred_indexes_it_uses(index: EventIndex) -> None:
    """Only those: opening a vault right after a rebuild looks up ids and each actor's
    newest event, and must not wait for all eight indexes (the rest are built by the
    first query that walks them, or by ensure_indexes)."""
    index.bulk_min_rows = BULK_MIN_ROWS
    rows = Log().append_to(index, [make_event(i) for i in range(BULK_MIN_ROWS)])
    assert not index.indexes_built()
    assert built_indexes(index) == set()
    assert index.query(actor="bob", limit=2) == [rows[1], rows[4]]
    assert built_indexes(index) == {"events_actor_pos"}
    assert index.get(rows[7].event_id) == rows[7]
    assert index.actor_names() == ["alice", "bob", "carol"]
    assert built_indexes(index) == {"events_actor_pos", "events_event_id"}
    assert index.count(type="ASSERTION", subject="door_01") == len(
        [r for r in rows if r.type == "ASSERTION" and r.subject == "door_01"])
    assert built_indexes(index) == {"events_actor_pos", "events_event_id", "events_type_pos",
                                    "events_subject_predicate_pos"}
    assert not index.indexes_built()
    assert index.time_bounds() is not None  # a timeline query: every index
    assert index.indexes_built()


def test_chain_heads_right_after_a_bulk_load_need_no_index(index: EventIndex) -> None:
    """What opening a vault asks first (its actors, each one's newest event): answered by
    scanning, exactly as the indexes answer it, without building any."""
    index.bulk_min_rows = BULK_MIN_ROWS
    # alice's events all come first: her head is found by the longest walk back.
    rows = Log().append_to(index, [make_event(i, actor=["alice", "bob", "carol", "dan"][
        min(3, i // 12)]) for i in range(BULK_MIN_ROWS)])
    names = index.actor_names()
    heads = [index.query(actor=a, descending=True, limit=2) for a in names]
    assert built_indexes(index) == set()
    index.ensure_indexes()
    assert names == index.actor_names() == ["alice", "bob", "carol", "dan"]
    assert heads == [index.query(actor=a, descending=True, limit=2) for a in names]
    assert heads[0] == [rows[11], rows[10]]


def test_appends_stay_unique_while_some_indexes_are_deferred(index: EventIndex) -> None:
    index.bulk_min_rows = BULK_MIN_ROWS
    log = Log()
    log.append_to(index, [make_event(i) for i in range(BULK_MIN_ROWS)])
    index.query(actor="bob", limit=1)  # one index built, the others deferred
    batch = Log().add([make_event(0)] * BULK_MIN_ROWS
                      + [make_event(i) for i in range(BULK_MIN_ROWS, 2 * BULK_MIN_ROWS - 1)]
                      + [make_event(3)])[BULK_MIN_ROWS:]
    with pytest.raises(ValueError, match="duplicate event_id"):
        index.append(batch, log_bytes=10**9, last_line_sha256=None)
    assert index.count() == BULK_MIN_ROWS
    log.append_to(index, [make_event(i) for i in range(BULK_MIN_ROWS, BULK_MIN_ROWS + 3)])
    assert index.indexes_built()  # a small append ends the bulk load: all of them


def test_bulk_load_rejects_duplicate_event_ids(index: EventIndex) -> None:
    index.bulk_min_rows = BULK_MIN_ROWS
    log = Log()
    log.append_to(index, [make_event(i) for i in range(BULK_MIN_ROWS)])
    # A duplicate of an already indexed id, and one inside the new batch.
    for dup_at in (0, BULK_MIN_ROWS + 5):
        batch = [make_event(i) for i in range(BULK_MIN_ROWS, 2 * BULK_MIN_ROWS)]
        batch[-1] = make_event(dup_at)
        rows = Log().add([make_event(0)] * BULK_MIN_ROWS + batch)[BULK_MIN_ROWS:]
        with pytest.raises(ValueError, match="duplicate event_id"):
            index.append(rows, log_bytes=10**9, last_line_sha256=None)
        assert index.coverage().event_count == BULK_MIN_ROWS
    index.ensure_indexes()
    assert index.indexes_built()
    assert index.count() == BULK_MIN_ROWS


def test_large_truncate_defers_then_rebuilds(index: EventIndex) -> None:
    index.bulk_min_rows = BULK_MIN_ROWS
    log = Log()
    log.append_to(index, [make_event(i) for i in range(3)])  # small: indexes built
    log.append_to(index, [make_event(i) for i in range(3, 2 * BULK_MIN_ROWS)])
    assert index.indexes_built()
    log.cut(2)
    with index.transaction():
        index.truncate(2, log_bytes=log.size, last_line_sha256=log.last_sha())
        log.append_to(index, [make_event(i) for i in range(5000, 5000 + BULK_MIN_ROWS)])
    assert not index.indexes_built()
    assert index.get(make_event(5000)["event_id"]) is not None  # builds the id index
    assert index.count(actor="alice") == len([r for r in index.query() if r.actor == "alice"])
    index.ensure_indexes()
    assert index.indexes_built()


# ---------------------------------------------------------------- reopen and rebuild


def test_reopen_keeps_rows_and_coverage(db_path: Path) -> None:
    log = Log()
    with EventIndex.open(db_path, vault_uid=UID) as index:
        rows = log.append_to(index, [make_event(i) for i in range(20)])
        cov = index.coverage()
    with EventIndex.open(db_path, vault_uid=UID) as index:
        assert index.coverage() == cov
        assert cov.last_line_sha256 == log.last_sha()
        assert index.query() == rows
        log.append_to(index, [make_event(20)])
        assert index.coverage().event_count == 21


def test_other_vault_uid_rebuilds(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with EventIndex.open(db_path, vault_uid=UID) as index:
        Log().append_to(index, [make_event(i) for i in range(5)])
    with caplog.at_level(logging.WARNING), EventIndex.open(db_path, vault_uid="other") as index:
        assert index.coverage() == Coverage(0, 0, None)
        assert index.query() == []
    assert "rebuilding" in caplog.text


def test_other_schema_version_rebuilds(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with EventIndex.open(db_path, vault_uid=UID) as index:
        Log().append_to(index, [make_event(i) for i in range(5)])
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
        conn.execute("CREATE TABLE leftover_from_v0 (x)")
    conn.close()
    with caplog.at_level(logging.WARNING), EventIndex.open(db_path, vault_uid=UID) as index:
        assert index.coverage().event_count == 0
        assert index.query() == []
        Log().append_to(index, [make_event(0)])
    assert "rebuilding" in caplog.text
    conn = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"meta", "events"}
        assert dict(conn.execute("SELECT key, value FROM meta"))["schema_version"] == "1"
    finally:
        conn.close()


def test_a_file_that_is_not_a_database_is_replaced(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite" * 100)
    with EventIndex.open(db_path, vault_uid=UID) as index:
        assert index.coverage().event_count == 0
        Log().append_to(index, [make_event(0)])
        assert index.count() == 1


# ---------------------------------------------------------------- foreign, odd-typed events


def test_odd_typed_fields_do_not_crash(index: EventIndex) -> None:
    odd: list[dict[str, Any]] = [
        {"event_id": "evt_a", "payload": "not a dict", "type": 7},
        {"event_id": "evt_b", "payload": {"subject": 42, "predicate": ["p"]}, "actor": None},
        {"event_id": "evt_c", "payload": None, "timestamp_utc": 1700000000, "namespace": {}},
        {"event_id": 12345, "actor": "dave", "payload": {"subject": True}},
        {},  # nothing at all, not even an event_id
        {"payload": {}},
        {"event_id": "evt_g", "actor_key_id": 3.5, "prev_event_hash": False, "type": "X"},
    ]
    rows = Log().append_to(index, odd)
    a, b, c, d, e, f, g = index.query()
    assert (a.type, a.subject, a.predicate, a.actor) == (None, None, None, None)
    assert (b.subject, b.predicate, b.actor) == ("42", "['p']", None)
    assert (c.timestamp_utc, c.namespace) == (None, None)
    assert (d.event_id, d.actor, d.subject) == ("12345", "dave", "True")
    assert e.event_id != f.event_id  # placeholders stay unique
    assert (g.actor_key_id, g.prev_event_hash, g.type) == (None, None, "X")
    assert index.query() == rows
    assert index.count(subject="42") == 1
    assert index.query(subject="42") == [b]
    assert index.actor_names() == ["dave"]
    assert index.types() == [("X", 1)]
    not_an_object = row_from_event(
        ["a", "list"],  # type: ignore[arg-type]
        pos=7,
        offset=0,
        length=1,
        first_seen_utc=FIRST_SEEN,
    )
    assert not_an_object.actor is None


# ---------------------------------------------------------------- where the index lives


def test_index_path_for_is_outside_the_vault_and_per_vault_copy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    vault_a = tmp_path / "vaults" / "a"
    vault_b = tmp_path / "vaults" / "b"
    path_a = index_path_for(home, vault_a, "uid")
    assert path_a.parent == home / "index"
    assert path_a.suffix == ".sqlite"
    assert len(path_a.stem) == 24
    assert not path_a.resolve().is_relative_to(vault_a.resolve())
    # Two copies of one vault (same uid) get separate indexes; so do two vaults at one path.
    assert index_path_for(home, vault_b, "uid") != path_a
    assert index_path_for(home, vault_a, "uid2") != path_a
    # Deterministic, and the same for a relative spelling of the same directory.
    assert index_path_for(home, vault_a, "uid") == path_a
    assert index_path_for(home, vault_a / ".." / "a", "uid") == path_a
    expected = hashlib.sha256(f"{vault_a.resolve()}\0uid".encode()).hexdigest()[:24]
    assert path_a.name == f"{expected}.sqlite"


def test_index_path_inside_the_vault_is_refused(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    with pytest.raises(ValueError, match="outside the vault"):
        index_path_for(vault / "cache", vault, "uid")


def test_reads_from_another_thread(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    # The GUI pages from a worker thread while the vault (one writer) owns the object.
    index, rows = filled
    results: list[list[IndexRow]] = []
    worker = threading.Thread(target=lambda: results.append(index.query(actor="carol")))
    worker.start()
    worker.join(timeout=10)
    assert results == [[r for r in rows if r.actor == "carol"]]


def test_key_ids(filled: tuple[EventIndex, list[IndexRow]]) -> None:
    index, _ = filled
    assert index.key_ids() == [(f"bp1_{k:016x}", 50) for k in range(3)]


def test_first_pos_sorting_after(index: EventIndex) -> None:
    events = [
        make_event(0, timestamp_utc="2026-01-01T00:00:01Z", event_id="evt_a"),
        make_event(1, timestamp_utc="2026-01-01T00:00:02Z", event_id="evt_b"),
        make_event(2, timestamp_utc="2026-01-01T00:00:02Z", event_id="evt_d"),
        make_event(3, event_id="evt_c", timestamp_utc=None),  # sorts as "" in order_key
        make_event(4, timestamp_utc="2026-01-01T00:00:03Z", event_id="evt_e"),
    ]
    Log().append_to(index, events)
    after = index.first_pos_sorting_after
    assert after(-1, ("2026-01-01T00:00:09Z", "evt_z")) is None  # the usual case: goes last
    assert after(-1, ("2026-01-01T00:00:02Z", "evt_c")) == 2  # tie on time, id decides
    assert after(-1, ("2026-01-01T00:00:00Z", "evt_z")) == 0
    assert after(2, ("2026-01-01T00:00:00Z", "evt_z")) == 4  # only positions > after_pos
    assert after(-1, ("", "evt_b")) == 0  # no timestamp: every stamped event sorts after
    assert after(2, ("", "evt_b")) == 3  # ... and an unstamped one by event_id
    assert after(2, ("", "evt_c")) == 4


def test_reads_on_other_threads_do_not_wait_for_a_write_in_progress(index: EventIndex) -> None:
    """A writer thread holding the index (a batch being indexed) must not freeze a reader
    (the GUI thread): the reader sees the last committed state at once, and the new rows
    once they are committed."""
    log = Log()
    log.append_to(index, [make_event(i) for i in range(20)])
    written, release = threading.Event(), threading.Event()

    def writer() -> None:
        with index.transaction():
            log.append_to(index, [make_event(i) for i in range(20, 30)])
            written.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert written.wait(10)
        # With one shared connection these would wait for the writer's release (10 s) and
        # then see its rows; they must answer now, from the last commit.
        assert index.count() == 20
        assert index.get(str(make_event(25)["event_id"])) is None
        assert [r.pos for r in index.query(after_pos=17)] == [18, 19]
        assert index.count(actor=str(make_event(0)["actor"])) >= 1
        assert not release.is_set()
    finally:
        release.set()
        t.join()
    assert index.count() == 30
    assert index.get(str(make_event(25)["event_id"])) is not None

"""store.index_build: the fast path that indexes a log from scratch (the first open of a vault
without an index) gives exactly the rows the line-by-line path gives, and fails the same way
on the same lines."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import InputError
from provara_desktop.core.logline import parse_line_or_raise
from provara_desktop.store import index_build
from provara_desktop.store.index import EventIndex, IndexRow, row_from_event
from provara_desktop.store.index_build import IndexBuildProgress, index_log

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

NOW = "2026-12-02T01:00:00+00:00"


def event(i: int, **overrides: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "actor": f"actor{i % 3}",
        "actor_key_id": f"bp1_{i % 3:016x}",
        "event_id": f"evt_{hashlib.sha256(str(i).encode()).hexdigest()[:24]}",
        "namespace": "local",
        "payload": {"confidence": 0.5, "predicate": "status", "subject": f"door{i % 7}",
                    "value": "open"},
        "prev_event_hash": None,
        "sig": "c2ln",
        "timestamp_utc": f"2026-11-25T17:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        "ts_logical": i,
        "type": "OBSERVATION",
    }
    ev.update(overrides)
    return ev


def odd_lines() -> list[bytes]:
    """Lines of every shape the index meets: canonical ones (the fast path) and all the
    kinds that must leave it (not canonical, odd types, numbers orjson reads differently)."""
    c = canonical_bytes
    lines = [c(event(i)) for i in range(40)]
    lines += [
        # Not canonical: spaces, unsorted keys (taken by the careful parser).
        json.dumps(event(100)).encode(),
        json.dumps(dict(reversed(list(event(101).items()))), separators=(",", ":")).encode(),
        # Odd field types: numeric subject/predicate, non-str id, no id, non-dict payload,
        # non-str envelope fields.
        c(event(102, payload={"subject": 42, "predicate": 1.5, "value": 1})),
        c(event(103, event_id=12345)),
        c({k: v for k, v in event(104).items() if k != "event_id"}),
        c(event(105, payload=["not", "a", "dict"])),
        c(event(106, actor=7, type=None, namespace=["x"], timestamp_utc=1.25,
                 prev_event_hash={"a": 1})),
        c(event(107, payload={"subject": None, "predicate": True})),
        # Numbers: beyond 64 bits (orjson would make a float), 19-digit runs, exponents
        # written the two ways, -0.0.
        c(event(108, payload={"subject": "s", "predicate": "p", "value": 2**70})),
        c(event(109, payload={"subject": "s", "predicate": "p", "value": -(2**63) - 1})),
        c(event(110, payload={"subject": "s", "predicate": "p", "value": 1234567890123456789})),
        b'{"event_id":"evt_exp1","payload":{"subject":"s","predicate":"p","value":1e-7}}',
        c(event(111, payload={"subject": "s", "predicate": "p", "value": 1e-7})),
        c(event(112, payload={"subject": "s", "predicate": "p", "value": -0.0})),
        # Text: non-ASCII, escapes, control characters, U+2028.
        c(event(113, payload={"subject": "déjà vu ✓ 𝄞", "predicate": "tab\there",
                              "value": "line\nbreak \"quoted\" \\ \x01 \u2028"})),
        # Nesting at the limit the careful parser allows.
        c(event(114, payload={"subject": "s", "predicate": "p",
                              "value": json.loads("[" * 60 + "]" * 60)})),
    ]
    lines += [c(event(i)) for i in range(200, 230)]
    return lines


def write_log(path: Path, lines: list[bytes], *, blanks: bool = True) -> Path:
    out: list[bytes] = []
    for i, line in enumerate(lines):
        if blanks and i % 11 == 5:
            out += [b"", b"   ", b"\r"]  # blank lines are skipped, not indexed
        out.append(line)
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def line_by_line_rows(path: Path, *, pos: int = 0, offset: int = 0) -> list[IndexRow]:
    """What the vault indexed before the fast path: every line through the careful parser,
    every row through row_from_event."""
    rows: list[IndexRow] = []
    data = path.read_bytes()
    off = 0
    for lineno, raw in enumerate(data.split(b"\n")[:-1], 1):
        if off >= offset and raw.strip():
            ev = parse_line_or_raise(raw, where=f"{path} line {lineno}")
            rows.append(row_from_event(ev, pos=pos, offset=off, length=len(raw),
                                       first_seen_utc=NOW))
            pos += 1
        off += len(raw) + 1
    return rows


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EventIndex]:
    idx = EventIndex.open(tmp_path / "home" / "index.sqlite", vault_uid="uid-1")
    yield idx
    idx.close()


@pytest.mark.parametrize(("chunk", "batch"), [(1 << 22, 20_000), (61, 7), (1, 1)])
def test_fast_build_gives_the_line_by_line_rows(
        tmp_path: Path, index: EventIndex, monkeypatch: pytest.MonkeyPatch,
        chunk: int, batch: int) -> None:
    # Tiny read chunks and batches put line and batch boundaries everywhere.
    monkeypatch.setattr(index_build, "_CHUNK", chunk)
    index.bulk_min_rows = 1
    log = write_log(tmp_path / "events.ndjson", odd_lines())
    n = index_log(index.append, log, pos=0, offset=0, first_seen_utc=NOW, batch_rows=batch)
    expected = line_by_line_rows(log)
    assert n == len(expected)
    assert index.query() == expected
    cov = index.coverage()
    assert cov.event_count == len(expected)
    assert cov.log_bytes == log.stat().st_size
    last = log.read_bytes().split(b"\n")[-2]
    assert cov.last_line_sha256 == hashlib.sha256(last).hexdigest()
    index.ensure_indexes()  # the deferred indexes build over the same rows
    assert index.get(expected[7].event_id) == expected[7]


def test_fast_build_continues_from_an_offset(tmp_path: Path, index: EventIndex) -> None:
    lines = odd_lines()
    log = write_log(tmp_path / "events.ndjson", lines, blanks=False)
    head = line_by_line_rows(log)[:10]
    index.append(head, log_bytes=head[-1].offset + head[-1].length + 1,
                 last_line_sha256=None)
    start = head[-1].offset + head[-1].length + 1
    index_log(index.append, log, pos=10, offset=start, first_seen_utc=NOW)
    assert index.query() == line_by_line_rows(log)


def test_a_vault_rebuilt_from_its_log_has_the_rows_it_built_append_by_append(
        tmp_path: Path, home: Path) -> None:
    """The incremental path (each append indexes its own events) and a rebuild from the log
    (the fast path) agree row for row; only first_seen_utc is the rebuild's own."""
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store import evidence
    from provara_desktop.store.vault import Vault

    key = SigningKey.generate()
    vault = Vault.init(tmp_path / "v", key=key, actor="alice", home=home)
    for i in range(30):
        evidence.observe(vault, key, "alice", subject=f"door{i % 4}", predicate="status",
                         value=["open", "shut"][i % 2], confidence=0.4 + i % 5 / 10)
    evidence.retract(vault, key, "alice", subject="door1", predicate="status")
    incremental = vault.index.query()
    vault.index.reset()
    vault.sync_index()
    rebuilt = vault.index.query()
    vault.close()
    assert len(rebuilt) == len(incremental) == 33
    assert [r._replace(first_seen_utc="") for r in rebuilt] == [
        r._replace(first_seen_utc="") for r in incremental]


@pytest.mark.parametrize("bad", [
    b'{"type":"OBSERVATION","type":"GENESIS","event_id":"evt_dup"}',  # duplicate key
    b'{"event_id":"evt_nan","payload":{"confidence":NaN}}',
    b'{"event_id":"evt_deep","payload":' + b"[" * 1000 + b"]" * 1000 + b"}",
    b'["not an object"]',
    b'{"event_id": "evt_x", "broken": }',
    b'{"event_id":"evt_bad_utf8","actor":"\xff\xfe"}',
])
def test_a_bad_line_fails_as_the_careful_parser_says(
        tmp_path: Path, index: EventIndex, bad: bytes) -> None:
    lines = [canonical_bytes(event(i)) for i in range(5)]
    log = write_log(tmp_path / "events.ndjson", [*lines[:3], bad, *lines[3:]], blanks=False)
    with pytest.raises(InputError) as fast:
        index_log(index.append, log, pos=0, offset=0, first_seen_utc=NOW)
    with pytest.raises(InputError) as careful:
        parse_line_or_raise(bad, where=f"{log} line 4")
    assert str(fast.value) == str(careful.value)
    assert f"{log} line 4" in str(fast.value)
    # Whatever was indexed is a prefix of the log, recorded as such (here nothing: the
    # bad line is in the first batch).
    assert index.query() == []
    assert index.coverage().event_count == 0


def test_a_torn_last_line_is_refused_after_the_whole_lines(
        tmp_path: Path, index: EventIndex) -> None:
    lines = [canonical_bytes(event(i)) for i in range(5)]
    log = tmp_path / "events.ndjson"
    log.write_bytes(b"\n".join(lines) + b"\n" + lines[0][:20])
    with pytest.raises(InputError, match=r"line 6: the last line is torn"):
        index_log(index.append, log, pos=0, offset=0, first_seen_utc=NOW)
    assert index.count() == 5
    assert index.coverage().log_bytes == len(b"\n".join(lines)) + 1


def test_a_repeated_event_is_refused_and_nothing_of_its_batch_is_indexed(
        tmp_path: Path, index: EventIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_build, "_CHUNK", 64)  # a batch can end after any line
    lines = [canonical_bytes(event(i)) for i in range(6)]
    log = write_log(tmp_path / "events.ndjson", [*lines, lines[2]], blanks=False)
    index.bulk_min_rows = 1
    with pytest.raises(ValueError, match="duplicate event_id"):
        index_log(index.append, log, pos=0, offset=0, first_seen_utc=NOW, batch_rows=4)
    assert index.count() == 4  # the first batch; the second held the repeat


def test_progress_is_reported_per_batch_and_at_the_end(
        tmp_path: Path, index: EventIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_build, "_CHUNK", 64)  # a batch can end after any line
    log = write_log(tmp_path / "events.ndjson",
                    [canonical_bytes(event(i)) for i in range(25)], blanks=False)
    seen: list[IndexBuildProgress] = []
    index_log(index.append, log, pos=0, offset=0, first_seen_utc=NOW, batch_rows=10,
              progress=seen.append)
    assert [p.events for p in seen] == [10, 20, 25]
    assert seen[-1].log_bytes == seen[-1].total_bytes == log.stat().st_size
    assert seen[-1].fraction == 1.0
    assert 0 < seen[0].fraction < seen[1].fraction < 1

"""Indexing a run of log lines: events.ndjson from a byte offset to its end, into the SQLite
index (store.index), as fast as the parser and SQLite allow.

This is what the first open of a vault without an index waits for (a vault the reference
wrote, a new profile, a rebuilt index), so the per-line Python work is kept to the minimum:

- lines are cut out of 4 MiB chunks with one ``split`` each, not one ``find`` per line;
- a line is parsed by orjson and accepted on that path only when it re-encodes, keys sorted,
  to exactly its own bytes and nests no deeper than the careful parser allows. Such a line
  has no duplicate key (a duplicate would make the re-encoding shorter), no NaN, valid UTF-8,
  no integer beyond 64 bits (orjson would have made it a float, which re-encodes with a "."
  or an exponent) and a size within the limit: exactly the lines ``parse_line_or_raise``
  accepts, with the same values. (``core.logline.fast_load`` guards the integers with a
  scan for long digit runs instead, which costs more than the parse; the re-encoding is
  needed here anyway.) Every other line goes through ``parse_line_or_raise`` as before, so
  a bad line fails with the same message naming file and line;
- the row is built inline from the dict (the same fields and rules as
  ``store.index.row_from_event``, tests compare the two paths row for row);
- the error location and the sha256 of a line are computed only where they are needed (a
  bad line; the last line of a batch, which is what the coverage records).

Rows go to the index in batches, each committed with its coverage, so a crash or a cancel
leaves an index of a prefix of the log that the next open continues from, never a half
batch. The secondary indexes stay deferred during the bulk load (store.index).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from provara_desktop.core.canonical import MAX_DEPTH, MAX_LINE_BYTES
from provara_desktop.core.errors import InputError
from provara_desktop.core.logline import parse_line_or_raise
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store.index_rows import IndexRow, row_from_event

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["IndexBuildProgress", "index_log"]

_CHUNK = 1 << 22
# Rows per transaction: big enough that commits cost nothing measurable, small enough that a
# batch (~300 B a row in memory) stays a few MB. (Writing batches on a thread of their own
# while the next is parsed gained nothing: executemany holds the GIL between its short
# steps, measured here.)
BATCH_ROWS = 20_000
_SORTED = orjson.OPT_SORT_KEYS


class AppendRows(Protocol):
    def __call__(self, rows: list[IndexRow], *, log_bytes: int,
                 last_line_sha256: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class IndexBuildProgress:
    """Where an indexing run is: events indexed so far and bytes of the log behind them."""

    events: int  # rows in the index (including those before this run)
    log_bytes: int  # bytes of the log covered
    total_bytes: int  # size of the log
    elapsed: float  # seconds since this run started

    @property
    def fraction(self) -> float:
        return min(1.0, self.log_bytes / self.total_bytes) if self.total_bytes else 1.0


def _odd_row(event: dict[str, Any], pos: int, offset: int, length: int,
             now: str) -> IndexRow:
    """The row of an event whose payload or event_id is not the usual dict and str: the
    general rule (``row_from_event``), which also names id-less events."""
    return row_from_event(event, pos=pos, offset=offset, length=length, first_seen_utc=now)


def index_log(append_rows: AppendRows, events_path: Path, *, pos: int, offset: int,
              first_seen_utc: str,
              progress: Callable[[IndexBuildProgress], None] | None = None,
              batch_rows: int = BATCH_ROWS) -> int:
    """Index the lines of ``events_path`` from byte ``offset`` (log position ``pos``) to the
    end, a batch at a time through ``append_rows`` (``EventIndex.append`` or a wrapper that
    words its refusal for the user); returns the number of rows added. A line without its
    newline at the end of the file is torn: InputError, once the whole lines before it are
    indexed."""
    # A batch is tens of thousands of tuples that live until it is written and form no
    # cycles: the cyclic collector would only walk them (and the rest of the heap, in the
    # app a million beliefs) again and again, ~15% of a rebuild.
    with gc_paused():
        return _index_log(append_rows, events_path, pos=pos, offset=offset,
                          first_seen_utc=first_seen_utc, progress=progress,
                          batch_rows=batch_rows)


def _index_log(append_rows: AppendRows, events_path: Path, *, pos: int, offset: int,
               first_seen_utc: str, progress: Callable[[IndexBuildProgress], None] | None,
               batch_rows: int) -> int:
    started = time.perf_counter()
    dumps, loads, depth_limit = orjson.dumps, orjson.loads, MAX_DEPTH
    bad_json, bad_encoding, size_limit = (orjson.JSONDecodeError, orjson.JSONEncodeError,
                                          MAX_LINE_BYTES)
    new_row = tuple.__new__
    rows: list[IndexRow] = []
    append = rows.append
    lineno = pos  # line number (1-based) of the last line read; blank lines count
    # Blank lines are skipped without a row, so line numbers run ahead of positions.
    start_pos = pos
    off = offset  # byte offset of the next line
    covered = offset  # log bytes the rows so far cover
    last_raw = b""
    with events_path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(offset)
        rest = b""
        while chunk := f.read(_CHUNK):
            parts = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
            rest = parts.pop()
            for raw in parts:
                lineno += 1
                length = len(raw)
                if not raw or raw.isspace():
                    # A blank line is no event: the reference verifies such a log and its
                    # merge drops them. Not indexed (rows stay consecutive); verification
                    # warns (BLANK_LINE).
                    off += length + 1
                    continue
                # The nesting is counted before anything is parsed or encoded (a hostile
                # line 1000 deep parses in orjson but cannot be encoded back).
                try:
                    parsed: Any = (loads(raw) if length <= size_limit
                                   and raw.count(b"{") + raw.count(b"[") <= depth_limit else None)
                    exact = type(parsed) is dict and dumps(parsed, option=_SORTED) == raw
                except (bad_json, bad_encoding):
                    exact = False
                event: dict[str, Any] = parsed if exact else parse_line_or_raise(
                    raw, where=f"{events_path} line {lineno}")
                # store.index.row_from_event, inlined for the usual shape (a str id, a dict
                # payload whose subject and predicate are str): the function call, the
                # named tuple's keyword-free constructor and a call per field were half of
                # the Python time per line. Anything else takes the general rule.
                get = event.get
                event_id = get("event_id")
                payload = get("payload")
                if type(event_id) is str and type(payload) is dict:
                    subject = payload.get("subject")
                    predicate = payload.get("predicate")
                    if (subject is None or type(subject) is str) and (
                            predicate is None or type(predicate) is str):
                        kind, actor, key_id = get("type"), get("actor"), get("actor_key_id")
                        ts, ns, prev = (get("timestamp_utc"), get("namespace"),
                                        get("prev_event_hash"))
                        append(new_row(IndexRow, (
                            pos, event_id, kind if type(kind) is str else None,
                            actor if type(actor) is str else None,
                            key_id if type(key_id) is str else None,
                            ts if type(ts) is str else None, ns if type(ns) is str else None,
                            subject, predicate, prev if type(prev) is str else None,
                            off, length, first_seen_utc)))
                    else:
                        append(_odd_row(event, pos, off, length, first_seen_utc))
                else:
                    append(_odd_row(event, pos, off, length, first_seen_utc))
                pos += 1
                off += length + 1
                covered = off
                last_raw = raw
            if len(rows) >= batch_rows:
                _commit(append_rows, rows, covered, last_raw)
                rows.clear()
                if progress is not None:
                    progress(IndexBuildProgress(pos, covered, size,
                                                time.perf_counter() - started))
        if rows:
            _commit(append_rows, rows, covered, last_raw)
            rows.clear()
        if rest:
            raise InputError(
                "the last line is torn (no newline) and no journal exists to repair it; "
                "the vault was not changed", where=f"{events_path} line {lineno + 1}")
    if progress is not None:
        progress(IndexBuildProgress(pos, covered, size, time.perf_counter() - started))
    return pos - start_pos


def _commit(append_rows: AppendRows, rows: list[IndexRow], covered: int,
            last_raw: bytes) -> None:
    append_rows(rows, log_bytes=covered, last_line_sha256=hashlib.sha256(last_raw).hexdigest())

"""The beliefs kept beside the index: the reducer's state after a prefix of the log, so that
opening a large vault applies only the events after it instead of replaying everything.

Where: ``<profile>/index/<same name as the index>.beliefs`` (store.index.index_path_for),
outside the vault, like the index: copying, bundling or syncing a vault never carries it, and
two copies of one vault never share it.

Bound to the exact bytes it covers. The file names the vault (uid), the reducer's state
format (core.reducer_state.STATE_FORMAT) and the covered prefix of events.ndjson: its length
and its sha256. It is used only when the log's first ``log_bytes`` bytes hash to that value
now, so any byte changed, removed or inserted anywhere in the covered prefix discards it; the
events after the prefix (the log grew) are then applied. Why a hash of the whole prefix and
not the index's coverage (length + hash of the last line): the index never looks at bytes
before its last line again, so a change in the middle of the log would go unseen, and the
beliefs would silently disagree with the log. Hashing 480 MB (a million events) takes ~0.4 s
here, on a thread of its own while the state is decoded (hashlib lets go of the GIL); and the
hash of the bytes read is kept up as events are applied, so writing a new file after a replay
never reads the log again.

Safe to read when corrupt or hostile: no pickle; a header line (JSON) then the state as a
run of orjson documents (a skeleton, then each column in chunks: see _encode), whose lengths
and sha256 the header gives; sizes are bounded before anything is read into memory, the
framing is checked, and core.reducer_state checks every type and index. Anything wrong is
logged and the file ignored (the caller replays the log), never an error to the user.

The beliefs table's rows come first in the body (``table_parts``, their own sha256 in the
header; core.reducer_state.table_of): what the table shows, a fraction of the state, so
that :func:`load_table` fills the table in a few tenths of a second at a million events
while :func:`load` rebuilds the whole state behind it. They are bound by the same header
(the same covered prefix and its hash), used only when the log is exactly that prefix, and
go with the file.

Verification never uses this: ``verify`` replays the log itself (store.verify_vault).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from provara_desktop.core.errors import InputError, UserCancelled
from provara_desktop.core.logline import fast_load, load_event
from provara_desktop.core.reducer import Reducer
from provara_desktop.core.reducer_state import (
    STATE_FORMAT,
    KeptTable,
    reducer_from_state,
    state_of,
    table_from,
    table_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["KeptBeliefs", "KeptRows", "catch_up", "load", "load_table", "save",
           "snapshot_path_for"]

MAGIC = "provara-kept-beliefs"
_HEADER_MAX = 64 * 1024
_CHUNK = 1 << 22
_HASH_CHUNK = 1 << 24


@dataclass
class KeptBeliefs:
    """A reducer and the exact log prefix it has applied: ``covered_bytes`` bytes (ending
    after a line's newline), whose sha256 so far is ``hasher``."""

    reducer: Reducer
    covered_bytes: int
    hasher: Any  # hashlib sha256 object over the covered bytes
    from_snapshot: bool = False  # loaded from a kept file (else replayed from the start)
    # The kept file also held the beliefs table's rows (files written before they were kept
    # have none: the session keeps such a state anew once, so later opens show rows early).
    with_rows: bool = False
    applied: int = 0  # events applied after the kept prefix (or all, for a replay)
    # The reducer also applied a last line without its newline, which the prefix does not
    # cover: such beliefs are not kept (the next open would apply that line twice).
    beyond_prefix: bool = False


@dataclass
class KeptRows:
    """The beliefs table's rows of a kept state that covers the whole log as it is now:
    ``covered_bytes`` bytes whose sha256 (checked) is ``log_sha256``; ``hasher`` is that
    hash, handed to :func:`load` so the whole state's load does not hash the log again."""

    table: KeptTable
    covered_bytes: int
    log_sha256: str
    hasher: Any


def snapshot_path_for(index_path: Path) -> Path:
    """The kept beliefs of the vault whose index is ``index_path``."""
    return index_path.with_suffix(".beliefs")


# ---------------------------------------------------------------------------------- reading


def load(path: Path, *, vault_uid: str, events_path: Path,
         verified: KeptRows | None = None,
         cancelled: Callable[[], bool] | None = None) -> KeptBeliefs | None:
    """The kept beliefs at ``path`` if they belong to this vault and cover a prefix of its
    log exactly as it is now; None otherwise (with a log line saying why). ``verified``:
    the same file's rows just loaded by :func:`load_table`, whose prefix hash is reused."""
    try:
        return _load(path, vault_uid, events_path, verified, cancelled)
    except UserCancelled:
        raise
    except FileNotFoundError:
        return None
    except Exception as exc:  # a corrupt or hostile file: whatever it does, never a crash
        log.warning("kept beliefs %s ignored (%s: %s): replaying the log", path,
                    type(exc).__name__, exc)
        return None


def load_table(path: Path, *, vault_uid: str, events_path: Path) -> KeptRows | None:
    """The beliefs table's rows kept at ``path`` if the file belongs to this vault and
    covers its whole log exactly as it is now (not a byte more in the log: the rows of
    events after the prefix would need the whole state); None otherwise. Reads only the
    file's table parts, a small fraction of the state."""
    try:
        return _load_table(path, vault_uid, events_path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a corrupt or hostile file: whatever it does, never a crash
        log.warning("kept belief rows %s ignored (%s: %s)", path, type(exc).__name__, exc)
        return None


def _header(f: Any, path: Path, vault_uid: str, events_path: Path) -> tuple[
        int, dict[str, Any], int, list[int], list[int]] | None:
    """(header line length, header, log size now, table part lengths, state part lengths)
    of a kept file open at its start, or None when it cannot apply to this log."""
    header_line = f.readline(_HEADER_MAX)
    if not header_line.endswith(b"\n"):
        raise ValueError("no header line")
    header = orjson.loads(header_line)
    if type(header) is not dict or header.get("magic") != MAGIC:
        raise ValueError("not a kept-beliefs file")
    if header.get("state_format") != STATE_FORMAT:
        log.info("kept beliefs %s are of state format %r, not %r: replaying the log",
                 path, header.get("state_format"), STATE_FORMAT)
        return None
    if header.get("vault_uid") != vault_uid:
        raise ValueError("written for another vault")
    covered, covered_sha = header.get("log_bytes"), header.get("log_sha256")
    parts, body_sha = header.get("parts"), header.get("body_sha256")
    # Files written before the table's rows were kept have none (their state still loads).
    table_parts, table_sha = header.get("table_parts", []), header.get("table_sha256", "")
    if not (type(covered) is int and covered >= 0 and type(parts) is list and parts
            and all(type(n) is int and n >= 0 for n in parts)
            and type(table_parts) is list and all(type(n) is int and n >= 0
                                                  for n in table_parts)
            and type(covered_sha) is str and type(body_sha) is str
            and type(table_sha) is str):
        raise ValueError("bad header")
    body_bytes = sum(parts) + sum(table_parts)
    log_size = events_path.stat().st_size
    if log_size < covered:
        log.info("kept beliefs %s cover %d bytes, the log has %d: replaying the log",
                 path, covered, log_size)
        return None
    if f.seek(0, os.SEEK_END) != len(header_line) + body_bytes:
        raise ValueError("truncated or padded")
    # A state is a fraction of the log it was made from (~0.16 of it for a million
    # events); a header claiming far more is not read into memory.
    if body_bytes > 2 * covered + (1 << 20):
        raise ValueError(f"body of {body_bytes} bytes for a {covered}-byte log")
    return len(header_line), header, log_size, table_parts, parts


def _load_table(path: Path, vault_uid: str, events_path: Path) -> KeptRows | None:
    with path.open("rb") as f:
        found = _header(f, path, vault_uid, events_path)
        if found is None:
            return None
        start, header, log_size, table_parts, _parts = found
        if not table_parts or log_size != header["log_bytes"]:
            return None
        prefix = _PrefixHash(events_path, header["log_bytes"])
        try:
            f.seek(start)
            body = f.read(sum(table_parts))
            if hashlib.sha256(body).hexdigest() != header["table_sha256"]:
                raise ValueError("table rows do not match their sha256 (corrupt)")
            if len(table_parts) != 3:
                raise ValueError("table rows of another layout")
            a, b = table_parts[0], table_parts[0] + table_parts[1]
            view = memoryview(body)
            skeleton, keys = orjson.loads(view[:a]), orjson.loads(view[a:b])
            del view
            table = table_from(skeleton, keys, body[b:])
            del body
        finally:
            hasher = prefix.result()
    if hasher.hexdigest() != header["log_sha256"]:
        log.info("kept beliefs %s: the log's first %d bytes changed since", path,
                 header["log_bytes"])
        return None
    return KeptRows(table, header["log_bytes"], header["log_sha256"], hasher)


def _load(path: Path, vault_uid: str, events_path: Path, verified: KeptRows | None = None,
          cancelled: Callable[[], bool] | None = None) -> KeptBeliefs | None:
    with path.open("rb") as f:
        found = _header(f, path, vault_uid, events_path)
        if found is None:
            return None
        start, header, _log_size, table_parts, parts = found
        covered, covered_sha = header["log_bytes"], header["log_sha256"]
        # The covered prefix is hashed on another thread while the state is read and
        # decoded here, unless the table's load just hashed this very prefix (the same
        # length and hash in the header: the same prefix even if the file was replaced).
        prefix: _PrefixHash | _Hashed = (
            _Hashed(verified.hasher.copy())
            if verified is not None and verified.covered_bytes == covered
            and verified.log_sha256 == covered_sha else _PrefixHash(events_path, covered))
        try:
            f.seek(start + sum(table_parts))
            body = f.read(sum(parts))
            if hashlib.sha256(body).hexdigest() != header["body_sha256"]:
                raise ValueError("body does not match its sha256 (corrupt)")
            doc = _decode(memoryview(body), parts, cancelled)
            del body
            reducer = reducer_from_state(doc)
            _release(doc)
        finally:
            hasher = prefix.result()
    if hasher.hexdigest() != covered_sha:
        log.info("kept beliefs %s: the log's first %d bytes changed since; replaying the log",
                 path, covered)
        return None
    return KeptBeliefs(reducer, covered, hasher, from_snapshot=True,
                       with_rows=bool(table_parts))


def _release(doc: dict[str, Any]) -> None:
    """Free the decoded columns a slice at a time. Left to the end of the call, the last
    reference to them going frees a million index integers in one C-level run (~0.1 s at a
    million events, measured) during which no other thread, the GUI's included, runs. The
    reducer keeps none of these lists (only items in them, and the canonical and archived
    entries, which are left alone)."""
    columns = [c for key in (*_COLUMN_SECTIONS, *_TABLES)
               for c in ((doc.get(key) or {}).values() if key in _COLUMN_SECTIONS
                         else [doc.get(key)]) if type(c) is list]
    for column in columns:
        while column:
            del column[-_PART:]


class _Hashed:
    def __init__(self, hasher: Any) -> None:
        self._hasher = hasher

    def result(self) -> Any:
        return self._hasher


class _PrefixHash:
    """sha256 of a file's first ``n`` bytes, computed on a thread of its own."""

    def __init__(self, path: Path, n: int) -> None:
        self._hasher = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, n),
                                        name="kept-beliefs-hash", daemon=True)
        self._thread.start()

    def _run(self, path: Path, n: int) -> None:
        try:
            with path.open("rb") as f:
                left = n
                while left and (chunk := f.read(min(_HASH_CHUNK, left))):
                    self._hasher.update(chunk)
                    left -= len(chunk)
            if left:
                self._error = ValueError("the log is shorter than the covered prefix")
        except BaseException as exc:  # re-raised on the caller's thread
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hasher


# ---------------------------------------------------------------------------------- applying


def catch_up(events_path: Path, kept: KeptBeliefs | None, *,
             every: int = 8192, tick: Callable[[int], None] | None = None) -> KeptBeliefs:
    """Apply the log's events after ``kept``'s prefix (all of them from an empty reducer when
    ``kept`` is None), hashing what is read so the result knows the exact prefix it covers.

    Lines are parsed as ``Vault.events`` parses them (blank lines skipped, a bad line is an
    InputError naming file and line). ``tick(events applied so far in total)`` is called
    every ``every`` events (it may raise to cancel)."""
    beliefs = kept or KeptBeliefs(Reducer(), 0, hashlib.sha256())
    reducer, hasher = beliefs.reducer, beliefs.hasher
    apply = reducer.apply
    covered = beliefs.covered_bytes
    applied = 0
    with events_path.open("rb") as f:
        f.seek(covered)
        rest = b""
        while chunk := f.read(_CHUNK):
            data = rest + chunk if rest else chunk
            cut = data.rfind(b"\n") + 1
            whole, rest = data[:cut], data[cut:]
            for i, raw in enumerate(whole.split(b"\n")[:-1] if whole else ()):
                if raw and not raw.isspace():
                    ev = fast_load(raw)
                    if ev is None:
                        ev = _careful(events_path, raw, covered, i)
                    apply(ev)
                    applied += 1
                    if tick is not None and applied % every == 0:
                        tick(reducer.event_count)
            hasher.update(whole)
            covered += len(whole)
        if rest and not rest.isspace():
            # A last line without its newline is applied (as Vault.events does) but not
            # covered: the kept prefix always ends after a newline.
            apply(_careful(events_path, rest, covered, 0))
            applied += 1
            beyond = True
        else:
            beyond = False
    return KeptBeliefs(reducer, covered, hasher, from_snapshot=beliefs.from_snapshot,
                       with_rows=beliefs.with_rows,
                       applied=applied, beyond_prefix=beyond)


def _careful(events_path: Path, raw: bytes, block_start: int, index: int) -> dict[str, Any]:
    """The event on a line the quick parser left (``Vault.events``'s rule); when the line is
    bad, the error names it: line ``index`` (0-based) of the block at ``block_start``."""
    try:
        return load_event(raw, where=str(events_path))
    except InputError:
        pass
    # Only now are the newlines before the block counted (a scan of the log's head).
    before = 0
    with events_path.open("rb") as f:
        while f.tell() < block_start:
            before += f.read(min(_CHUNK, block_start - f.tell())).count(b"\n")
    return load_event(raw, where=f"{events_path} line {before + index + 1}")


# ---------------------------------------------------------------------------------- writing


# The parts of the state that are columns: each is written as chunks of _PART items, one
# orjson document each, so that no single encode or decode holds the GIL for long (a
# million-item column is ~30 MB of JSON: ~0.1 s in one call, during which the app's GUI
# thread cannot paint). Tables are columns of their own; the rest (counts, the few
# canonical and archived entries) is the skeleton, the first part.
_COLUMN_SECTIONS = frozenset({"local", "contested", "evidence"})
_TABLES = frozenset({"actors", "namespaces", "values", "confidences"})
_PART = 1 << 16


def _encode(doc: dict[str, Any]) -> list[bytes]:
    skeleton: dict[str, Any] = {}
    chunks: list[bytes] = []
    columns: list[list[Any]] = []
    for key, value in doc.items():
        named = ([(col, items) for col, items in value.items()] if key in _COLUMN_SECTIONS
                 else [(None, value)] if key in _TABLES else None)
        if named is None:
            skeleton[key] = value
            continue
        for col, items in named:
            start = len(chunks)
            chunks += [orjson.dumps(items[i:i + _PART]) for i in range(0, len(items), _PART)]
            columns.append([key, col, len(chunks) - start])
    skeleton["columns"] = columns
    return [orjson.dumps(skeleton), *chunks]


def _decode(body: memoryview, parts: list[int],
            cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """The state document from its parts (see _encode), every framing detail checked;
    UserCancelled between two parts once ``cancelled()`` (the app is quitting)."""
    offsets = [0]
    for n in parts:
        offsets.append(offsets[-1] + n)
    skeleton = orjson.loads(body[:parts[0]])
    if type(skeleton) is not dict or type(skeleton.get("columns")) is not list:
        raise ValueError("no skeleton")
    doc = {k: v for k, v in skeleton.items() if k != "columns"}
    next_part = 1
    for entry in skeleton["columns"]:
        if not (type(entry) is list and len(entry) == 3 and type(entry[2]) is int
                and entry[2] >= 0):
            raise ValueError("bad column entry")
        key, col, count = entry
        if next_part + count > len(parts):
            raise ValueError("fewer parts than columns")
        items: list[Any] = []
        for i in range(next_part, next_part + count):
            if cancelled is not None and cancelled():
                raise UserCancelled("the vault was closed")
            chunk = orjson.loads(body[offsets[i]:offsets[i + 1]])
            if type(chunk) is not list:
                raise ValueError("a column part that is not a list")
            items += chunk
        next_part += count
        if key in _TABLES and col is None and key not in doc:
            doc[key] = items
        elif (key in _COLUMN_SECTIONS and type(col) is str
              and col not in doc.setdefault(key, {})):
            doc[key][col] = items
        else:
            raise ValueError(f"unexpected column {key!r}/{col!r}")
    if next_part != len(parts):
        raise ValueError("more parts than columns")
    return doc


def save(path: Path, beliefs: KeptBeliefs, *, vault_uid: str) -> bool:
    """Write ``beliefs`` to ``path`` (atomically: a unique temporary name, then a rename);
    False, with a log line, when the state cannot be kept (a value JSON cannot hold, a full
    disk...): the next open replays instead."""
    if beliefs.beyond_prefix:
        log.info("beliefs of %s not kept: the log ends with a line without its newline", path)
        return False
    try:
        parts = _encode(state_of(beliefs.reducer))
        skeleton, keys, lines = table_of(beliefs.reducer)
        # The local keys are one document (142k short strings at a million events: ~15 ms
        # to decode), the lines one part kept as bytes (cut apart at load, decoded a row at
        # a time when the table reads it).
        table_parts = [orjson.dumps(skeleton), orjson.dumps(keys), lines]
    except (TypeError, orjson.JSONEncodeError) as exc:
        # An integer beyond 64 bits or a lone surrogate in some event: orjson cannot
        # encode it, and a slower encoder for a rare vault is not worth its code.
        log.info("beliefs of %s not kept: %s", path, exc)
        return False
    body_hash = hashlib.sha256()
    for part in parts:
        body_hash.update(part)
    header = orjson.dumps({
        "magic": MAGIC, "state_format": STATE_FORMAT, "vault_uid": vault_uid,
        "log_bytes": beliefs.covered_bytes, "log_sha256": beliefs.hasher.hexdigest(),
        "event_count": beliefs.reducer.event_count,
        "parts": [len(part) for part in parts], "body_sha256": body_hash.hexdigest(),
        "table_parts": [len(part) for part in table_parts],
        "table_sha256": hashlib.sha256(b"".join(table_parts)).hexdigest(),
    }) + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            f.write(header)
            f.writelines(table_parts)
            f.writelines(parts)
        # No fsync: a file torn by a crash fails its body hash and is ignored.
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("beliefs of %s not kept: %s", path, exc)
        return False
    return True


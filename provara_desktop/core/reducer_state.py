"""The reducer's whole state as plain JSON data, and back, checked (pure: no I/O); and the
beliefs table's part of it (:func:`table_of`, :class:`KeptTable`).

store/belief_snapshot.py keeps this beside the index so that opening a large vault does not
replay its whole log; the file is local but may be corrupt or hostile, so
:func:`reducer_from_state` trusts nothing: every table, index and type the reducer relies on
is checked, and anything off raises :class:`StateFormatError` (the caller then replays). What
it accepts is a state the reducer can go on applying events to and read from without
failing, and for a file this module wrote, exactly the state it was given (tests compare
state hashes, exports and further applies with a full replay).

The layout is by column, not by entry: a million-event vault holds about a million pieces
of evidence, and rebuilding them from parallel lists (``zip`` in C, actor, namespace, value
and confidence as indexes into small tables of distinct items) costs a fraction of parsing a
million small JSON objects. Equal values then share one object, as they may: the reducer
never mutates a value, only replaces entries.

Bump :data:`STATE_FORMAT` whenever the reducer's state or its rules change (a new field, a
different confidence rule...): a kept state written by other rules must not be reused.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any

import orjson

from provara_desktop.core.reducer import (
    _VALID_NS,
    REDUCER_NAME,
    REDUCER_VERSION,
    Reducer,
    _Contest,
)

__all__ = ["STATE_FORMAT", "KeptTable", "StateFormatError", "reducer_from_state", "state_of",
           "table_from", "table_of"]

# What the state's layout and the reducer's rules are; part of the kept file's identity.
STATE_FORMAT = f"{REDUCER_NAME}/{REDUCER_VERSION}/columns-1"

_LOCAL_FIELDS = ("value", "confidence", "provenance", "actor", "timestamp", "evidence_count")
_CANONICAL_FIELDS = frozenset({"value", "attested_by", "provenance", "attestation_event_id"})
_EPOCH_FIELDS = frozenset({"epoch_id", "reducer_hash", "effective_from_event_id",
                           "ontology_versions"})
_NONE = type(None)
# Columns are checked and rebuilt this many items at a time: each C-level call (a type
# check, a lookup, a zip) then holds the GIL for a few milliseconds, not for the ~0.1 s a
# million-item column takes, during which the app's GUI thread could not paint.
_SLICE = 1 << 16
# Where each item of a slice becomes a new object in a dict (an entry, a run of evidence),
# fewer at a time: ~10 ms per C-level call instead of 30-80 ms.
_DICT_SLICE = 1 << 13


class StateFormatError(ValueError):
    """The data is not a reducer state this module can vouch for."""


class _Table:
    """Distinct items, each written once; columns hold their indexes."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[Any, int] = {}

    def add(self, value: Any) -> int:
        vtype = type(value)
        if vtype is str or vtype is int or vtype is bool or value is None:
            # By type too: 1, 1.0 and True are equal in Python but not the same JSON.
            key: Any = (vtype, value)
        elif vtype is float:
            key = (float, value.hex())  # -0.0 == 0.0, yet they read apart
        else:
            self.items.append(value)  # a list or an object: its own slot
            return len(self.items) - 1
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.items)
            self.items.append(value)
        return i


def state_of(reducer: Reducer) -> dict[str, Any]:
    """The reducer's state as JSON-able data (shares the reducer's objects: encode it before
    the reducer moves on)."""
    actors, namespaces, values, confidences = _Table(), _Table(), _Table(), _Table()
    local_keys = list(reducer.local)
    entries = list(reducer.local.values())
    local = {
        "keys": local_keys,
        "value": [values.add(e["value"]) for e in entries],
        "confidence": [confidences.add(e["confidence"]) for e in entries],
        "provenance": [e["provenance"] for e in entries],
        "actor": [actors.add(e["actor"]) for e in entries],
        "timestamp": [e["timestamp"] for e in entries],
        "evidence_count": [e["evidence_count"] for e in entries],
    }
    contests = list(reducer._contested.items())
    contested = {
        "keys": [k for k, _ in contests],
        "reason": [c.reason for _, c in contests],
        "canonical_value": [c.canonical_value for _, c in contests],
        "evidence_len": [c.evidence_len for _, c in contests],
    }
    ev_keys = list(reducer._evidence)
    pieces = [ev for key in ev_keys for ev in reducer._evidence[key]]
    evidence = {
        "keys": ev_keys,
        "counts": [len(reducer._evidence[k]) for k in ev_keys],
        "event_id": [ev[0] for ev in pieces],
        "actor": [actors.add(ev[1]) for ev in pieces],
        "namespace": [namespaces.add(ev[2]) for ev in pieces],
        "timestamp": [ev[3] for ev in pieces],
        "value": [values.add(ev[4]) for ev in pieces],
        "confidence": [confidences.add(ev[5]) for ev in pieces],
    }
    return {
        "format": STATE_FORMAT,
        "event_count": reducer.event_count,
        "last_event_id": reducer.last_event_id,
        "current_epoch": reducer.current_epoch,
        "canonical": reducer.canonical,
        "archived": reducer.archived,
        "local": local,
        "contested": contested,
        "evidence": evidence,
        "actors": actors.items,
        "namespaces": namespaces.items,
        "values": values.items,
        "confidences": confidences.items,
    }


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise StateFormatError(what)


def _slices(n: int) -> range:
    return range(0, n, _SLICE)


def _types(column: list[Any], allowed: tuple[type, ...], what: str) -> None:
    ok = set(allowed)
    for i in _slices(len(column)):
        _need(set(map(type, column[i:i + _SLICE])) <= ok, f"{what}: unexpected types")


def _dict(doc: Any, what: str) -> dict[str, Any]:
    _need(type(doc) is dict, f"{what}: not an object")
    return doc  # type: ignore[no-any-return]


def _columns(doc: Any, what: str, names: tuple[str, ...]) -> dict[str, list[Any]]:
    # Lengths are checked where the columns are zipped (strict=True).
    cols = _dict(doc, what)
    _need(set(cols) == set(names), f"{what}: columns {sorted(cols)}")
    for name in names:
        _need(type(cols[name]) is list, f"{what}.{name}: not a list")
    return cols


def _lookup(table: list[Any], column: list[Any], what: str) -> list[Any]:
    """The table's items at the column's indexes, in one C-level pass per slice. Looked up
    in a dict of the table, not the list: then a negative, out-of-range or non-integer
    index is a KeyError (refused) instead of Python's from-the-end indexing."""
    get = dict(enumerate(table)).__getitem__
    out: list[Any] = []
    try:
        for i in _slices(len(column)):
            out += map(get, column[i:i + _SLICE])
    except (KeyError, TypeError):
        raise StateFormatError(f"{what}: index out of range") from None
    return out


def reducer_from_state(doc: Any) -> Reducer:
    """A reducer holding the state ``doc`` describes (see :func:`state_of`), or
    StateFormatError."""
    try:
        return _build(_dict(doc, "state"))
    except StateFormatError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise StateFormatError(f"state: {type(exc).__name__}: {exc}") from None


def _build(doc: dict[str, Any]) -> Reducer:
    _need(doc.get("format") == STATE_FORMAT, f"state format {doc.get('format')!r}")
    actors, namespaces = doc["actors"], doc["namespaces"]
    values, confidences = doc["values"], doc["confidences"]
    for name, table in (("actors", actors), ("namespaces", namespaces), ("values", values),
                        ("confidences", confidences)):
        _need(type(table) is list, f"{name}: not a list")
    _types(actors, (str,), "actors")
    _need(set(namespaces) <= _VALID_NS, "namespaces: unknown namespace")
    _types(confidences, (float,), "confidences")
    _need(all(map(math.isfinite, confidences)), "confidences: not finite")

    r = Reducer()
    event_count = doc["event_count"]
    _need(type(event_count) is int and event_count >= 0, "event_count")
    r.event_count = event_count
    r.last_event_id = doc["last_event_id"]
    epoch = doc["current_epoch"]
    _need(epoch is None or (type(epoch) is dict and set(epoch) == _EPOCH_FIELDS),
          "current_epoch")
    r.current_epoch = epoch

    canonical = _dict(doc["canonical"], "canonical")
    _need(all(type(e) is dict and set(e) == _CANONICAL_FIELDS for e in canonical.values()),
          "canonical: entry shape")
    r.canonical = canonical
    archived = _dict(doc["archived"], "archived")
    _need(all(type(v) is list and all(type(e) is dict and "superseded_by" in e for e in v)
              for v in archived.values()), "archived: entry shape")
    r.archived = archived

    ev = _columns(doc["evidence"], "evidence",
                  ("keys", "counts", "event_id", "actor", "namespace", "timestamp", "value",
                   "confidence"))
    keys, counts = ev["keys"], ev["counts"]
    _need(len(keys) == len(counts) == len(set(keys)), "evidence: keys")
    _types(keys, (str,), "evidence.keys")
    _types(counts, (int,), "evidence.counts")
    _need(not counts or min(counts) >= 0, "evidence.counts: negative")
    n = len(ev["event_id"])
    _need(sum(counts) == n, "evidence: counts do not add up")
    _types(ev["timestamp"], (str, _NONE), "evidence.timestamp")
    columns = (ev["event_id"], _lookup(actors, ev["actor"], "evidence.actor"),
               _lookup(namespaces, ev["namespace"], "evidence.namespace"), ev["timestamp"],
               _lookup(values, ev["value"], "evidence.value"),
               _lookup(confidences, ev["confidence"], "evidence.confidence"))
    _need({len(c) for c in columns} <= {n},
          "evidence: columns of different lengths")
    pieces: list[Any] = []
    for i in _slices(n):
        pieces += zip(*(c[i:i + _SLICE] for c in columns), strict=True)
    # Each key's run of pieces, cut by C-level maps rather than a Python loop per key.
    ends = list(itertools.accumulate(counts))
    starts = [0, *ends[:-1]]
    evidence: dict[str, list[Any]] = {}
    for i in range(0, len(keys), _DICT_SLICE):
        j = i + _DICT_SLICE
        evidence.update(zip(keys[i:j], map(pieces.__getitem__,
                                           map(slice, starts[i:j], ends[i:j])), strict=True))
    r._evidence = evidence

    lc = _columns(doc["local"], "local", ("keys", *_LOCAL_FIELDS))
    local_keys = lc["keys"]
    _types(local_keys, (str,), "local.keys")
    _need(len(set(local_keys)) == len(local_keys), "local: repeated key")
    _types(lc["timestamp"], (str, _NONE), "local.timestamp")
    _types(lc["evidence_count"], (int,), "local.evidence_count")
    fields = (_lookup(values, lc["value"], "local.value"),
              _lookup(confidences, lc["confidence"], "local.confidence"), lc["provenance"],
              _lookup(actors, lc["actor"], "local.actor"), lc["timestamp"],
              lc["evidence_count"])
    _need({len(c) for c in fields} <= {len(local_keys)}, "local: columns of different lengths")
    local: dict[str, dict[str, Any]] = {}
    # A smaller slice here: a dict per entry is built inside each update, and 65k of them
    # held the GIL ~80 ms at once (measured at a million events).
    for i in range(0, len(local_keys), _DICT_SLICE):
        j = i + _DICT_SLICE
        # dict(zip(field names, row)) for each row, in C: a dict display per entry in a
        # Python loop was most of the time of this whole function.
        rows = zip(*(c[i:j] for c in fields), strict=True)
        entries = map(dict, map(zip, itertools.repeat(_LOCAL_FIELDS), rows))
        local.update(zip(local_keys[i:j], entries, strict=True))
    r.local = local

    cc = _columns(doc["contested"], "contested",
                  ("keys", "reason", "canonical_value", "evidence_len"))
    _types(cc["keys"], (str,), "contested.keys")
    _types(cc["reason"], (str,), "contested.reason")
    _types(cc["evidence_len"], (int,), "contested.evidence_len")
    contested: dict[str, _Contest] = {}
    for key, reason, value, length in zip(cc["keys"], cc["reason"], cc["canonical_value"],
                                          cc["evidence_len"], strict=True):
        # A contest shows a prefix of its key's evidence: that evidence must be there.
        _need(key in evidence and 0 <= length <= len(evidence[key]), "contested: evidence")
        contested[key] = _Contest(reason, value, length)
    _need(len(contested) == len(cc["keys"]), "contested: repeated key")
    r._contested = contested
    return r


# ------------------------------------------------------------------------ the table's rows
#
# What the beliefs table shows of a state (the namespaces' keys, each entry's value and a
# few counts, a contested key's summary) kept apart from the evidence: at a million events
# the whole state is ~3M Python objects and 1-1.4 s to rebuild, the table's part ~150k rows
# and a small fraction of that, so the table is filled from it while the whole state loads.

_TABLE_FORMAT = "table-2"


def table_of(reducer: Reducer) -> tuple[dict[str, Any], list[str], bytes]:
    """(skeleton, local keys, local rows) of what the beliefs table reads: canonical as it
    is, an archived key's count and last entry (all the table shows of it; the whole list
    is ~8 MB at a million events), each contested key's ``contested_values``, and each local
    entry's ``_LOCAL_FIELDS`` as one JSON line, in the keys' order: the lines are cut apart
    at load (one C-level split) and each decoded only when the table reads it."""
    contested = [[key, *reducer.contested_values(key)]  # type: ignore[misc]
                 for key in reducer._contested]
    archived = {key: [len(entries), entries[-1]] for key, entries in reducer.archived.items()
                if entries}
    skeleton = {"format": _TABLE_FORMAT, "event_count": reducer.event_count,
                "canonical": reducer.canonical, "archived": archived,
                "contested": contested, "local_count": len(reducer.local)}
    get = operator.itemgetter(*_LOCAL_FIELDS)
    # In the order the table lists them (session.belief_rows: sorted), so that the rows
    # are on screen without sorting 142k keys first.
    order = sorted(reducer.local)
    local = reducer.local
    lines = b"".join(orjson.dumps(get(local[key])) + b"\n" for key in order)
    return skeleton, order, lines


class _LocalRows:
    """The local namespace as a read-only mapping whose entries are decoded from their
    JSON line and checked when asked for (the table looks up the rows it paints, and the
    ones a search or sort reads); a line that is not a valid entry reads as absent."""

    def __init__(self, keys: list[str], lines: list[bytes]) -> None:
        self._at: dict[str, bytes] = {}
        for i in range(0, len(keys), _DICT_SLICE):  # a slice per C-level call (the GIL)
            self._at.update(zip(keys[i:i + _DICT_SLICE], lines[i:i + _DICT_SLICE],
                                strict=True))
        if len(keys) != len(lines):
            raise StateFormatError("table.local: lines do not match the keys")

    def get(self, key: str, default: Any = None) -> Any:
        line = self._at.get(key)
        if line is None:
            return default
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            return default
        if not (type(row) is list and len(row) == len(_LOCAL_FIELDS)
                and type(row[1]) is float and type(row[2]) is str and type(row[3]) is str
                and (row[4] is None or type(row[4]) is str) and type(row[5]) is int):
            return default
        return dict(zip(_LOCAL_FIELDS, row, strict=True))

    def __getitem__(self, key: str) -> dict[str, Any]:
        entry: dict[str, Any] | None = self.get(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def __iter__(self) -> Any:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


class _Tail:
    """An archived key's entries as the table reads them: how many, and the last one."""

    def __init__(self, count: int, last: dict[str, Any]) -> None:
        self._count, self._last = count, last

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i in (-1, self._count - 1):
            return self._last
        raise IndexError("only the last archived entry is kept for the table")


class _Tails:
    def __init__(self, tails: dict[str, tuple[int, dict[str, Any]]]) -> None:
        self._tails = tails

    def get(self, key: str, default: Any = None) -> Any:
        tail = self._tails.get(key)
        return default if tail is None else _Tail(*tail)

    def __contains__(self, key: object) -> bool:
        return key in self._tails

    def __iter__(self) -> Any:
        return iter(self._tails)

    def __len__(self) -> int:
        return len(self._tails)


class KeptTable:
    """The beliefs table's view of a kept state (read-only): the attributes and methods of
    :class:`Reducer` that ui/models/beliefs_model.py and session.belief_rows read, giving
    the same answers the state's reducer gives (of an archived key: its count and last
    entry). Never a reducer: nothing writes, previews or verifies with it."""

    def __init__(self, event_count: int, canonical: dict[str, Any], archived: _Tails,
                 contested: dict[str, tuple[str, int, list[str]]], local: _LocalRows) -> None:
        self.event_count = event_count
        self.canonical = canonical
        self.archived = archived
        self._contested = contested
        self.local = local

    @property
    def contested_keys(self) -> list[str]:
        return sorted(self._contested)

    def local_keys_sorted(self) -> list[str]:
        """The local keys, sorted (kept so: checked at load)."""
        return list(self.local)

    def is_contested(self, key: str) -> bool:
        return key in self._contested

    def contested_values(self, key: str) -> tuple[str, int, list[str]] | None:
        summary = self._contested.get(key)
        return None if summary is None else (summary[0], summary[1], list(summary[2]))


def table_from(skeleton: Any, keys: Any, lines: bytes) -> KeptTable:
    """The :class:`KeptTable` of ``table_of``'s output read back, checked like a state
    (StateFormatError when anything is off; a local line is checked when read)."""
    try:
        return _table(_dict(skeleton, "table"), keys, lines)
    except StateFormatError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise StateFormatError(f"table: {type(exc).__name__}: {exc}") from None


def _table(doc: dict[str, Any], keys: Any, lines: bytes) -> KeptTable:
    _need(doc.get("format") == _TABLE_FORMAT, f"table format {doc.get('format')!r}")
    event_count = doc["event_count"]
    _need(type(event_count) is int and event_count >= 0, "table: event_count")
    canonical = _dict(doc["canonical"], "table.canonical")
    _need(all(type(e) is dict and set(e) == _CANONICAL_FIELDS for e in canonical.values()),
          "table.canonical: entry shape")
    archived = _dict(doc["archived"], "table.archived")
    _need(all(type(v) is list and len(v) == 2 and type(v[0]) is int and v[0] > 0
              and type(v[1]) is dict and "superseded_by" in v[1] for v in archived.values()),
          "table.archived: entry shape")
    _need(type(doc["contested"]) is list, "table.contested: not a list")
    contested: dict[str, tuple[str, int, list[str]]] = {}
    for item in doc["contested"]:
        _need(type(item) is list and len(item) == 4 and type(item[0]) is str
              and type(item[1]) is str and type(item[2]) is int and type(item[3]) is list
              and all(type(v) is str for v in item[3]), "table.contested: entry shape")
        contested[item[0]] = (item[1], item[2], item[3])
    _need(len(contested) == len(doc["contested"]), "table.contested: repeated key")
    _need(type(keys) is list and len(keys) == doc["local_count"], "table.local: count")
    _types(keys, (str,), "table.local.keys")
    _need(type(lines) is bytes and (not lines or lines.endswith(b"\n")), "table.local: lines")
    cut = lines.split(b"\n")[:-1]
    _need(len(cut) == len(keys), "table.local: lines do not match the keys")
    local = _LocalRows(keys, cut)
    _need(len(local) == len(keys), "table.local: repeated key")
    # Sorted as written (one C-level pass): the table lists them in this order.
    _need(all(map(operator.lt, keys, itertools.islice(keys, 1, None))),
          "table.local: keys out of order")
    return KeptTable(event_count, canonical,
                     _Tails({k: (v[0], v[1]) for k, v in archived.items()}), contested, local)

"""The belief reducer: byte-compatible with the reference reducer_v0, in linear time.

The reference (SovereignReducerV0 0.2.0, PROTOCOL.md B §4) rebuilds a contested entry from
all evidence every time a key is (re-)contested, which is quadratic on hot keys. Its result
only ever depends on a *prefix* of the key's evidence list, because evidence is append-only
and never pruned. So we record, per contested key, the reason, the canonical value at that
moment and the prefix length, and build the grouped evidence once, when the state is
exported or hashed. Every quirk that reaches the state hash is kept on purpose:

- Python equality between values (1 == 1.0 == True agree);
- confidences coerced with float() ("0.7" parses, bad values fall back to the default);
- the evidence index is never pruned, so a key can sit in local and contested at once;
- unknown types, GENESIS and KEY_* events still count and move last_event_id;
- events carrying ``schema_version`` (the reference's "sovereign" events) only count.

Where the reference crashes (a non-dict payload, a confidence of "inf" or an integer too large
for a float) we fall back to the empty payload / default confidence and say so in
docs/PROTOCOL_NOTES.md; no reference state exists to disagree with.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from provara_desktop.core.canonical import canonical_dumps

# The pieces the standard encoder itself uses for text and floats (C versions when present):
# the canonical form of a str is encode_basestring's, of a finite float its repr.
_encode_str: Any = json.encoder.encode_basestring
_float_repr = float.__repr__

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REDUCER_NAME = "SovereignReducerV0"
REDUCER_VERSION = "0.2.0"
THRESHOLD = 0.5
DEFAULT_OBSERVATION_CONFIDENCE = 0.5
DEFAULT_ASSERTION_CONFIDENCE = 0.35
NAMESPACES = ("canonical", "local", "contested", "archived")
_VALID_NS = frozenset(NAMESPACES)
# Namespaces as events spell them, already normalised (the reference strips and lowercases).
_NS_CACHE = {ns: ns for ns in NAMESPACES}
_V = TypeVar("_V")

# One piece of evidence: (event_id, actor, namespace, timestamp, value, confidence).
# Tuples, not dicts: a 1M-event vault holds a million of these.
EvidenceTuple = tuple[Any, str, str, str | None, Any, float]


def _safe_float(val: Any, default: float) -> float:
    if val is None:
        return default
    try:
        f = float(val)
    except (TypeError, ValueError, OverflowError):
        return default
    return f if math.isfinite(f) else default


def _evidence_dict(ev: EvidenceTuple) -> dict[str, Any]:
    return {
        "event_id": ev[0],
        "actor": ev[1],
        "namespace": ev[2],
        "timestamp_utc": ev[3],
        "value": ev[4],
        "confidence": ev[5],
    }


@dataclass(frozen=True, slots=True)
class _Contest:
    reason: str
    canonical_value: Any
    evidence_len: int  # the entry shows the first evidence_len pieces of evidence


_BELIEF_TYPES = frozenset({"OBSERVATION", "ASSERTION", "ATTESTATION", "RETRACTION"})


def belief_key(event: Mapping[str, Any]) -> str | None:
    """The belief ("subject:predicate") an event can change, or None: the same test and
    text the reducer uses. A belief's state depends only on the events of its own key (in
    order), which is what lets a preview reduce a handful of keys instead of a whole log."""
    if not isinstance(event, dict) or event.get("type") not in _BELIEF_TYPES:
        return None
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return None
    subject, predicate = payload.get("subject"), payload.get("predicate")
    return f"{subject}:{predicate}" if subject and predicate else None


def key_splits(key: str) -> list[tuple[str, str]]:
    """Every (subject, predicate) pair a belief key may come from: the reducer joins them
    with ":" and either may contain one."""
    return [(key[:i], key[i + 1:]) for i, ch in enumerate(key) if ch == ":"]


def _adopt(mine: dict[str, _V], theirs: dict[str, _V], key: str) -> None:
    if key in theirs:
        mine[key] = theirs[key]
    else:
        mine.pop(key, None)


class Reducer:
    """Feed events in the vault's total order; read beliefs and the state hash."""

    def __init__(self) -> None:
        self.canonical: dict[str, dict[str, Any]] = {}
        self.local: dict[str, dict[str, Any]] = {}
        self.archived: dict[str, list[dict[str, Any]]] = {}
        self._contested: dict[str, _Contest] = {}
        self._evidence: dict[str, list[EvidenceTuple]] = {}
        self.last_event_id: Any = None
        self.event_count = 0
        self.current_epoch: dict[str, Any] | None = None

    def copy_keys(self, keys: Iterable[str]) -> Reducer:
        """A reducer holding only the state of ``keys``, which can be fed more events
        without changing this one: entries and contests are never mutated, only replaced,
        so they are shared; the lists that grow (evidence, archived) are copied."""
        other = Reducer()
        for key in keys:
            if key in self.canonical:
                other.canonical[key] = self.canonical[key]
            if key in self.local:
                other.local[key] = self.local[key]
            if key in self.archived:
                other.archived[key] = list(self.archived[key])
            if key in self._contested:
                other._contested[key] = self._contested[key]
            if key in self._evidence:
                other._evidence[key] = list(self._evidence[key])
        other.last_event_id = self.last_event_id
        other.event_count = self.event_count
        other.current_epoch = self.current_epoch
        return other

    def adopt_keys(self, fresh: Reducer, keys: Iterable[str]) -> None:
        """Replace the state of ``keys`` with ``fresh``'s (a reducer fed exactly those keys'
        events, in log order): a key ``fresh`` does not hold is dropped here. The metadata
        (event count, last event, epoch) is the caller's to set."""
        for key in keys:
            _adopt(self.canonical, fresh.canonical, key)
            _adopt(self.local, fresh.local, key)
            _adopt(self.archived, fresh.archived, key)
            _adopt(self._contested, fresh._contested, key)
            _adopt(self._evidence, fresh._evidence, key)

    # -- feeding ---------------------------------------------------------------------------

    def apply_all(self, events: Iterable[Mapping[str, Any]]) -> Reducer:
        apply = self.apply
        for event in events:
            apply(event)
        return self

    def apply(self, event: Mapping[str, Any]) -> None:
        if not isinstance(event, dict):
            return
        if "schema_version" in event:
            self.last_event_id = event.get("event_id") or "unknown_event"
            self.event_count += 1
            return
        event_id = event.get("event_id") or event.get("id") or "unknown_event"
        etype = event.get("type")
        if etype == "OBSERVATION" or etype == "ASSERTION" or etype == "ATTESTATION" or (
            etype == "RETRACTION"
        ) or etype == "REDUCER_EPOCH":
            payload = event.get("payload") or {}
            if not isinstance(payload, dict):
                payload = {}
            if etype == "OBSERVATION":
                self._observe(event_id, event, payload, DEFAULT_OBSERVATION_CONFIDENCE)
            elif etype == "ASSERTION":
                self._observe(event_id, event, payload, DEFAULT_ASSERTION_CONFIDENCE)
            elif etype == "ATTESTATION":
                self._attest(event_id, event, payload)
            elif etype == "RETRACTION":
                self._retract(event_id, payload)
            else:
                self.current_epoch = {
                    "epoch_id": payload.get("epoch_id"),
                    "reducer_hash": payload.get("reducer_hash"),
                    "effective_from_event_id": payload.get("effective_from_event_id") or event_id,
                    "ontology_versions": payload.get("ontology_versions"),
                }
        self.last_event_id = event_id
        self.event_count += 1

    def _observe(
        self, event_id: Any, event: Mapping[str, Any], payload: Mapping[str, Any], default: float
    ) -> None:
        subject = payload.get("subject")
        predicate = payload.get("predicate")
        if not subject or not predicate:
            return
        key = f"{subject}:{predicate}"
        value = payload.get("value")
        raw_conf = payload.get("confidence")
        # The common case (a finite float) without a function call; the rest as the reference.
        if type(raw_conf) is float and -math.inf < raw_conf < math.inf:
            confidence = raw_conf
        else:
            confidence = _safe_float(raw_conf, default)
        ts = payload.get("timestamp") or payload.get("timestamp_utc")
        ts_str = ts if type(ts) is str else (str(ts) if ts is not None else None)
        actor = event.get("actor") or "unknown"
        if type(actor) is not str:
            actor = str(actor)
        raw_ns = event.get("namespace") or "local"
        ns = _NS_CACHE.get(raw_ns) if type(raw_ns) is str else None
        if ns is None:
            ns = str(raw_ns).strip().lower()
            if ns not in _VALID_NS:
                ns = "local"
        evidence = self._evidence.get(key)
        if evidence is None:
            evidence = self._evidence[key] = []
        evidence.append((event_id, actor, ns, ts_str, value, confidence))

        canonical_entry = self.canonical.get(key)
        local_entry = self.local.get(key)
        if (
            canonical_entry is not None
            and canonical_entry.get("value") != value
            and confidence >= THRESHOLD
        ):
            self._contest(key, "conflicts_with_canonical")
            return
        if local_entry is not None:
            local_value = local_entry.get("value")
            if local_value != value:
                if max(local_entry["confidence"], confidence) >= THRESHOLD:
                    self._contest(key, "conflicts_with_local")
                    return
            elif confidence <= local_entry["confidence"]:
                return
        self.local[key] = {
            "value": value,
            "confidence": confidence,
            "provenance": event_id,
            "actor": actor,
            "timestamp": ts_str,
            "evidence_count": len(evidence),
        }

    def _contest(self, key: str, reason: str) -> None:
        canonical_entry = self.canonical.get(key)
        canonical_value = canonical_entry.get("value") if canonical_entry is not None else None
        self._contested[key] = _Contest(reason, canonical_value, len(self._evidence[key]))
        self.local.pop(key, None)

    def _attest(self, event_id: Any, event: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        subject = payload.get("subject")
        predicate = payload.get("predicate")
        if not subject or not predicate:
            return
        key = f"{subject}:{predicate}"
        existing = self.canonical.get(key)
        if existing is not None:
            # Entries are never mutated after creation, so a shallow copy is as good as the
            # reference's deepcopy.
            self.archived.setdefault(key, []).append({**existing, "superseded_by": event_id})
        self.canonical[key] = {
            "value": payload.get("value"),
            "attested_by": payload.get("actor_key_id") or str(event.get("actor") or "unknown"),
            "provenance": payload.get("target_event_id") or event_id,
            "attestation_event_id": event_id,
        }
        self.local.pop(key, None)
        self._contested.pop(key, None)

    def _retract(self, event_id: Any, payload: Mapping[str, Any]) -> None:
        subject = payload.get("subject")
        predicate = payload.get("predicate")
        if not subject or not predicate:
            return
        key = f"{subject}:{predicate}"
        existing = self.canonical.pop(key, None)
        if existing is not None:
            self.archived.setdefault(key, []).append(
                {**existing, "superseded_by": event_id, "retracted": True}
            )
        self.local.pop(key, None)
        self._contested.pop(key, None)

    # -- reading ---------------------------------------------------------------------------

    @property
    def contested_keys(self) -> list[str]:
        return sorted(self._contested)

    def is_contested(self, key: str) -> bool:
        """Whether ``key`` is contested now, without building its entry (O(1))."""
        return key in self._contested

    def contest_stamp(self, key: str) -> tuple[str, int, Any] | None:
        """(reason, evidence count, last evidence id) of a contested key, or None: cheap
        to read, and equal stamps mean equal entries (evidence is append-only), so a view
        can reuse what it built from contested_entry() until the stamp moves."""
        contest = self._contested.get(key)
        if contest is None:
            return None
        n = contest.evidence_len
        return (contest.reason, n, self._evidence[key][n - 1][0] if n else None)

    def evidence_for(self, key: str) -> list[dict[str, Any]]:
        """Every piece of evidence recorded for a belief key, in order."""
        return [_evidence_dict(ev) for ev in self._evidence.get(key, ())]

    def contested_entry(self, key: str) -> dict[str, Any] | None:
        contest = self._contested.get(key)
        if contest is None:
            return None
        groups: dict[str, list[dict[str, Any]]] = {}
        # A hot key has many pieces of evidence but few distinct values: remember the text of
        # each scalar value. Keyed by type too, since 1 == 1.0 == True must stay apart here;
        # floats are left out because -0.0 == 0.0 yet their texts differ.
        texts: dict[tuple[type, Any], str] = {}
        for ev in self._evidence[key][: contest.evidence_len]:
            value = ev[4]
            vtype = type(value)
            if vtype is str or vtype is int or vtype is bool or value is None:
                text = texts.get((vtype, value))
                if text is None:
                    text = texts[(vtype, value)] = canonical_dumps(value)
            else:
                text = canonical_dumps(value)
            groups.setdefault(text, []).append(_evidence_dict(ev))
        return {
            "status": "AWAITING_RESOLUTION",
            "reason": contest.reason,
            "canonical_value": contest.canonical_value,
            "evidence_by_value": {k: groups[k] for k in sorted(groups)},
            "total_evidence_count": contest.evidence_len,
        }

    def contested_ids(self, key: str) -> list[Any]:
        """The event ids of a contested key's evidence, in order ([] when it is not
        contested)."""
        contest = self._contested.get(key)
        if contest is None:
            return []
        return [ev[0] for ev in self._evidence[key][: contest.evidence_len]]

    def contested_values(self, key: str) -> tuple[str, int, list[str]] | None:
        """(reason, evidence count, the distinct values' canonical texts in sorted order) of
        a contested key, or None: the reason, ``total_evidence_count`` and the keys of
        ``evidence_by_value`` of its entry, without building the entry (a dict per piece of
        evidence: tens of milliseconds for a hot key, too slow to paint a table row)."""
        contest = self._contested.get(key)
        if contest is None:
            return None
        texts: set[str] = set()
        # A hot key holds thousands of pieces of evidence but few distinct values: scalars
        # are collected first (by type too: 1, 1.0 and True must stay apart) and encoded
        # once each; floats are encoded every time because -0.0 == 0.0 yet reads apart.
        scalars: set[tuple[type, Any]] = set()
        for ev in self._evidence[key][: contest.evidence_len]:
            value = ev[4]
            vtype = type(value)
            if vtype is str or vtype is int or vtype is bool or value is None:
                scalars.add((vtype, value))
            else:
                texts.add(canonical_dumps(value))
        texts.update(canonical_dumps(value) for _vtype, value in scalars)
        return contest.reason, contest.evidence_len, sorted(texts)

    def contested_text(self, key: str) -> str:
        """``canonical_dumps(self.contested_entry(key))``, written directly.

        A hot vault's state is mostly contested evidence, and building a dict per piece of
        evidence only to have the encoder sort and write it was a quarter of a full reduce.
        Evidence has a fixed shape (six keys, already in sorted order here) whose members are
        text, one float and the value, whose canonical text the grouping computes anyway.
        tests/unit/test_reducer_text.py pins this to the encoder's output."""
        contest = self._contested[key]
        enc = _encode_str
        groups: dict[str, list[str]] = {}
        texts: dict[tuple[type, Any], str] = {}
        for eid, actor, ns, ts, value, conf in self._evidence[key][: contest.evidence_len]:
            vtype = type(value)
            if vtype is str or vtype is int or vtype is bool or value is None:
                vtext = texts.get((vtype, value))
                if vtext is None:
                    vtext = texts[(vtype, value)] = canonical_dumps(value)
            else:
                vtext = canonical_dumps(value)
            groups.setdefault(vtext, []).append(
                '{"actor":' + enc(actor)
                + ',"confidence":' + _float_repr(conf)
                + ',"event_id":' + (enc(eid) if type(eid) is str else canonical_dumps(eid))
                + ',"namespace":' + enc(ns)
                + ',"timestamp_utc":' + (enc(ts) if ts is not None else "null")
                + ',"value":' + vtext + "}")
        by_value = ",".join(enc(k) + ":[" + ",".join(groups[k]) + "]" for k in sorted(groups))
        return ('{"canonical_value":' + canonical_dumps(contest.canonical_value)
                + ',"evidence_by_value":{' + by_value + '},"reason":'
                + canonical_dumps(contest.reason)
                + ',"status":"AWAITING_RESOLUTION","total_evidence_count":'
                + str(contest.evidence_len) + "}")

    def _metadata_partial(self) -> dict[str, Any]:
        return {
            "last_event_id": self.last_event_id,
            "event_count": self.event_count,
            "current_epoch": self.current_epoch,
            "reducer": {
                "name": REDUCER_NAME,
                "version": REDUCER_VERSION,
                "conflict_confidence_threshold": THRESHOLD,
            },
        }

    def state_hash(self) -> str:
        """sha256 of the canonical state (metadata minus state_hash), streamed: the contested
        section of a hot vault is large, so it is hashed key by key instead of as one string.
        The pieces concatenate to exactly ``canonical_dumps`` of the whole (keys sorted)."""
        h = hashlib.sha256()
        put = h.update
        put(b'{"archived":')
        put(canonical_dumps(self.archived).encode())
        put(b',"canonical":')
        put(canonical_dumps(self.canonical).encode())
        put(b',"contested":{')
        for i, key in enumerate(sorted(self._contested)):
            if i:
                put(b",")
            put(canonical_dumps(key).encode())
            put(b":")
            put(self.contested_text(key).encode())
        put(b'},"local":')
        put(canonical_dumps(self.local).encode())
        put(b',"metadata_partial":')
        put(canonical_dumps(self._metadata_partial()).encode())
        put(b"}")
        return h.hexdigest()

    def export_state(self) -> dict[str, Any]:
        """The state exactly as the reference exports it (metadata.state_hash included)."""
        meta = self._metadata_partial()
        return {
            "canonical": self.canonical,
            "local": self.local,
            "contested": {k: self.contested_entry(k) for k in sorted(self._contested)},
            "archived": self.archived,
            "metadata": {
                "last_event_id": meta["last_event_id"],
                "event_count": meta["event_count"],
                "state_hash": self.state_hash(),
                "current_epoch": meta["current_epoch"],
                "reducer": meta["reducer"],
            },
        }


def reduce_events(events: Iterable[Mapping[str, Any]]) -> Reducer:
    return Reducer().apply_all(events)

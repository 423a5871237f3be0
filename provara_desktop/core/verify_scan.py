"""The per-line half of verification: parse one log line, check its id, find its key and cut
the message its signature covers. Kept apart from the report assembly in core.verify because
it runs in two places: on the caller's thread (small logs, signatures on a thread pool) and
inside worker processes (large logs), where each worker also checks the signatures itself.

Processes, not threads, for large logs: parsing holds the GIL, so with threads the parser and
the two signature threads took turns rather than sharing the two cores (about 1.5 cores busy;
with processes about 1.95). Everything a worker sends back is a plain tuple, which pickles
several times faster than objects.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from provara_desktop.core.canonical import MAX_DEPTH, MAX_LINE_BYTES, canonical_dumps
from provara_desktop.core.event import IdForm, classify_event_id, signing_bytes
from provara_desktop.core.key_life import KEY_LIFE_TYPES
from provara_desktop.core.keys import verify_raw
from provara_desktop.core.logline import parse_line

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from provara_desktop.core.keyring import KeyEntry

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    event_id: str | None = None
    actor: str | None = None
    line: int | None = None
    path: str | None = None
    severity: str = ERROR

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "event_id": self.event_id,
            "actor": self.actor,
            "path": self.path,
            "line": self.line,
            "message": self.message,
        }


# What one line became. ``kind``: NOT_EVENT (blank or unreadable: only problems),
# NO_REC (an event lacking id/actor/type: counted, problems), EVENT (a record follows).
NOT_EVENT, NO_REC, EVENT = 0, 1, 2
# rec = (line, event_id, actor, prev, ts, key_id, type, payload_hint)
Rec = tuple[int, str, str, Any, str, "str | None", str, Any]
# (kind, rec or None, problems or None, legacy id?, signature task or None)
SigTask = tuple[bytes, bytes, bytes]  # (public key, message, signature)
Outcome = tuple[int, "Rec | None", "list[Problem] | None", bool, "SigTask | None"]

def fast_messages(raw: bytes, sig: str, eid: str) -> tuple[bytes, bytes] | None:
    """(signed message, rule-A id preimage) cut from a canonical line without re-encoding.

    A canonical line minus its top-level ``"sig"`` member is exactly canonical(event - sig);
    minus ``"event_id"`` too it is the id preimage. We only cut when each needle occurs
    exactly once, otherwise fall back to re-encoding (which is always right)."""
    # The needles are written down directly, which is exact only for text that canonical
    # JSON does not escape: printable ASCII without quote or backslash (base64, hex ids).
    if not (sig.isascii() and sig.isprintable() and eid.isascii() and eid.isprintable()
            and '"' not in sig and "\\" not in sig and '"' not in eid and "\\" not in eid):
        return None
    sig_needle = b',"sig":"' + sig.encode() + b'"'
    id_needle = b'"event_id":"' + eid.encode() + b'",'
    # find twice rather than count and replace: one pass over the line per needle to prove
    # it occurs once, and slices instead of a second pass to cut it out (this runs once per
    # event, in every verification).
    s = raw.find(sig_needle)
    if s < 0 or raw.find(sig_needle, s + 1) >= 0:
        return None
    msg = raw[:s] + raw[s + len(sig_needle):]
    i = msg.find(id_needle)
    if i < 0 or msg.find(id_needle, i + 1) >= 0:
        return None
    return msg, msg[:i] + msg[i + len(id_needle):]


def parse_fast(raw: bytes) -> dict[str, Any] | None:
    """The event when the line is canonical JSON of an object, else None (slow path).

    orjson reads faster than the standard library; whatever it might read differently (a
    huge integer becomes a float) cannot survive the comparison with the canonical bytes,
    which are written by the standard encoder exactly as the reference writes them."""
    if len(raw) > MAX_LINE_BYTES or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        return None  # the limits every line obeys: parse_line checks them exactly
    try:
        obj = orjson.loads(raw)
        if type(obj) is not dict:
            return None
        # orjson writes the same bytes as the reference's encoder for everything but floats
        # with a negative exponent (1e-05 becomes 0.00001, 7e-08 becomes 7e-8); a line that
        # could hold such a float is compared with the reference's encoding itself.
        # tests/unit/test_verify_paths.py checks this on generated values.
        try:
            quick = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # an integer beyond 64 bits (it was read as a float anyway)
            quick = None
        if quick == raw and not _may_format_floats_apart(raw):
            return obj
        if canonical_dumps(obj).encode("utf-8") == raw:
            return obj
    except (ValueError, RecursionError, UnicodeEncodeError):
        pass
    return None


_NEG_EXPONENT = re.compile(rb"[0-9]e-")


def _may_format_floats_apart(raw: bytes) -> bool:
    """Whether ``raw`` may hold a float that orjson and the standard encoder write apart:
    one with a negative exponent ("1e-05") or below 1e-4 in decimal form ("0.00001")."""
    return (b"e-" in raw and _NEG_EXPONENT.search(raw) is not None) or b".0000" in raw


def scan_line(lineno: int, raw: bytes, keys: Mapping[str, KeyEntry], path: str) -> Outcome:
    """Everything verification checks on one line by itself (not duplicates, chains or
    order, which need the whole log). The common case (a canonical, signed, rule-A event)
    takes as few Python operations as possible: this runs once per event."""
    ev = parse_fast(raw)
    canonical = ev is not None
    if ev is None:
        if not raw.strip():
            return (NOT_EVENT, None, [Problem("BLANK_LINE", f"{path} line {lineno} is blank",
                                              line=lineno, path=path, severity=WARNING)],
                    False, None)
        parsed = parse_line(raw, where=f"{path} line {lineno}")
        ev = parsed.event
        if ev is None:
            return (NOT_EVENT, None, [Problem("MALFORMED_EVENT", parsed.error or "unreadable",
                                              line=lineno, path=path)], False, None)
        canonical = parsed.canonical
    get = ev.get
    eid, actor, etype = get("event_id"), get("actor"), get("type")
    if not (type(eid) is str and eid and type(actor) is str and actor
            and type(etype) is str and etype):
        return (NO_REC, None, [_missing_fields(eid, actor, etype, lineno, path)], False, None)
    problems: list[Problem] | None = None
    key_id, sig, ts = get("actor_key_id"), get("sig"), get("timestamp_utc")
    fast = None
    if canonical and type(sig) is str:
        fast = fast_messages(raw, sig, eid)
    elif not canonical:
        problems = [_non_canonical(eid, actor, lineno, path)]
    legacy = False
    if fast is None or "evt_" + hashlib.sha256(fast[1]).hexdigest()[:24] != eid:
        form = classify_event_id(ev)
        if form is IdForm.LEGACY_B:
            legacy = True
        elif form is IdForm.MISMATCH:
            problems = (problems or []) + [Problem(
                "EVENT_ID_MISMATCH",
                f"{eid} on line {lineno} is not the hash of its content: the event "
                "was altered after it was made, or its id was forged",
                event_id=eid, actor=actor, line=lineno, path=path)]
    rec: Rec = (lineno, eid, actor, get("prev_event_hash"), ts if type(ts) is str else "",
                key_id if type(key_id) is str else None, etype,
                get("payload") if etype in KEY_LIFE_TYPES else None)
    entry = keys.get(key_id) if type(key_id) is str else None
    if entry is None or entry.entry_error is not None or type(sig) is not str:
        problems = (problems or []) + [_key_problem(entry, eid, actor, key_id, sig, lineno,
                                                    path)]
        return (EVENT, rec, problems, legacy, None)
    try:
        sig_raw = binascii.a2b_base64(sig, strict_mode=True)
    except (binascii.Error, ValueError):
        sig_raw = b""
    if len(sig_raw) != 64:
        problems = (problems or []) + [Problem(
            "BAD_SIGNATURE", f"{eid}: signature is not 64 bytes of standard base64",
            event_id=eid, actor=actor, line=lineno, path=path)]
        return (EVENT, rec, problems, legacy, None)
    msg = fast[0] if fast is not None else signing_bytes(ev)
    return (EVENT, rec, problems, legacy, (entry.public.raw, msg, sig_raw))


# -- worker processes ------------------------------------------------------------------------

_worker_keys: Mapping[str, KeyEntry] = {}


def init_worker(keys: Mapping[str, KeyEntry]) -> None:
    """Process-pool initializer: the keyring is sent once, not with every chunk."""
    global _worker_keys
    _worker_keys = keys


def scan_chunk(lines: Sequence[tuple[int, bytes]], path: str,
               keys: Mapping[str, KeyEntry] | None = None
               ) -> list[tuple[int, Rec | None, list[Problem] | None, bool, bool]]:
    """Scan lines and check their signatures here. The last field of each outcome says the
    signature failed (the caller turns that into BAD_SIGNATURE in record order). ``keys``:
    the keyring for this chunk (a pool that outlives one log, like a sync session's, gets
    it with each chunk); None: the one the worker was started with."""
    if keys is None:
        keys = _worker_keys
    out = []
    for lineno, raw in lines:
        kind, rec, problems, legacy, task = scan_line(lineno, raw, keys, path)
        out.append((kind, rec, problems, legacy,
                    task is not None and not verify_raw(*task)))
    return out


def _missing_fields(eid: Any, actor: Any, etype: Any, lineno: int, path: str) -> Problem:
    missing = [n for n, v in (("event_id", eid), ("type", etype), ("actor", actor))
               if not isinstance(v, str) or not v]
    return Problem(
        "MISSING_FIELD",
        f"{path} line {lineno}: event lacks {', '.join(missing)} (or it is not text)",
        event_id=eid if isinstance(eid, str) else None,
        actor=actor if isinstance(actor, str) else None, line=lineno, path=path)


def _non_canonical(eid: str, actor: str, lineno: int, path: str) -> Problem:
    return Problem(
        "NON_CANONICAL_LINE",
        f"line {lineno} is valid JSON but not in canonical form (the reference rewrites "
        "such lines; signatures are checked on the canonical form)",
        event_id=eid, actor=actor, line=lineno, path=path, severity=WARNING)


def _key_problem(entry: KeyEntry | None, eid: str, actor: str, key_id: Any, sig: Any,
                 lineno: int, path: str) -> Problem:
    if type(sig) is not str or type(key_id) is not str:
        return Problem("UNSIGNED_EVENT", f"{eid} (line {lineno}) carries no signature or key id",
                       event_id=eid, actor=actor, line=lineno, path=path)
    if entry is None:
        return Problem(
            "UNKNOWN_KEY",
            f"{eid} (line {lineno}) is signed by key {key_id}, which is not in "
            "identity/keys.json", event_id=eid, actor=actor, line=lineno, path=path)
    return Problem("BAD_KEY_ENTRY", f"{eid}: {entry.entry_error}",
                   event_id=eid, actor=actor, line=lineno, path=path)

"""Verification of an event log: a structured report, never a bare pass/fail.

Each problem carries a code, the event and actor it concerns, the line it is on and a sentence
a person can act on. Forks carry both competing events as proof. Signatures are checked on a
small thread pool: PyNaCl releases the GIL inside Ed25519, so two cores verify twice as fast.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import json.scanner
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_dumps
from provara_desktop.core.errors import UserCancelled
from provara_desktop.core.event import (
    IdForm,
    classify_event_id,
    order_key,
    signing_bytes,
)
from provara_desktop.core.keys import verify_raw
from provara_desktop.core.logline import parse_line
from provara_desktop.core.order import Fork, detect_forks, total_order

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from provara_desktop.core.keyring import KeyEntry, KeyRing

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


@dataclass
class LogReport:
    event_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)
    legacy_ids: list[str] = field(default_factory=list)
    # line number (1-based) of each event id, so callers can attach proofs
    lines_by_id: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.forks and all(p.severity != ERROR for p in self.problems)


@dataclass(slots=True)
class _Rec:
    """What verification keeps of each event: small, because a vault can hold millions."""

    line: int
    event_id: str
    actor: str
    prev: Any
    ts: str
    key_id: str | None
    type: str
    payload_hint: Any  # KEY_* payloads only, else None


_SIG_CHUNK = 512
# Base64 signatures and hex event ids need no JSON escaping, so their encoded form can be
# written down directly; anything else takes the general path.
_PLAIN = re.compile(r"[A-Za-z0-9+/=_]+")
_scan_once: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _check_sigs(batch: list[tuple[int, bytes, bytes, bytes]]) -> list[int]:
    """Return the indices (into the caller's record list) whose signature fails."""
    return [i for i, pk, msg, sig in batch if not verify_raw(pk, msg, sig)]


def _fast_messages(raw: bytes, sig: str, eid: str) -> tuple[bytes, bytes] | None:
    """(signed message, rule-A id preimage) cut from a canonical line without re-encoding.

    A canonical line minus its top-level ``"sig"`` member is exactly canonical(event - sig);
    minus ``"event_id"`` too it is the id preimage. We only cut when each needle occurs
    exactly once, otherwise fall back to re-encoding (which is always right)."""
    if not (_PLAIN.fullmatch(sig) and _PLAIN.fullmatch(eid)):
        return None
    sig_needle = b',"sig":"' + sig.encode() + b'"'
    id_needle = b'"event_id":"' + eid.encode() + b'",'
    if raw.count(sig_needle) != 1 or raw.count(id_needle) != 1:
        return None
    msg = raw.replace(sig_needle, b"", 1)
    return msg, msg.replace(id_needle, b"", 1)


def _parse_fast(raw: bytes) -> dict[str, Any] | None:
    """The event when the line is canonical JSON of an object, else None (slow path)."""
    try:
        text = raw.decode("utf-8")
        obj, end = _scan_once(text, 0)
        if end == len(text) and type(obj) is dict and canonical_dumps(obj) == text:
            return obj
    except (ValueError, RecursionError, StopIteration):
        pass
    return None


def verify_lines(
    lines: Iterable[tuple[int, bytes]],
    keyring: KeyRing,
    *,
    path: str = "events/events.ndjson",
    workers: int = 2,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> LogReport:
    """Verify every event of a log given as (line number, raw bytes without newline).

    The loop below is the hot path of verification: the common case (a canonical, signed,
    rule-A event) is handled with as few Python operations as possible so that the two
    verify threads, not this one, set the pace."""
    report = LogReport()
    problems = report.problems
    recs: list[_Rec] = []
    seen: dict[str, int] = {}
    pending: list[Future[list[int]]] = []
    batch: list[tuple[int, bytes, bytes, bytes]] = []
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify")
    keys = keyring.entries
    sha256 = hashlib.sha256
    a2b = binascii.a2b_base64

    def flush() -> None:
        nonlocal batch
        if batch:
            pending.append(pool.submit(_check_sigs, batch))
            batch = []

    try:
        for lineno, raw in lines:
            if not lineno & 4095:
                if cancelled is not None and cancelled():
                    raise UserCancelled("verification cancelled")
                if progress is not None:
                    progress(lineno)
            ev = _parse_fast(raw)
            canonical = ev is not None
            if ev is None:
                if not raw.strip():
                    problems.append(Problem("BLANK_LINE", f"{path} line {lineno} is blank",
                                            line=lineno, path=path, severity=WARNING))
                    continue
                parsed = parse_line(raw, where=f"{path} line {lineno}")
                ev = parsed.event
                if ev is None:
                    problems.append(Problem("MALFORMED_EVENT", parsed.error or "unreadable",
                                            line=lineno, path=path))
                    continue
                canonical = parsed.canonical
            report.event_count += 1
            get = ev.get
            eid, actor, etype = get("event_id"), get("actor"), get("type")
            if not (type(eid) is str and eid and type(actor) is str and actor
                    and type(etype) is str and etype):
                _missing_fields(problems, eid, actor, etype, lineno, path)
                continue
            if eid in seen:
                problems.append(Problem(
                    "DUPLICATE_EVENT_ID",
                    f"{eid} appears on line {seen[eid]} and again on line {lineno}",
                    event_id=eid, actor=actor, line=lineno, path=path))
                continue
            seen[eid] = lineno
            key_id, sig, ts = get("actor_key_id"), get("sig"), get("timestamp_utc")
            fast = None
            if canonical and type(sig) is str:
                fast = _fast_messages(raw, sig, eid)
            else:
                if not canonical:
                    problems.append(_non_canonical(eid, actor, lineno, path))
            if fast is None or "evt_" + sha256(fast[1]).hexdigest()[:24] != eid:
                form = classify_event_id(ev)
                if form is IdForm.LEGACY_B:
                    report.legacy_ids.append(eid)
                elif form is IdForm.MISMATCH:
                    problems.append(Problem(
                        "EVENT_ID_MISMATCH",
                        f"{eid} on line {lineno} is not the hash of its content: the event "
                        "was altered after it was made, or its id was forged",
                        event_id=eid, actor=actor, line=lineno, path=path))
            idx = len(recs)
            recs.append(_Rec(lineno, eid, actor, get("prev_event_hash"),
                             ts if type(ts) is str else "",
                             key_id if type(key_id) is str else None, etype,
                             get("payload") if etype[:4] == "KEY_" else None))
            entry = keys.get(key_id) if type(key_id) is str else None
            if entry is None or entry.entry_error is not None or type(sig) is not str:
                _key_problem(problems, entry, eid, actor, key_id, sig, lineno, path)
                continue
            try:
                sig_raw = a2b(sig, strict_mode=True)
            except (binascii.Error, ValueError):
                sig_raw = b""
            if len(sig_raw) != 64:
                problems.append(Problem("BAD_SIGNATURE", f"{eid}: signature is not 64 bytes "
                                        "of standard base64", event_id=eid, actor=actor,
                                        line=lineno, path=path))
                continue
            batch.append((idx, entry.public.raw,
                          fast[0] if fast is not None else signing_bytes(ev), sig_raw))
            if len(batch) >= _SIG_CHUNK:
                flush()
                if len(pending) > 8 * max(1, workers):
                    # Bound memory: wait for the oldest batch before queueing more.
                    pending[0].result()
        flush()
        bad = sorted(i for fut in pending for i in fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for i in bad:
        r = recs[i]
        problems.append(Problem(
            "BAD_SIGNATURE",
            f"{r.event_id} (line {r.line}) does not match its signature by {r.key_id}: the "
            "event was altered, or it was not signed by that key",
            event_id=r.event_id, actor=r.actor, line=r.line, path=path))
    report.lines_by_id = seen
    _check_chains(recs, report, path)
    _check_revocations(recs, keyring, report, path)
    _check_actor_keys(recs, report, path)
    _check_order(recs, report, path)
    report.forks = detect_forks(
        [{"actor": r.actor, "event_id": r.event_id, "prev_event_hash": r.prev} for r in recs]
    )
    return report


def _missing_fields(problems: list[Problem], eid: Any, actor: Any, etype: Any, lineno: int,
                    path: str) -> None:
    missing = [n for n, v in (("event_id", eid), ("type", etype), ("actor", actor))
               if not isinstance(v, str) or not v]
    problems.append(Problem(
        "MISSING_FIELD",
        f"{path} line {lineno}: event lacks {', '.join(missing)} (or it is not text)",
        event_id=eid if isinstance(eid, str) else None,
        actor=actor if isinstance(actor, str) else None, line=lineno, path=path))


def _non_canonical(eid: str, actor: str, lineno: int, path: str) -> Problem:
    return Problem(
        "NON_CANONICAL_LINE",
        f"line {lineno} is valid JSON but not in canonical form (the reference rewrites "
        "such lines; signatures are checked on the canonical form)",
        event_id=eid, actor=actor, line=lineno, path=path, severity=WARNING)


def _key_problem(problems: list[Problem], entry: KeyEntry | None, eid: str, actor: str,
                 key_id: Any, sig: Any, lineno: int, path: str) -> None:
    if type(sig) is not str or type(key_id) is not str:
        problems.append(Problem("UNSIGNED_EVENT",
                                f"{eid} (line {lineno}) carries no signature or key id",
                                event_id=eid, actor=actor, line=lineno, path=path))
    elif entry is None:
        problems.append(Problem(
            "UNKNOWN_KEY",
            f"{eid} (line {lineno}) is signed by key {key_id}, which is not in "
            "identity/keys.json", event_id=eid, actor=actor, line=lineno, path=path))
    else:
        problems.append(Problem("BAD_KEY_ENTRY", f"{eid}: {entry.entry_error}",
                                event_id=eid, actor=actor, line=lineno, path=path))


def _check_chains(recs: Sequence[_Rec], report: LogReport, path: str) -> None:
    by_id = {r.event_id: r for r in recs}
    for r in recs:
        if r.prev is None:
            continue
        if not isinstance(r.prev, str):
            report.problems.append(Problem(
                "CHAIN_BROKEN", f"{r.event_id}: prev_event_hash is not text",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path))
            continue
        target = by_id.get(r.prev)
        if target is None:
            report.problems.append(Problem(
                "CHAIN_BROKEN",
                f"{r.event_id} (line {r.line}) chains to {r.prev}, which is not in this vault",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path))
        elif target.actor != r.actor:
            report.problems.append(Problem(
                "CHAIN_BROKEN",
                f"{r.event_id} (line {r.line}, actor {r.actor}) chains to {r.prev}, an event "
                f"of another actor ({target.actor})",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path))


def _ancestors(start: str, by_id: dict[str, _Rec]) -> set[str]:
    out: set[str] = set()
    cur: Any = start
    while isinstance(cur, str) and cur in by_id and cur not in out:
        out.add(cur)
        cur = by_id[cur].prev
    return out


def _check_revocations(recs: Sequence[_Rec], keyring: KeyRing, report: LogReport,
                       path: str) -> None:
    """Events by a revoked key stay valid up to the trust boundary its revocation names:
    the boundary event and its chain ancestors. Later ones are flagged (A §7)."""
    revoked = {kid for kid, e in keyring.entries.items() if e.status == "revoked"}
    if not revoked:
        return
    by_id = {r.event_id: r for r in recs}
    trusted: dict[str, set[str]] = {kid: set() for kid in revoked}
    has_boundary: set[str] = set()
    for r in recs:
        if r.type == "KEY_REVOCATION" and isinstance(r.payload_hint, dict):
            kid = r.payload_hint.get("revoked_key_id")
            boundary = r.payload_hint.get("trust_boundary_event_id")
            if kid in trusted and isinstance(boundary, str):
                has_boundary.add(kid)
                trusted[kid] |= _ancestors(boundary, by_id)
    for r in recs:
        if r.key_id in revoked and r.event_id not in trusted[r.key_id]:
            why = ("after the trust boundary of its revocation" if r.key_id in has_boundary
                   else "and no revocation event in this vault names a trust boundary")
            report.problems.append(Problem(
                "REVOKED_KEY",
                f"{r.event_id} (line {r.line}) is signed by revoked key {r.key_id} {why}",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path))


def _check_actor_keys(recs: Sequence[_Rec], report: LogReport, path: str) -> None:
    """An actor label belongs to the key that first signed for it (and keys promoted to
    replace it). The reference binds nothing here; we flag impersonation."""
    replaced_by: dict[str, set[str]] = {}
    for r in recs:
        if r.type == "KEY_PROMOTION" and isinstance(r.payload_hint, dict):
            old, new = r.payload_hint.get("replaces_key_id"), r.payload_hint.get("new_key_id")
            if isinstance(old, str) and isinstance(new, str):
                replaced_by.setdefault(old, set()).add(new)
    allowed: dict[str, set[str]] = {}
    for r in recs:
        if r.key_id is None:
            continue
        keys = allowed.get(r.actor)
        if keys is None:
            allowed[r.actor] = {r.key_id}
            continue
        if r.key_id in keys:
            continue
        if any(r.key_id in replaced_by.get(k, ()) for k in keys):
            keys.add(r.key_id)
            continue
        report.problems.append(Problem(
            "ACTOR_KEY_MISMATCH",
            f"{r.event_id} (line {r.line}) claims actor {r.actor!r}, which belongs to key "
            f"{sorted(keys)[0]}, but is signed by {r.key_id}",
            event_id=r.event_id, actor=r.actor, line=r.line, path=path))


def _check_order(recs: Sequence[_Rec], report: LogReport, path: str) -> None:
    events = [{"event_id": r.event_id, "actor": r.actor, "prev_event_hash": r.prev,
               "timestamp_utc": r.ts} for r in recs]
    order = total_order(events)
    for pos, i in enumerate(order):
        if pos != i:
            r = recs[pos]
            report.problems.append(Problem(
                "NOT_IN_TOTAL_ORDER",
                f"line {r.line} is not where the deterministic total order puts it (it "
                f"holds {r.event_id}, expected {recs[i].event_id}); replicas with the same "
                "events may disagree on the file until it is reordered",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path, severity=WARNING))
            break


def ordered_keys(events: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [order_key(e) for e in events]

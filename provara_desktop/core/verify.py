"""Verification of an event log: a structured report, never a bare pass/fail.

Each problem carries a code, the event and actor it concerns, the line it is on and a sentence
a person can act on. Forks carry both competing events as proof.

Each line is checked by core.verify_scan, wherever the caller runs it (store/parallel_verify.py
spreads the lines over worker processes or threads); its outcomes are folded here, in log
order, by a LogAssembler, whose ``finish`` runs the checks that need the whole log
(duplicates, chains, revocations, actor keys, order, forks). Nothing here starts a thread or
a process or touches a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.actor_labels import label_key_prefix, squats
from provara_desktop.core.errors import InputError
from provara_desktop.core.event import order_key
from provara_desktop.core.key_life import (
    KEY_LIFE_TYPES,
    KeyLife,
    KeyRecord,
    MemoryAncestry,
    derive,
)
from provara_desktop.core.keys import verify_raw
from provara_desktop.core.order import Fork, detect_forks, total_order
from provara_desktop.core.verify_scan import (
    ERROR,
    EVENT,
    NOT_EVENT,
    WARNING,
    Problem,
    Rec,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from provara_desktop.core.keyring import KeyRing

__all__ = ["ERROR", "EVENT", "FOREIGN_MAX_ERRORS", "WARNING", "LogAssembler", "LogReport",
           "Problem", "VerificationStopped", "check_signatures"]


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


def check_signatures(batch: list[tuple[int, bytes, bytes, bytes]]) -> list[int]:
    """Of (record index, public key, message, signature) tuples, the indices whose signature
    fails. PyNaCl releases the GIL inside Ed25519, so batches run well on threads."""
    return [i for i, pk, msg, sig in batch if not verify_raw(pk, msg, sig)]


# Foreign input (a bundle, a delta, a peer's batch) is verified up to this many errors: past
# them the batch is refused anyway, and reading on would only let a hostile one (a line
# repeated a million times) fill memory with problems and kept lines.
FOREIGN_MAX_ERRORS = 100


class VerificationStopped(InputError):
    """Verification gave up after ``max_errors`` errors; ``report`` holds what it found, the
    last problem saying where it stopped (the rest of the input was not read)."""

    def __init__(self, message: str, *, where: str, report: LogReport) -> None:
        super().__init__(message, where=where)
        self.report = report


class LogAssembler:
    """Folds line outcomes, in log order, into the report: duplicate ids need every line
    before them, so the folding always runs on one thread, in order. With ``max_errors``,
    the error that reaches it raises VerificationStopped (the input is refused then)."""

    def __init__(self, keyring: KeyRing, path: str, *, max_errors: int | None = None) -> None:
        self.report = LogReport()
        self.keyring = keyring
        self.path = path
        self.recs: list[_Rec] = []
        self.seen: dict[str, int] = {}
        self.max_errors = max_errors
        self.errors = 0
        self.line = 0  # the last line added
        self.key_life: KeyLife | None = None  # once finished: the log's key life

    def _count(self, problems: Iterable[Problem]) -> None:
        if self.max_errors is not None:
            self.note_errors(sum(1 for p in problems if p.severity == ERROR))

    def note_errors(self, n: int) -> None:
        """Count ``n`` more errors (the runner's failed signatures, as it learns of them)."""
        if self.max_errors is None or not n:
            return
        self.errors += n
        if self.errors >= self.max_errors:
            report = self.report
            first = next((p.message for p in report.problems if p.severity == ERROR),
                         "signatures that do not verify")
            report.problems.append(Problem(
                "VERIFICATION_STOPPED",
                f"{self.path} line {self.line}: verification stopped after {self.errors} "
                "errors; the rest was not read", line=self.line, path=self.path))
            raise VerificationStopped(
                f"stopped after {self.errors} errors (the first: {first})",
                where=f"{self.path} line {self.line}", report=report)

    def add(self, kind: int, rec: Rec | None, problems: list[Problem] | None,
            legacy: bool) -> int:
        """Record one outcome; the index of its record, or -1 when it has none."""
        report = self.report
        if kind != NOT_EVENT:
            report.event_count += 1
        if rec is None:
            if problems:
                report.problems.extend(problems)
                if problems[0].line is not None:
                    self.line = problems[0].line
                self._count(problems)
            return -1
        eid = rec[1]
        self.line = rec[0]
        first = self.seen.get(eid)
        if first is not None:
            dup = Problem("DUPLICATE_EVENT_ID",
                          f"{self.path} line {rec[0]} repeats line {first} (event {eid})",
                          event_id=eid, actor=rec[2], line=rec[0], path=self.path)
            report.problems.append(dup)
            self._count((dup,))
            return -1
        self.seen[eid] = rec[0]
        if problems:
            report.problems.extend(problems)
            self._count(problems)
        if legacy:
            report.legacy_ids.append(eid)
        self.recs.append(_Rec(*rec))
        return len(self.recs) - 1

    def finish(self, bad_signatures: Iterable[int]) -> LogReport:
        """The report, once every line was added: ``bad_signatures`` are the indices (as
        ``add`` returned them) of the records whose signature failed."""
        report, recs, path = self.report, self.recs, self.path
        for i in sorted(bad_signatures):
            r = recs[i]
            report.problems.append(Problem(
                "BAD_SIGNATURE",
                f"{r.event_id} (line {r.line}) does not match its signature by {r.key_id}: "
                "the event was altered, or it was not signed by that key",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path))
        report.lines_by_id = self.seen
        _check_chains(recs, report, path)
        life = self.key_life = _key_life(recs, self.keyring)
        void = _check_revocations(recs, life, report, path)
        squatted = _check_actor_keys(recs, report, path,
                                     life.promotions() if life is not None else {})
        _check_order(recs, report, path)
        # A squatter's events under a label, and a revoked key's after its boundary, are
        # flagged above: they are not the label's chain, so they make no fork with it.
        report.forks = _forks(recs, squatted | void)
        return report


def _forks(recs: Sequence[_Rec], skip: set[str] | frozenset[str] = frozenset()
           ) -> list[Fork]:
    """core.order.detect_forks over the compact records, without a dict per event: groups
    are only materialised for the (rare) predecessors claimed twice. ``skip``: event ids
    that belong to no chain (a squatter's)."""
    first: dict[tuple[str, Any], str] = {}
    dup: dict[tuple[str, Any], list[str]] = {}
    for r in recs:
        prev = r.prev
        if prev is not None and type(prev) is not str:
            continue
        if skip and r.event_id in skip:
            continue
        k = (r.actor, prev)
        seen = first.setdefault(k, r.event_id)
        if seen is not r.event_id:
            dup.setdefault(k, [seen]).append(r.event_id)
    if not dup:
        return []
    return detect_forks([{"actor": a, "event_id": e, "prev_event_hash": p}
                         for (a, p), ids in dup.items() for e in ids])


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


def _key_life(recs: Sequence[_Rec], keyring: KeyRing) -> KeyLife | None:
    """Key life (core/key_life.py) of this log, or None when no key has a life to speak of
    (no key event, nothing revoked in keys.json): every vault but a few."""
    key_recs = [r for r in recs if r.type in KEY_LIFE_TYPES]
    if not key_recs and not any(e.status == "revoked" for e in keyring.entries.values()):
        return None
    first: dict[str, str] = {}
    root = None
    for r in recs:
        if r.key_id is not None:
            first.setdefault(r.actor, r.key_id)
            if root is None and r.type == "GENESIS":
                root = r.key_id
    ancestry = MemoryAncestry({r.event_id: (r.prev, r.key_id) for r in recs})
    return derive([KeyRecord(r.event_id, r.actor, r.key_id, r.prev, r.type, r.payload_hint)
                   for r in key_recs], ancestry, keyring, root_key_id=root, first_signer=first)


def _check_revocations(recs: Sequence[_Rec], life: KeyLife | None, report: LogReport,
                       path: str) -> set[str]:
    """Key events that do not count are reported; events by a revoked key stay valid up to
    the trust boundary its revocation names (the boundary event and its chain ancestors),
    later ones are REVOKED_KEY (A section 7). Returns the ids of those void events."""
    if life is None:
        return set()
    lines = report.lines_by_id
    for kp in life.problems:
        report.problems.append(Problem(
            kp.code, kp.message, event_id=kp.event_id, actor=kp.actor,
            line=lines.get(kp.event_id), path=path, severity=ERROR if kp.error else WARNING))
    void: set[str] = set()
    revoked = life.revoked_keys()
    for r in recs:
        if r.key_id in revoked and life.void(r.event_id, r.key_id):
            got = life.revocation(r.key_id)
            boundary = got[1] if got else None
            why = (f"after the trust boundary ({boundary}) of its revocation" if boundary
                   else "and no revocation of it names a trust boundary")
            void.add(r.event_id)
            report.problems.append(Problem(
                "REVOKED_KEY",
                f"{r.event_id} (line {r.line}) is signed by revoked key {r.key_id} {why}",
                event_id=r.event_id, actor=r.actor, line=r.line, path=path))
    return void


def _check_actor_keys(recs: Sequence[_Rec], report: LogReport, path: str,
                      promotions: dict[str, set[str]]) -> set[str]:
    """An actor label belongs to a key; the ids of the squatted events are returned.

    A label of our form (``name-<8 hex>``, core/actor_labels.py) belongs to the key whose id
    starts with its digits and to the keys promoted to replace it, whatever signed under it
    first: another key's events are LABEL_SQUATTED (a squatter got them in, say before the
    intake checked labels) and bind nothing, so the genuine key's events stay valid. Only
    a promotion that counts (``promotions``: core/key_life.py, signed by the identity's
    recovery authority after it revoked the old key) passes a label on: the new key or a
    stranger could otherwise promote itself into any label. Among the keys that may hold a
    label, and for a label without our suffix (as the reference writes them), the first key
    that signs for it holds it, with its promoted successors; another key is
    ACTOR_KEY_MISMATCH. The reference binds nothing here; we flag impersonation."""
    replaced_by = by_replaced = promotions
    squatting: dict[tuple[str, str], bool] = {}  # (label, key): a few pairs, many events
    squatted: list[_Rec] = []
    allowed: dict[str, set[str]] = {}
    for r in recs:
        if r.key_id is None:
            continue
        pair = (r.actor, r.key_id)
        bad = squatting.get(pair)
        if bad is None:
            bad = squatting[pair] = squats(r.actor, r.key_id, by_replaced)
        if bad:
            squatted.append(r)
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
    for r in squatted:
        holders = sorted(allowed.get(r.actor, ()))
        owner = (f"key {' and '.join(holders)}" if holders else
                 f"a key whose id starts with bp1_{label_key_prefix(r.actor)} (none signs in "
                 "this log)")
        report.problems.append(Problem(
            "LABEL_SQUATTED",
            f"{r.event_id} (line {r.line}) claims actor {r.actor!r}, a label that belongs to "
            f"{owner}, but is signed by {r.key_id}, whose id does not match it: a "
            "squatter's event, part of no chain of that actor",
            event_id=r.event_id, actor=r.actor, line=r.line, path=path))
    return {r.event_id for r in squatted}


def _in_total_order(recs: Sequence[_Rec]) -> bool:
    """A log sorted by (timestamp_utc, event_id) in which every predecessor comes first is
    exactly the total order (at each step the next line is the smallest of all remaining
    events, so also of the ready ones). That is every log written while clocks were sane,
    and it is checked in one pass; only other logs need the full recomputation."""
    placed: set[str] = set()
    ids = {r.event_id for r in recs}
    last = ("", "")
    for r in recs:
        key = (r.ts, r.event_id)
        if key < last:
            return False
        prev = r.prev
        if type(prev) is str and prev in ids and prev not in placed:
            return False
        placed.add(r.event_id)
        last = key
    return True


def _check_order(recs: Sequence[_Rec], report: LogReport, path: str) -> None:
    if _in_total_order(recs):
        return
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

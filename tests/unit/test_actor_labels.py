"""The label rule (core/actor_labels.py) and verification's use of it: a label of our form
(``name-<8 hex>``) belongs to the key whose id starts with those digits, or to keys it
promoted to replace it, whatever signed under it first; a squatter's events are flagged by
line (LABEL_SQUATTED, naming both keys), bind nothing and make no fork. A label without our
suffix keeps the reference's first binding (ACTOR_KEY_MISMATCH). Only a promotion that
counts (core/key_life.py: by the recovery key, after it revoked the old key) passes a label
on."""

from __future__ import annotations

from typing import Any

from provara_desktop.core.actor_labels import (
    key_prefix,
    label_key_prefix,
    predecessors,
    squats,
)
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.event import build_event
from provara_desktop.core.key_life import KEY_AUTHORITY
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.verify import ERROR, LogReport
from provara_desktop.store.parallel_verify import verify_lines

GENUINE, SQUATTER, SUCCESSOR, RECOVERY = (SigningKey(bytes([i]) * 32)
                                           for i in (21, 22, 23, 24))
LABEL = f"alice-{GENUINE.key_id[4:12]}"
RECOVERY_LABEL = f"alice-recovery-{RECOVERY.key_id[4:12]}"
RING = KeyRing.from_keys_json({"keys": [
    {"key_id": k.key_id, "algorithm": "Ed25519", "public_key_b64": k.public.b64,
     "roles": ["attestation"], "scopes": ["all"], "status": "active"}
    for k in (GENUINE, SQUATTER, SUCCESSOR, RECOVERY)]})


class _Log:
    """Signed events appended in time order (so the order check stays quiet)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.heads: dict[tuple[str, str], str] = {}

    def add(self, actor: str, key: SigningKey, event_type: str = "OBSERVATION",
            payload: dict[str, Any] | None = None) -> str:
        # Each key's events under a label form their own chain, as a squatter's did.
        head = self.heads.get((actor, key.key_id))
        ev = build_event(event_type=event_type, actor=actor, key=key, prev_event_hash=head,
                         payload=payload or {"subject": "door", "predicate": "state",
                                             "value": len(self.events)},
                         timestamp_utc=f"2026-01-01T00:00:{len(self.events):02d}Z")
        self.events.append(dict(ev))
        self.heads[(actor, key.key_id)] = ev["event_id"]
        return str(ev["event_id"])

    def verify(self) -> LogReport:
        return verify_lines([(n, canonical_bytes(ev)) for n, ev in
                             enumerate(self.events, start=1)], RING)


def _errors(report: LogReport) -> list[Any]:
    return [p for p in report.problems if p.severity == ERROR]


def test_the_rule() -> None:
    assert label_key_prefix(LABEL) == GENUINE.key_id[4:12] == key_prefix(GENUINE.key_id)
    assert label_key_prefix("field-agent") is None
    assert label_key_prefix("alice-4412672") is None  # 7 digits: not our form
    assert key_prefix("not-a-key") is None
    assert not squats(LABEL, GENUINE.key_id, {})
    assert squats(LABEL, SQUATTER.key_id, {})
    assert not squats("field-agent", SQUATTER.key_id, {})  # first binding decides those
    promoted = {GENUINE.key_id: {SUCCESSOR.key_id}}
    assert not squats(LABEL, SUCCESSOR.key_id, promoted)
    assert squats(LABEL, SUCCESSOR.key_id, {SQUATTER.key_id: {SUCCESSOR.key_id}})
    assert predecessors(SUCCESSOR.key_id, promoted) == {GENUINE.key_id, SUCCESSOR.key_id}


def test_a_squatter_that_signed_first_is_flagged_and_the_genuine_key_holds_the_label(
) -> None:
    log = _Log()
    squatted = [log.add(LABEL, SQUATTER), log.add(LABEL, SQUATTER)]
    genuine = [log.add(LABEL, GENUINE), log.add(LABEL, GENUINE)]
    report = log.verify()
    errors = _errors(report)
    assert [p.code for p in errors] == ["LABEL_SQUATTED"] * 2
    assert [p.event_id for p in errors] == squatted
    assert [p.line for p in errors] == [1, 2]
    for p in errors:
        assert SQUATTER.key_id in p.message
        assert GENUINE.key_id in p.message  # the key the label belongs to
        assert LABEL in p.message
    assert not any(p.event_id in genuine for p in report.problems)
    # Both chains start from nothing under one label: no fork, the squatter's is not one.
    assert report.forks == []


def test_a_squatter_alone_under_a_label_is_flagged_too() -> None:
    log = _Log()
    eid = log.add(LABEL, SQUATTER)
    (problem,) = _errors(log.verify())
    assert problem.code == "LABEL_SQUATTED"
    assert problem.event_id == eid
    assert f"bp1_{GENUINE.key_id[4:12]}" in problem.message


def test_a_label_without_our_suffix_keeps_the_first_binding() -> None:
    log = _Log()
    log.add("field-agent", SQUATTER)
    second = log.add("field-agent", GENUINE)
    (problem,) = _errors(log.verify())
    assert problem.code == "ACTOR_KEY_MISMATCH"
    assert problem.event_id == second
    assert SQUATTER.key_id in problem.message  # whoever signed first holds it


def _declare(log: _Log) -> None:
    log.add(LABEL, GENUINE, KEY_AUTHORITY, {
        "key_id": GENUINE.key_id, "public_key_b64": GENUINE.public.b64,
        "recovery_key_id": RECOVERY.key_id, "recovery_public_key_b64": RECOVERY.public.b64})


PROMOTION = {"replaces_key_id": GENUINE.key_id, "new_key_id": SUCCESSOR.key_id,
             "new_public_key_b64": SUCCESSOR.public.b64, "algorithm": "Ed25519"}


def test_a_promotion_by_the_recovery_key_after_its_revocation_passes_the_label_on() -> None:
    rotated = _Log()
    _declare(rotated)
    boundary = rotated.add(LABEL, GENUINE)
    rotated.add(RECOVERY_LABEL, RECOVERY, "KEY_REVOCATION", {
        "revoked_key_id": GENUINE.key_id, "trust_boundary_event_id": boundary,
        "reason": "routine"})
    rotated.add(RECOVERY_LABEL, RECOVERY, "KEY_PROMOTION", PROMOTION)
    rotated.add(LABEL, SUCCESSOR)
    assert _errors(rotated.verify()) == []


def test_a_promotion_by_the_old_or_the_new_key_passes_nothing_on() -> None:
    for signer, label in ((GENUINE, LABEL), (SUCCESSOR, f"sam-{SUCCESSOR.key_id[4:12]}")):
        forged = _Log()
        _declare(forged)
        forged.add(LABEL, GENUINE)
        promo = forged.add(label, signer, "KEY_PROMOTION", PROMOTION)
        eid = forged.add(LABEL, SUCCESSOR)
        problems = {(p.code, p.event_id) for p in _errors(forged.verify())}
        # The promotion does not count, and the successor is a squatter like any other.
        assert problems == {("KEY_EVENT_INVALID", promo), ("LABEL_SQUATTED", eid)}

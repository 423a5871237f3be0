"""The check of a foreign batch: every event (id, signature, chain), who signed what and
whether the user trusts them, and, given a receiving vault, what an import would do to it
(vault_checks.py). It never writes anything.

This is the whole of ``bundle verify`` and the first half of ``import`` (the preview); a
peer's batch goes through the same function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from provara_desktop.core.key_life import KeyLife, is_key_event
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.logline import fast_load, load_or_none
from provara_desktop.core.verify import (
    ERROR,
    FOREIGN_MAX_ERRORS,
    WARNING,
    LogReport,
    Problem,
    VerificationStopped,
)
from provara_desktop.intake.batch import ForeignBatch
from provara_desktop.intake.labels import label_problems
from provara_desktop.intake.vault_checks import check_against_vault, check_attachments
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store import vault_keys
from provara_desktop.store.parallel_verify import VerifyPool, verify_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from provara_desktop.core.keys import PublicKey
    from provara_desktop.core.order import Fork
    from provara_desktop.intake.trust_view import Trust
    from provara_desktop.store.vault import Vault

EVENTS_PATH = "events.ndjson"
B = TypeVar("B", bound=ForeignBatch)


@dataclass
class KeyInfo:
    key_id: str
    fingerprint: str | None
    public_key_b64: str | None
    actors: list[str]
    event_count: int
    trusted: bool
    vouched_by: str  # why it is trusted, or "nobody"
    in_vault: bool

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "fingerprint": self.fingerprint,
                "public_key_b64": self.public_key_b64, "actors": self.actors,
                "event_count": self.event_count, "trusted": self.trusted,
                "vouched_by": self.vouched_by, "in_vault": self.in_vault}


@dataclass
class IntakeCheck(Generic[B]):
    batch: B
    events: list[dict[str, Any]]
    problems: list[Problem]
    forks: list[Fork]
    legacy_ids: list[str]
    keys: list[KeyInfo]
    signer_trusted: bool
    signer_vouched_by: str | None
    prerequisites: list[str]
    missing_prerequisites: list[str] = field(default_factory=list)
    vault_checked: bool = False
    present: set[str] = field(default_factory=set)  # event ids the vault already holds
    lines_by_id: dict[str, bytes] = field(default_factory=dict)  # canonical lines
    # Events signed by a revoked key after its trust boundary (core/key_life.py), judged
    # with the vault's key events and the batch's: never written, whoever trusts the key.
    void: dict[str, str] = field(default_factory=dict)  # event id -> why
    trust: Trust | None = None  # the user's trust the check was made with

    @property
    def signed(self) -> bool:
        return self.batch.signer is not None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def intact(self) -> bool:
        """Every event verifies and, given a vault, its prerequisites are there."""
        return not self.errors and not self.missing_prerequisites

    @property
    def ok(self) -> bool:
        return self.intact and (self.signer_trusted or not self.signed)

    @property
    def untrusted_keys(self) -> list[KeyInfo]:
        return [k for k in self.keys if not k.trusted]

    def to_json(self) -> dict[str, Any]:
        b = self.batch
        signer = None
        if b.signer is not None:
            signer = {"key_id": b.signer.key_id, "fingerprint": b.signer.fingerprint,
                      "actor": b.signer.actor, "public_key_b64": b.signer.public_key_b64,
                      "trusted": self.signer_trusted, "vouched_by": self.signer_vouched_by}
        return {
            "ok": self.ok, **b.describe(), "signed": self.signed,
            "signature_valid": True if self.signed else None, "signer": signer,
            "event_count": len(self.events),
            "attachment_count": len(b.carried_attachments()),
            "keys": [k.to_json() for k in self.keys],
            "untrusted_keys": [k.to_json() for k in self.untrusted_keys],
            "prerequisites": self.prerequisites,
            "missing_prerequisites": self.missing_prerequisites,
            "vault_checked": self.vault_checked,
            "problems": [p.to_json() for p in self.problems],
            "forks": [f.to_json() for f in self.forks],
            "legacy_ids": self.legacy_ids,
            "refused_revoked": [{"event_id": e, "why": why} for e, why in self.void.items()],
        }

    def summary(self) -> str:
        """One line saying why the batch is not ok (for stderr)."""
        if self.errors:
            return self.errors[0].message
        if self.missing_prerequisites:
            return (f"{len(self.missing_prerequisites)} prerequisite event(s) are not in the "
                    f"vault (e.g. {self.missing_prerequisites[0]}): import the earlier bundle "
                    "first, or ask for a bundle made against this vault's frontier")
        s = self.batch.signer
        if s is not None and not self.signer_trusted:
            return (f"the bundle is signed by an untrusted key {s.key_id} (fingerprint "
                    f"{s.fingerprint}, actor {s.actor}); compare the fingerprint with the "
                    "sender and `trust add` it, or pass --accept-untrusted")
        return "ok"


def _keyring(batch_keys: Sequence[Any], vault: Vault | None,
             keys_doc: Any = None) -> KeyRing:
    """The batch's keys and the vault's (its keys document, or ``keys_doc`` as read)."""
    ring = dict(KeyRing.from_keys_json({"keys": list(batch_keys)}).entries)
    if vault is not None:  # the vault's entry wins: a batch cannot change a known key
        ring.update(KeyRing.from_keys_json(keys_doc if keys_doc is not None
                                           else vault.keys_doc).entries)
    return KeyRing(ring)


@dataclass(frozen=True)
class Verified:
    """The per-line verification (ids, signatures, the chains inside the batch) of a batch's
    lines, done ahead of ``check``: a sync verifies the next batch while the previous one
    commits. Valid for exactly these lines and the vault's keys document it was made with
    (Vault.keys_doc is replaced, never changed in place, by a commit that adds keys)."""

    lines: tuple[bytes, ...]
    keys_doc: Any
    report: LogReport
    # The lines parsed (``_parse_events``), also ahead: it needs nothing of the vault, and
    # in a sync the commit of the previous batch, not this, is the slower step.
    events: list[dict[str, Any]]
    raw_by_id: dict[str, bytes]


def verify_ahead(batch: ForeignBatch, vault: Vault | None, *, workers: int = 2,
                 pool: VerifyPool | None = None) -> Verified:
    """``pool``: worker processes to check in (a sync session that expects many events)."""
    # Read once: a commit running meanwhile may replace it (the check then verifies again).
    keys_doc = vault.keys_doc if vault is not None else None
    keyring = _keyring(batch.key_entries, vault, keys_doc)
    report = _verify(batch, keyring, workers, None, None, pool)
    return Verified(tuple(batch.lines), keys_doc, report,
                    *_parse_events(batch.lines, _unparsable_lines(report)))


def _unparsable_lines(report: LogReport) -> set[int]:
    return {p.line for p in report.problems
            if p.line is not None and p.code in ("NON_CANONICAL_LINE", "MALFORMED_EVENT")}


def _verify(batch: ForeignBatch, keyring: KeyRing, workers: int,
            cancelled: Callable[[], bool] | None,
            progress: Callable[[int], None] | None,
            pool: VerifyPool | None = None) -> LogReport:
    # The lines are verified as the source hands them out (a stream): a source that finds
    # its container damaged stops the reading there.
    try:
        return verify_lines(batch.numbered_lines(), keyring, path=EVENTS_PATH,
                            workers=workers, cancelled=cancelled, progress=progress,
                            size_hint=batch.size_hint, max_errors=FOREIGN_MAX_ERRORS,
                            pool=pool)
    except VerificationStopped as exc:
        # Refused anyway: what was read so far is the report (and batch.lines holds only
        # those lines), so a hostile batch costs no more memory than its first errors.
        return exc.report


@gc_paused()
def check(batch: B, trust: Trust, *, vault: Vault | None = None,
          workers: int = 2, cancelled: Callable[[], bool] | None = None,
          progress: Callable[[int], None] | None = None,
          verified: Verified | None = None) -> IntakeCheck[B]:
    """``verified``: the lines' verification made ahead (``verify_ahead``), used when it is
    of these very lines and of the vault's current keys; else they are verified here."""
    keyring = _keyring(batch.key_entries, vault)
    if (verified is not None
            and verified.keys_doc is (vault.keys_doc if vault is not None else None)
            and verified.lines == tuple(batch.lines)):
        report, events, raw_by_id = verified.report, verified.events, verified.raw_by_id
    else:
        report = _verify(batch, keyring, workers, cancelled, progress)
        events, raw_by_id = _parse_events(batch.lines, _unparsable_lines(report))
    ids = {ev.get("event_id") for ev in events if isinstance(ev.get("event_id"), str)}
    outside = {p for ev in events if isinstance(p := ev.get("prev_event_hash"), str)} - ids
    declared = batch.declared_prerequisites | batch.declared_dangling
    signed = batch.signer is not None
    prev_of = {ev.get("event_id"): ev.get("prev_event_hash") for ev in events
               if isinstance(ev.get("event_id"), str)}
    problems: list[Problem] = []
    for p in report.problems:
        if p.code == "LABEL_SQUATTED":
            continue  # said below by intake/labels.py, which knows the user's trust
        if vault is not None and p.code in KEY_LIFE_CODES:
            continue  # judged below with the vault's key events, which the batch lacks
        ev_prev = prev_of.get(p.event_id) if p.code == "CHAIN_BROKEN" else None
        # prev_event_hash may be any JSON value (a list is unhashable): only text is an id.
        if p.code == "CHAIN_BROKEN" and isinstance(ev_prev, str) and ev_prev in outside:
            if ev_prev in declared or not signed:
                continue  # checked against the vault below (or reported as dangling)
            p = Problem("UNDECLARED_PREREQUISITE",
                        f"{p.event_id} chains to {ev_prev}, which is neither in the bundle "
                        "nor listed among its prerequisites", event_id=p.event_id,
                        actor=p.actor, line=p.line, path=EVENTS_PATH)
        problems.append(p)
    for d in sorted(batch.declared_dangling & outside):
        problems.append(Problem("DANGLING_PREV", f"events chain to {d}, which the sender's "
                                "vault did not hold either (its chain was already broken)",
                                path=EVENTS_PATH, severity=WARNING))
    # What the signer declares it builds on must be held too, referenced by an event or not
    # (docs/BUNDLE_FORMAT.md): a declaration is never ignored without a word.
    prereqs = sorted((outside | batch.declared_prerequisites) - batch.declared_dangling)
    keys = _key_infos(events, keyring, trust, vault)
    signer_why = trust.why(batch.signer.key_id) if batch.signer else None
    result = IntakeCheck(batch, events, problems, list(report.forks), report.legacy_ids,
                         keys, signer_why is not None, signer_why, prereqs)
    result.lines_by_id = raw_by_id
    result.trust = trust
    if vault is not None:
        result.vault_checked = True
        result.present = check_against_vault(
            vault, result.events, prerequisites=result.prerequisites,
            legacy_ids=result.legacy_ids, problems=result.problems, forks=result.forks,
            missing=result.missing_prerequisites)
    # Who may sign under which label: our labels carry their key's id, and a label the
    # vault binds to a key stays that key's (intake/labels.py). Checked with or without a
    # vault, so `bundle verify` shows a squatting attempt too.
    result.problems.extend(label_problems(result.events, keyring=keyring, trust=trust,
                                          vault=vault, present=result.present))
    result.problems.extend(check_attachments(batch, result.events, vault))
    if vault is not None:
        _check_key_life(result, vault)
    return result


def _trust_through(result: IntakeCheck[Any], life: KeyLife) -> None:
    """An untrusted key that is a device, or a rotated-in successor, of a key the user
    trusts is trusted through it, saying so (KeyInfo.vouched_by shows the whole path)."""
    view = result.trust
    signer = result.batch.signer
    if view is not None and signer is not None and not result.signer_trusted:
        why = life.vouched_through(signer.key_id, view.why)
        if why is not None:
            result.signer_trusted, result.signer_vouched_by = True, why
    for info in result.keys:
        if info.trusted or view is None:
            continue
        why = life.vouched_through(info.key_id, view.why)
        if why is not None:
            info.trusted, info.vouched_by = True, why


# What verification says about keys' lives; a batch alone cannot judge them (the revocation
# or the declaration it depends on may be in the vault), so with a vault they are judged again.
KEY_LIFE_CODES = frozenset({"REVOKED_KEY", "KEY_EVENT_INVALID", "KEY_AUTHORITY_DISPUTED",
                            "ROTATION_CONFLICT", "KEY_REVOKED_AGAIN", "KEY_BOUNDARY_MISSING"})


def _check_key_life(result: IntakeCheck[Any], vault: Vault) -> None:
    """Key events of the batch that would not count are errors (the batch is refused);
    events by a revoked key after its boundary are void: left out of any import. Only when
    the batch holds key events or the vault a revoked key (keys.json, in memory): nearly
    every batch costs nothing here."""
    new = [e for e in result.events
           if isinstance(e.get("event_id"), str) and e["event_id"] not in result.present]
    listed = [k for k in vault.keys_doc.get("keys", []) if isinstance(k, dict)]
    revoked = any(k.get("status") in ("revoked", "rotated") for k in listed)
    # An untrusted key (or signer) may be trusted through another only when keys.json
    # lists such keys (store/vault_keys.py): only then does it need the key life.
    derived = vault_keys.derives_trust(vault) and (
        any(not k.trusted for k in result.keys) or (result.signed and not result.signer_trusted))
    batch_keys = any(is_key_event(e) for e in new)
    if not revoked and not batch_keys and not derived:
        return
    life = vault_keys.key_life(vault, new)
    _trust_through(result, life)
    ids = {e["event_id"] for e in new}
    lines = {e["event_id"]: i for i, e in enumerate(result.events, start=1)
             if isinstance(e.get("event_id"), str)}
    for kp in life.problems:
        if kp.event_id in ids:
            result.problems.append(Problem(
                kp.code, kp.message, event_id=kp.event_id, actor=kp.actor,
                line=lines.get(kp.event_id), path=EVENTS_PATH,
                severity=ERROR if kp.error else WARNING))
    for e in new:
        eid, kid = e.get("event_id"), e.get("actor_key_id")
        if isinstance(eid, str) and isinstance(kid, str) and life.void(eid, kid):
            got = life.revocation(kid)
            boundary = got[1] if got else None
            result.void[eid] = (f"signed by {kid} after the trust boundary ({boundary}) of its "
                                "revocation" if boundary else
                                f"signed by {kid}, revoked with no trust boundary")


# Fields whose values repeat from event to event (a few actors, keys, types, subjects):
# parsed once per distinct value instead of once per event.
_SHARED_FIELDS = ("actor", "actor_key_id", "namespace", "type")
_SHARED_PAYLOAD_FIELDS = ("subject", "predicate", "note", "value")


def _parse_events(lines: Sequence[bytes], non_canonical: set[int]
                  ) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The batch's events as objects, and the line of each event whose line is canonical
    (the import writes those bytes as they are).

    Parsed after the verification, not while its workers run: the verification's
    per-event records are freed when it ends, and objects that outlive them (these events
    stay alive until the import is done) would otherwise be scattered among them, keeping
    their memory from being reused (about 80-100 MB more at the peak of a 100k-event
    import). Repeated strings are shared for the same reason: the events of a 100k-event
    bundle are ~140 MB of objects while the import runs. (The loop is written out: as
    helper calls it took 0.7 s per 100k events instead of 0.5 s.)"""
    shared: dict[str, str] = {}
    share = shared.setdefault
    events: list[dict[str, Any]] = []
    raw_by_id: dict[str, bytes] = {}
    for lineno, raw in enumerate(lines, start=1):
        # fast_load, not orjson directly: orjson turns an integer beyond 64 bits into a
        # float without complaint, which would alter the evidence of a re-encoded line.
        ev = fast_load(raw)
        if ev is None:
            # The one line parser (core/logline.py): what it refuses was reported by
            # verify_lines (MALFORMED_EVENT) and carries no event.
            ev = load_or_none(raw)
            if ev is None:
                continue
        for name in _SHARED_FIELDS:
            value = ev.get(name)
            if type(value) is str:
                ev[name] = share(value, value)
        payload = ev.get("payload")
        if type(payload) is dict:
            for name in _SHARED_PAYLOAD_FIELDS:
                value = payload.get(name)
                if type(value) is str:
                    payload[name] = share(value, value)
        events.append(ev)
        eid = ev.get("event_id")
        if type(eid) is str and lineno not in non_canonical:
            raw_by_id[eid] = raw
    return events, raw_by_id


def _key_infos(events: list[dict[str, Any]], keyring: KeyRing, trust: Trust,
               vault: Vault | None) -> list[KeyInfo]:
    actors: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for ev in events:
        kid = ev.get("actor_key_id")
        if isinstance(kid, str):
            actors.setdefault(kid, set()).add(str(ev.get("actor")))
            counts[kid] = counts.get(kid, 0) + 1
    vault_ids = set(KeyRing.from_keys_json(vault.keys_doc).entries) if vault else set()
    out = []
    for kid in sorted(actors):
        entry = keyring.get(kid)
        public: PublicKey | None = entry.public if entry and not entry.entry_error else None
        why = trust.why(kid)
        out.append(KeyInfo(kid, public.fingerprint if public else None,
                           public.b64 if public else None, sorted(actors[kid]), counts[kid],
                           why is not None, why or (
                               "nobody (the receiving vault lists this key, but you have not "
                               "trusted it)" if kid in vault_ids else
                               "nobody (only the bundle names it)"), kid in vault_ids))
    return out

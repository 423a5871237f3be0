"""Roll a child vault up into its parent (`rollup PARENT CHILD [--summary]`) and check a child
against what its parent attested (`rollup check PARENT CHILD`); docs/TOPOLOGIES.md,
"Hierarchy". The child is read the way an import reads it (a vault directory or a bundle,
bundle/load.py) and goes through the intake's check, against the parent: every signature
and chain, and the parent's key life (a key the parent revoked voids the child's events
signed after its boundary).

Nothing is written unless everything the roll-up needs holds: a child that does not verify,
that builds on events it does not carry, holds void events, has drifted from what was
attested before, or (full merge) holds events by keys the user does not trust, leaves the
parent byte for byte as it was (a drift is then recorded as an alert, on purpose, by
``check`` and by a refused roll-up alike: it is evidence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle import actions
from provara_desktop.bundle.intake_batch import check_bundle
from provara_desktop.bundle.load import VAULT_DIRECTORY, load
from provara_desktop.core import rollup
from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UsageError, VaultError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.intake import plan as intake_plan
from provara_desktop.store import hierarchy, vault_keys

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.bundle.intake_batch import BundleCheck
    from provara_desktop.bundle.load import LoadedBundle
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.intake.trust_view import Trust
    from provara_desktop.store.vault import Vault


class RollupRefused(VaultError):
    """The child cannot be attested as asked (exit 1); ``document`` says why, in full."""

    def __init__(self, message: str, document: dict[str, Any]) -> None:
        super().__init__(message)
        self.document = document


@dataclass
class ChildRead:
    state: rollup.ChildState
    check: BundleCheck
    ids: set[str]


def child_uid(bundle: LoadedBundle) -> str:
    """The child vault's uid: its genesis.json (a directory) or the bundle's manifest."""
    if bundle.kind == VAULT_DIRECTORY and bundle.directory is not None:
        path = bundle.directory / "identity" / "genesis.json"
        try:
            doc = strict_loads(path.read_bytes(), where=str(path), max_bytes=1 << 20)
        except FileNotFoundError:
            raise InputError("no identity/genesis.json: not a vault", where=str(
                bundle.directory)) from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
        uid = doc.get("uid") if isinstance(doc, dict) else None
    else:
        source = bundle.manifest.get("source_vault")
        uid = source.get("uid") if isinstance(source, dict) else None
    if not isinstance(uid, str) or not uid:
        raise InputError("does not say which vault it is (no vault uid): roll up from the "
                         "child's vault directory or a signed bundle of it", where=str(
                             bundle.path))
    return uid


def read_child(parent: Vault, source: Path, trust: Trust) -> ChildRead:
    """The child as it verifies now against the parent; RollupRefused when it does not."""
    with load(source) as bundle:
        uid = child_uid(bundle)
        c = check_bundle(bundle, trust, vault=parent)
    where = str(source)
    if uid == parent.uid:
        raise UsageError(f"{where} is vault {uid}, the parent itself: a vault does not roll "
                         "up into itself")
    doc: dict[str, Any] = {"ok": False, "child": where, "vault_uid": uid,
                           "check": c.to_json()}
    if c.errors:
        raise RollupRefused(f"{where}: the child does not verify: {c.errors[0].message}; "
                            "nothing was attested", doc)
    if c.prerequisites or c.missing_prerequisites:
        raise RollupRefused(f"{where}: the child builds on {len(c.prerequisites)} event(s) "
                            "it does not carry (a delta bundle): a roll-up attests a whole "
                            "vault; use its directory or a full export", doc)
    if c.forks:
        f = c.forks[0]
        raise RollupRefused(f"{where}: the child holds a fork: {f.actor} signed "
                            f"{len(f.event_ids)} events on one predecessor; nothing was "
                            "attested", doc)
    # The intake's check voids only what it would write; a roll-up vouches for every event
    # of the child, those the parent already holds too (the key life of both together).
    pending = [e for e in c.events if str(e.get("event_id")) not in c.present]
    life = vault_keys.key_life(parent, pending)
    void = [e for e in c.events if life.void(str(e.get("event_id")), e.get("actor_key_id"))]
    if void:
        first = void[0]
        raise RollupRefused(
            f"{where}: the child holds {len(void)} event(s) this vault counts as void (first "
            f"{first.get('event_id')}: signed by {first.get('actor_key_id')}, revoked here, "
            "after its trust boundary); nothing was attested, and no other vault of the tree "
            "is touched", {**doc, "void": [e.get("event_id") for e in void]})
    keys = [k.to_json() for k in c.keys]
    state = rollup.child_state(c.events, uid, keys)
    return ChildRead(state, c, {str(e.get("event_id")) for e in c.events})


@dataclass
class RollupResult:
    mode: str
    child: ChildRead
    previous: rollup.Attested | None
    comparison: rollup.Comparison | None
    attestation_event_id: str | None = None
    unchanged: bool = False
    imported: int = 0
    trusted_now: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        s = self.child.state
        return {"ok": True, "mode": self.mode,
                "status": "unchanged" if self.unchanged else "attested",
                "vault_uid": s.vault_uid, "child": s.to_json(),
                "attestation_event_id": self.attestation_event_id,
                "previous": None if self.previous is None else self.previous.summary(),
                "since_previous": None if self.comparison is None
                else self.comparison.to_json(),
                "imported": self.imported, "trusted_now": self.trusted_now,
                "notes": self.notes}


def roll_up(parent: Vault, source: Path, *, summary: bool, trust: Trust, key: SigningKey,
            actor: str, accept_untrusted: bool, home: Path) -> RollupResult:
    child = read_child(parent, source, trust)
    previous = hierarchy.latest_of(parent, child.state.vault_uid)
    comparison = None
    if previous is not None:
        comparison = rollup.compare(previous, child.state, child.ids)
        if comparison.status == rollup.DRIFT:
            alert = record_drift(parent, key, actor, previous, child.state, comparison)
            raise RollupRefused(
                f"{source}: the child no longer holds what {previous.event_id} attested: "
                f"{comparison.drift[0].message}; not attested again (alert {alert})",
                {"ok": False, "status": rollup.DRIFT, "vault_uid": child.state.vault_uid,
                 "attested": previous.summary(), "current": child.state.to_json(),
                 **comparison.to_json(), "alert_event_id": alert})
    mode = rollup.SUMMARY if summary else rollup.FULL
    result = RollupResult(mode, child, previous, comparison)
    if not summary:
        _merge(parent, source, trust, key, accept_untrusted, home, result)
    if (previous is not None and comparison is not None and comparison.status == rollup.SAME
            and previous.mode == mode):
        result.unchanged = True  # the same state attested again would say nothing new
        result.attestation_event_id = previous.event_id
        return result
    payload = rollup.rollup_payload(child.state, mode=mode, parent_vault_uid=parent.uid,
                                    attested_utc=utc_now_iso(), key_id=key.key_id)
    event = parent.new_event(key=key, actor=actor, event_type="ATTESTATION", payload=payload,
                             namespace="canonical")
    op = parent.append([event], signer=key)
    result.notes += op.notes
    result.attestation_event_id = str(event["event_id"])
    return result


def _merge(parent: Vault, source: Path, trust: Trust, key: SigningKey,
           accept_untrusted: bool, home: Path, result: RollupResult) -> None:
    """The full merge: the child's events into the parent through the import, after a dry
    run proves every one would go in (a roll-up that merged only part of the child would
    attest a state the parent does not hold)."""
    with load(source) as bundle:
        plan = actions.import_bundle(parent, bundle, trust, accept_untrusted=accept_untrusted,
                                     dry_run=True, signer=None)
    if plan.held_back:
        keys = plan.held_back_keys
        raise RollupRefused(
            f"{source}: {len(plan.held_back)} of the child's events are signed by key(s) you "
            f"do not trust ({', '.join(f'{k.key_id} fingerprint {k.fingerprint}' for k in keys)}"
            "); compare the fingerprints and `trust add` them, pass --accept-untrusted, or "
            "roll up with --summary; nothing was merged or attested",
            {"ok": False, "status": "untrusted", "vault_uid": result.child.state.vault_uid,
             "untrusted_keys": [k.to_json() for k in keys]})
    with load(source) as bundle:
        try:
            plan = actions.import_bundle(parent, bundle, trust,
                                         accept_untrusted=accept_untrusted, dry_run=False,
                                         signer=key)
        except intake_plan.ImportRefused as exc:
            raise RollupRefused(f"{source}: {exc}", {"ok": False, "status": "refused"}) from None
        if accept_untrusted:
            result.trusted_now = [k.to_json() for k in actions.record_acceptance(
                home, plan, parent)]
    result.imported = plan.imported
    result.notes += plan.notes


def record_drift(parent: Vault, key: SigningKey, actor: str, attested: rollup.Attested,
                 now: rollup.ChildState, comparison: rollup.Comparison) -> str:
    """The drift as an alert event in the parent (an extension event: the beliefs do not
    change), once per attestation and finding: the same drift seen again is not news."""
    found = {"event_count": now.event_count, "state_hash": now.state_hash,
             "merkle_root": now.merkle_root, "heads": now.heads}
    codes = sorted({d.code for d in comparison.drift})
    for old in hierarchy.alerts(parent):
        if old.get("attestation_event_id") == attested.event_id \
                and old.get("code") == "+".join(codes):
            return str(old["event_id"])
    payload = {"code": "+".join(codes), "message": comparison.drift[0].message,
               "vault_uid": attested.vault_uid, "attestation_event_id": attested.event_id,
               "attested": attested.summary(), "found": found,
               "drift": [d.to_json() for d in comparison.drift], "raised_utc": utc_now_iso()}
    event = parent.new_event(key=key, actor=actor, event_type=rollup.ALERT_EVENT,
                             payload=payload, namespace="local")
    parent.append([event], signer=key)
    return str(event["event_id"])


@dataclass
class CheckResult:
    attested: rollup.Attested
    state: rollup.ChildState
    comparison: rollup.Comparison
    alert_event_id: str | None

    @property
    def ok(self) -> bool:
        return self.comparison.status != rollup.DRIFT

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "vault_uid": self.state.vault_uid,
                "attested": self.attested.summary(), "current": {
                    k: v for k, v in self.state.to_json().items() if k != "children"},
                **self.comparison.to_json(), "alert_event_id": self.alert_event_id}


def check(parent: Vault, source: Path, *, trust: Trust,
          key: SigningKey | None, actor: str | None) -> CheckResult:
    """Re-verify the child and compare it with the parent's last roll-up of it. A drift is
    recorded as an alert when a key is given."""
    with load(source) as bundle:
        uid = child_uid(bundle)
    attested = hierarchy.latest_of(parent, uid)
    if attested is None:
        raise UsageError(f"{parent.root} holds no roll-up of vault {uid} (the vault at "
                         f"{source}): roll it up first")
    child = read_child(parent, source, trust)
    comparison = rollup.compare(attested, child.state, child.ids)
    alert = None
    if comparison.status == rollup.DRIFT and key is not None and actor is not None:
        alert = record_drift(parent, key, actor, attested, child.state, comparison)
    return CheckResult(attested, child.state, comparison, alert)

"""The import plan: what a checked batch would do to a vault, decided before anything is
written (the preview of ``import --dry-run`` and of the app's import dialog).

It says which events are new, which actors and keys arrive and who vouches for them, which
events are held back because nobody the user trusts signed them, the forks the import
brings, which beliefs become contested or change, and which attachments come with it. A
batch never adds trust by itself (see store/trust.py): events by keys the user does not
trust are held back unless the user accepts them explicitly; so is a batch signed as a
whole by such a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

from provara_desktop.core.errors import VaultError
from provara_desktop.intake.attachment_refs import attachment_refs
from provara_desktop.intake.belief_changes import belief_changes, belief_changes_by_key
from provara_desktop.intake.check import B, IntakeCheck

if TYPE_CHECKING:
    from provara_desktop.core.reducer import Reducer
    from provara_desktop.intake.check import KeyInfo
    from provara_desktop.store.vault import OpResult, Vault


class ImportRefused(VaultError):
    """The batch cannot be imported as asked (exit 1); the vault was not touched.

    ``check`` is the verification that led to the refusal, when the caller wants to show it
    field by field."""

    check: IntakeCheck[Any] | None = None


@dataclass
class ImportPlan(Generic[B]):
    check: IntakeCheck[B]
    accept_untrusted: bool
    new_events: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[dict[str, Any]] = field(default_factory=list)
    # signed by a revoked key after its trust boundary (check.void): never imported
    refused: list[dict[str, Any]] = field(default_factory=list)
    already_present: int = 0
    new_actors: list[str] = field(default_factory=list)
    new_keys: list[KeyInfo] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)  # new to the vault
    attachment_bytes: int = 0
    beliefs: dict[str, Any] | None = None
    imported: int = 0
    notes: list[str] = field(default_factory=list)
    result: OpResult | None = None  # what the commit changed (for the app's refresh)

    @property
    def held_back_keys(self) -> list[KeyInfo]:
        ids = {e.get("actor_key_id") for e in self.held_back}
        return [k for k in self.check.keys if k.key_id in ids]

    @property
    def accepted_keys(self) -> list[KeyInfo]:
        """The untrusted keys whose events this plan imports (only when the user accepted
        untrusted keys): each is a trust decision the caller records (store/trust.py)."""
        if not self.accept_untrusted:
            return []
        ids = {e.get("actor_key_id") for e in self.new_events}
        return [k for k in self.check.untrusted_keys if k.key_id in ids]

    def to_json(self, *, dry_run: bool) -> dict[str, Any]:
        c = self.check.to_json()
        source = self.check.batch.describe()
        return {
            "ok": True, "dry_run": dry_run, "vault": None, **source,
            "signed": c["signed"], "signer": c["signer"], "event_count": c["event_count"],
            "new_events": len(self.new_events), "imported": self.imported,
            "already_present": self.already_present,
            "held_back": len(self.held_back),
            "refused_revoked": len(self.refused),
            "held_back_keys": [k.to_json() for k in self.held_back_keys],
            "new_actors": self.new_actors,
            "new_keys": [k.to_json() for k in self.new_keys],
            "forks": c["forks"], "beliefs": self.beliefs,
            "attachments": {"new": len(self.attachments), "bytes": self.attachment_bytes},
            "legacy_ids": c["legacy_ids"],
            "problems": c["problems"], "notes": self.notes,
        }


def plan(vault: Vault, check: IntakeCheck[B], *, accept_untrusted: bool,
         with_beliefs: bool = False, beliefs_by_key: bool = False,
         live: Reducer | None = None) -> ImportPlan[B]:
    """Decide what an import would do, or raise ImportRefused saying why it cannot.

    ``with_beliefs``: say which beliefs change (the whole log reduced twice, with state
    hashes); ``beliefs_by_key``: only the touched beliefs, no state hashes, starting from
    ``live`` (the vault's current beliefs, not changed) when the caller has them."""
    if not check.vault_checked:
        raise ValueError("check the batch against the vault first")
    b = check.batch
    if not check.intact:
        raise ImportRefused(f"{b.origin}: {check.summary()}; nothing was imported")
    if b.signer is not None and not check.signer_trusted and not accept_untrusted:
        raise ImportRefused(f"{b.origin}: {check.summary()}; nothing was imported")
    p = ImportPlan(check, accept_untrusted)
    untrusted = {k.key_id for k in check.untrusted_keys}
    held_ids: set[str] = set()
    refused_ids: set[str] = set()
    for ev in check.events:  # log order: a prev is decided before the events on it
        eid = ev.get("event_id")
        if eid in check.present:
            p.already_present += 1
            continue
        if eid in check.void or (ev.get("prev_event_hash") in refused_ids):
            refused_ids.add(str(eid))
            p.refused.append(ev)
        elif not accept_untrusted and (ev.get("actor_key_id") in untrusted
                                       or ev.get("prev_event_hash") in held_ids):
            held_ids.add(str(eid))
            p.held_back.append(ev)
        else:
            p.new_events.append(ev)
    index = vault.index
    known_actors = set(index.actor_names())
    p.new_actors = sorted({str(e.get("actor")) for e in p.new_events} - known_actors)
    signing = {e.get("actor_key_id") for e in p.new_events}
    p.new_keys = [k for k in check.keys if k.key_id in signing and not k.in_vault]
    shas: dict[str, int] = {}
    carried = b.carried_attachments()
    for ev in p.new_events:
        for ref in attachment_refs(ev):
            sha = ref["sha256"]
            if sha in carried and not (vault.root / "artifacts/cas" / sha).exists():
                shas[sha] = carried[sha]
    p.attachments = sorted(shas)
    p.attachment_bytes = sum(shas.values())
    if p.held_back:
        names = ", ".join(f"{k.key_id} ({k.fingerprint}, actor {', '.join(k.actors)})"
                          for k in p.held_back_keys)
        p.notes.append(f"{len(p.held_back)} event(s) signed by keys you do not trust were not "
                       f"imported: {names}; check the fingerprints with their owners and "
                       "`trust add` them, or pass --accept-untrusted")
    if p.refused:
        keys = sorted({str(e.get("actor_key_id")) for e in p.refused})
        p.notes.append(f"{len(p.refused)} event(s) signed by revoked key(s) {', '.join(keys)} "
                       "after the trust boundary of their revocation were refused (`keys "
                       "VAULT` shows each key's boundary)")
    if with_beliefs and p.new_events:
        p.beliefs = (belief_changes_by_key(vault, p.new_events, live) if beliefs_by_key
                     else belief_changes(vault, p.new_events))
    return p

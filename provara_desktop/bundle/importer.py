"""Import: a preview of what a bundle would do to a vault, then an atomic commit of it.

The preview says which events are new, which actors and keys arrive and who vouches for
them, which events are held back because nobody the user trusts signed them, the forks the
import brings, which beliefs become contested or change, and which attachments come with it.
A bundle never adds trust by itself (see store/trust.py): events by keys that are neither in
the trust store, nor the user's own, nor already in the vault's keys.json are held back unless
the user accepts them explicitly; so is a bundle whose manifest is signed by such a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle.selection import attachment_refs
from provara_desktop.core.errors import VaultError
from provara_desktop.core.order import total_order
from provara_desktop.core.reducer import Reducer, belief_key, key_splits
from provara_desktop.store.merge import merge_foreign, placement

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from provara_desktop.bundle.check import BundleCheck, KeyInfo
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import OpResult, Vault

_MAX_LISTED = 1000  # belief changes listed in full; the counts are always exact


class ImportRefused(VaultError):
    """The bundle cannot be imported as asked (exit 1); the vault was not touched.

    ``check`` is the verification that led to the refusal, when the caller wants to show it
    field by field."""

    check: BundleCheck | None = None


@dataclass
class ImportPlan:
    check: BundleCheck
    accept_untrusted: bool
    new_events: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[dict[str, Any]] = field(default_factory=list)
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

    def to_json(self, *, dry_run: bool) -> dict[str, Any]:
        c = self.check.to_json()
        return {
            "ok": True, "dry_run": dry_run, "vault": None, "bundle": c["bundle"],
            "format": c["format"], "signed": c["signed"], "signer": c["signer"],
            "scope": c["scope"], "event_count": c["event_count"],
            "new_events": len(self.new_events), "imported": self.imported,
            "already_present": self.already_present,
            "held_back": len(self.held_back),
            "held_back_keys": [k.to_json() for k in self.held_back_keys],
            "new_actors": self.new_actors,
            "new_keys": [k.to_json() for k in self.new_keys],
            "forks": c["forks"], "beliefs": self.beliefs,
            "attachments": {"new": len(self.attachments), "bytes": self.attachment_bytes},
            "legacy_ids": c["legacy_ids"],
            "problems": c["problems"], "notes": self.notes,
        }


def plan(vault: Vault, check: BundleCheck, *, accept_untrusted: bool,
         with_beliefs: bool = False, beliefs_by_key: bool = False,
         live: Reducer | None = None) -> ImportPlan:
    """Decide what an import would do, or raise ImportRefused saying why it cannot.

    ``with_beliefs``: say which beliefs change (the whole log reduced twice, with state
    hashes); ``beliefs_by_key``: only the touched beliefs, no state hashes, starting from
    ``live`` (the vault's current beliefs, not changed) when the caller has them."""
    if not check.vault_checked:
        raise ValueError("check the bundle against the vault first")
    if not check.intact:
        raise ImportRefused(f"{check.bundle.path}: {check.summary()}; nothing was imported")
    b = check.bundle
    if b.signer is not None and not check.signer_trusted and not accept_untrusted:
        raise ImportRefused(f"{b.path}: {check.summary()}; nothing was imported")
    p = ImportPlan(check, accept_untrusted)
    untrusted = {k.key_id for k in check.untrusted_keys}
    held_ids: set[str] = set()
    for ev in check.events:  # log order: a prev is decided before the events on it
        eid = ev.get("event_id")
        if eid in check.present:
            p.already_present += 1
            continue
        if not accept_untrusted and (ev.get("actor_key_id") in untrusted
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
    if with_beliefs and p.new_events:
        p.beliefs = (belief_changes_by_key(vault, p.new_events, live) if beliefs_by_key
                     else belief_changes(vault, p.new_events))
    return p


def belief_changes(vault: Vault, new_events: list[dict[str, Any]]) -> dict[str, Any]:
    """Beliefs that would become contested, change value, or appear, if the events were
    added (the whole log is reduced twice, in total order, as the vault will hold it), and
    the state hash before and after."""
    old = list(vault.events())
    before = Reducer().apply_all(old)
    merged = old + new_events
    after = Reducer().apply_all(merged[i] for i in total_order(merged))
    return _compare(before, after, hashes=True)


def belief_changes_by_key(vault: Vault, new_events: list[dict[str, Any]],
                          live: Reducer | None = None) -> dict[str, Any]:
    """belief_changes() for what the app's preview shows, at any vault size: only the
    beliefs the new events touch are reduced, in the order the import will give them. No
    state hashes (those need the whole state: ``state_hash_before``/``state_hash_after``
    are None). On a million-event vault the whole-log version read every event into memory
    twice over (over 1 GB).

    ``live``, the vault's current beliefs when the caller holds them (the app), is where the
    touched beliefs start from: copied out of it, untouched, so no event is read at all.
    That needs every new event to sort after the vault's and ``live`` to be up to date;
    otherwise the touched beliefs are reduced from their own events, read through the
    index."""
    touched = {k for ev in new_events if (k := belief_key(ev)) is not None}
    start, tail = placement(vault, new_events)
    # After the import: the vault's events before ``start`` keep their places, the rest
    # (new events and any old ones they sort before) follow in their final order.
    tail = [ev for ev in tail if belief_key(ev) in touched]
    if live is not None and start == vault.index.count() == live.event_count:
        before = live.copy_keys(touched)
        return _compare(before, live.copy_keys(touched).apply_all(tail), hashes=False)
    index = vault.index
    rows = {r.pos: r for key in touched for subject, predicate in key_splits(key)
            for r in index.query(subject=subject, predicate=predicate)}
    old = [(pos, vault.read_row(rows[pos])) for pos in sorted(rows)]
    old = [(pos, ev) for pos, ev in old if belief_key(ev) in touched]
    before = Reducer().apply_all(ev for _pos, ev in old)
    after = Reducer().apply_all([ev for pos, ev in old if pos < start] + tail)
    return _compare(before, after, hashes=False)


def _compare(before: Reducer, after: Reducer, *, hashes: bool) -> dict[str, Any]:
    became_contested = sorted(set(after.contested_keys) - set(before.contested_keys))
    changed = []
    for ns in ("canonical", "local"):
        a, b = getattr(before, ns), getattr(after, ns)
        for key in sorted(set(a) | set(b)):
            va = a.get(key, {}).get("value") if key in a else None
            vb = b.get(key, {}).get("value") if key in b else None
            if (key in a) != (key in b) or va != vb:
                changed.append({"namespace": ns, "key": key,
                                "before": va if key in a else None,
                                "after": vb if key in b else None})
    return {"became_contested": became_contested[:_MAX_LISTED],
            "became_contested_count": len(became_contested),
            "changed": changed[:_MAX_LISTED], "changed_count": len(changed),
            "state_hash_before": before.state_hash() if hashes else None,
            "state_hash_after": after.state_hash() if hashes else None}


def commit(vault: Vault, p: ImportPlan, *, signer: SigningKey,
           cancelled: Callable[[], bool] | None = None) -> ImportPlan:
    """Write the plan's new events into the vault atomically (nothing, when there are none)."""
    bundle = p.check.bundle

    def writer(sha: str) -> Callable[[Path], None]:
        return lambda dest: bundle.extract_attachment(sha, dest)

    atts = {sha: writer(sha) for sha in p.attachments}
    result = merge_foreign(vault, p.new_events, signer=signer,
                           key_entries=p.check.bundle.key_entries, attachments=atts,
                           lines=p.check.lines_by_id, cancelled=cancelled)
    p.imported = len(result.events)
    p.notes.extend(result.notes)
    p.result = result
    return p

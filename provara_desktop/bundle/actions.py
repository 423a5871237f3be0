"""The bundle actions a user takes, as the CLI and the app call them (write a frontier,
export, verify, import): one function per action, each returning a JSON-ready document, and
the human lines to show for a check and an import plan (no printing here). The events go
through the intake (provara_desktop/intake); this module only loads and names the files."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle import frontier as frontier_mod
from provara_desktop.bundle.export import export_bundle, export_delta_v1
from provara_desktop.bundle.intake_batch import BundleBatch, BundleCheck, check_bundle
from provara_desktop.bundle.load import load
from provara_desktop.bundle.selection import Selection
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.trust_decisions import record_accepted
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store import federation, vault_keys
from provara_desktop.store.trust import TrustSource

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from provara_desktop.bundle.export import ExportResult
    from provara_desktop.bundle.load import LoadedBundle
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.intake.plan import ImportPlan
    from provara_desktop.intake.trust_view import Trust
    from provara_desktop.store.trust import TrustedKey
    from provara_desktop.store.vault import Vault


def bundle_identity(bundle: LoadedBundle) -> dict[str, str]:
    """What names this bundle in a trust decision: the sha256 of its signed manifest (which
    lists every member's sha256), or of the file for a delta; nothing for a directory."""
    if bundle.reader is not None:
        return {"manifest_sha256": hashlib.sha256(bundle.reader.manifest_bytes).hexdigest()}
    if bundle.directory is None and bundle.path.is_file():
        h = hashlib.sha256()
        with bundle.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return {"file_sha256": h.hexdigest()}
    return {}


def record_acceptance(home: Path, plan: ImportPlan[BundleBatch], vault: Vault,
                      identity: dict[str, str] | None = None) -> list[TrustedKey]:
    """``import --accept-untrusted`` (or the app's tick) is a trust decision: recorded as
    accepted at the import of this bundle (its file name and manifest or file sha256), today
    (intake/trust_decisions.py). ``identity``: bundle_identity(), when the bundle is closed."""
    bundle = plan.check.batch.bundle
    return record_accepted(home, plan, TrustSource.imported(
        bundle=bundle.path.name, vault=str(vault.root),
        **(identity if identity is not None else bundle_identity(bundle))),
        where=f"{bundle.path}: keys.json")


def write_frontier(vault: Vault, out: Path) -> dict[str, Any]:
    events = list(vault.events())
    fr = frontier_mod.compute(frontier_mod.chain_of(events), vault.uid)
    frontier_mod.write(fr, out)
    return {"path": str(out), "vault_uid": fr.vault_uid, "event_count": fr.event_count,
            "heads": fr.heads, "actors": len(fr.heads)}


def selection_from(*, actors: list[str], namespaces: list[str], since: str | None,
                   until: str | None, since_frontier: Path | None) -> Selection:
    fr = frontier_mod.read(since_frontier) if since_frontier is not None else None
    return Selection(list(actors), list(namespaces), since, until, fr)


def export(vault: Vault, out: Path, selection: Selection, *, fmt: str,
           key: SigningKey | None, actor: str | None,
           cancelled: Callable[[], bool] | None = None,
           progress: Callable[[int, int], None] | None = None,
           witnessed: list[dict[str, Any]] | None = None) -> ExportResult:
    """``witnessed``: the exporter's cosigned hub checkpoints (net/hub_side.bundle_witness),
    carried in the signed manifest so a hub's split view is caught across an air gap."""
    if fmt == "provara-delta-v1":
        return export_delta_v1(vault, out, selection=selection)
    assert key is not None
    assert actor is not None
    return export_bundle(vault, out, key=key, actor=actor, selection=selection,
                         cancelled=cancelled, progress=progress, witnessed=witnessed)


def verify_bundle(path: Path, home: Path, vault: Vault | None = None,
                  cancelled: Callable[[], bool] | None = None) -> BundleCheck:
    with load(path) as bundle:
        return check_bundle(bundle, trust_for(home), vault=vault, cancelled=cancelled)


def import_bundle(vault: Vault, bundle: LoadedBundle, trust: Trust, *, accept_untrusted: bool,
                  dry_run: bool, signer: SigningKey | None,
                  phases: dict[str, float] | None = None
                  ) -> intake_plan.ImportPlan[BundleBatch]:
    """Check the bundle against the vault, plan the import and, unless ``dry_run``, commit
    it (``import VAULT BUNDLE``). Raises ImportRefused, carrying the check, when the bundle
    cannot be imported as asked; nothing is written then. ``phases`` receives the seconds
    spent verifying ("verify") and planning and committing ("commit")."""
    refuse_untrusted_signer(bundle, trust, accept_untrusted=accept_untrusted, vault=vault)
    # One collector pause for all three steps: the parsed events live through all of them.
    with gc_paused():
        t0 = time.perf_counter()
        c = check_bundle(bundle, trust, vault=vault)
        refuse_out_of_contract(vault, bundle, c)
        t1 = time.perf_counter()
        try:
            plan = intake_plan.plan(vault, c, accept_untrusted=accept_untrusted,
                                    with_beliefs=dry_run)
        except intake_plan.ImportRefused as exc:
            exc.check = c
            raise
        if not dry_run:
            if signer is None:
                raise ValueError("an import that writes needs the importing user's key")
            intake_commit.commit(vault, plan, signer=signer)
    if phases is not None:
        phases.update(verify=t1 - t0, commit=time.perf_counter() - t1)
    return plan


def refuse_out_of_contract(vault: Vault, bundle: LoadedBundle, c: BundleCheck) -> None:
    """Under a federation contract (docs/FEDERATION.md) a bundle is taken only from a
    member, signed by its key, and only if every new event may flow from that member to
    this one; otherwise nothing is imported (ImportRefused naming the event)."""
    applied = federation.in_force(vault)
    if applied is None:
        return
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(vault.home)
    mine = store.load().key_id if store.exists() else ""
    signer = bundle.signer.key_id if bundle.signer is not None else None
    refusal = None
    if signer is None:
        refusal = ("this vault is under a federation contract: a bundle is taken only "
                   "signed by a member (this one is unsigned)")
    else:
        try:
            flows = federation.flows_for(vault, mine, signer)
            if flows is not None:
                flows[1].check_incoming(e for e in c.events
                                        if str(e.get("event_id")) not in c.present)
        except federation.OutOfContract as exc:
            refusal = str(exc)
    if refusal is not None:
        refused = intake_plan.ImportRefused(f"{bundle.path}: {refusal}; nothing was imported")
        refused.check = c
        raise refused


class SignerRefused(intake_plan.ImportRefused):
    """An import refused from the signed manifest alone: nobody the user trusts signed the
    bundle. ``document`` is the JSON answer (no check: no event was read)."""

    def __init__(self, message: str, document: dict[str, Any]) -> None:
        super().__init__(message)
        self.document = document


def signer_untrusted(bundle: LoadedBundle, trust: Trust, vault: Vault | None = None) -> bool:
    """Whether the bundle is signed as a whole by a key the user does not trust: then
    nothing but its signed manifest is read until the user decides (the CLI's
    ``--accept-untrusted``, the app's "Read the bundle anyway"). With ``vault``, a signer the
    vault already knows as a device or rotated-in key of a trusted key is trusted through
    it (the vault's key life; a rotation only in this bundle is not known yet)."""
    if bundle.signer is None or trust.why(bundle.signer.key_id) is not None:
        return False
    return vault is None or vault_keys.trusted_through(vault, bundle.signer.key_id,
                                                       trust.why) is None


def manifest_facts(bundle: LoadedBundle) -> dict[str, Any]:
    """What the signed manifest alone says about a bundle, for the decision about its
    signer (no event is read): who signed it, how many events and attachments it declares,
    what it was made of and when."""
    m, s = bundle.manifest, bundle.signer
    declared = m.get("event_count")
    attachments = m.get("attachment_count")
    created = m.get("created_at_utc", m.get("exported_at"))
    return {
        "bundle": str(bundle.path), "format": bundle.kind,
        "signer": None if s is None else {"key_id": s.key_id, "fingerprint": s.fingerprint,
                                           "actor": s.actor},
        "event_count": declared if type(declared) is int else None,
        "attachment_count": attachments if type(attachments) is int else None,
        "scope": bundle.scope,
        "created_at_utc": created if isinstance(created, str) else None,
    }


def refuse_untrusted_signer(bundle: LoadedBundle, trust: Trust, *,
                            accept_untrusted: bool, vault: Vault | None = None) -> None:
    """Decide from the signed manifest alone, before a single event is read, whether the
    user takes anything from this signer: an import of a bundle signed by a key they do not
    trust (unless they accept it) is refused here, so that what such a bundle holds, however
    large, costs neither memory nor time."""
    s = bundle.signer
    if s is None or accept_untrusted or not signer_untrusted(bundle, trust, vault):
        return
    raise SignerRefused(
        f"{bundle.path}: the bundle is signed by an untrusted key {s.key_id} (fingerprint "
        f"{s.fingerprint}, actor {s.actor}); compare the fingerprint with the sender and "
        "`trust add` it (if its owner rotated their key or uses a new device, this is how "
        "their new key is checked), or pass --accept-untrusted; nothing was imported (its "
        "events were not read)",
        {"ok": False, "imported": 0, "bundle": str(bundle.path), "format": bundle.kind,
         "signed": True, "events_read": False,
         "signer": {"key_id": s.key_id, "fingerprint": s.fingerprint, "actor": s.actor,
                    "public_key_b64": s.public_key_b64, "trusted": False,
                    "vouched_by": None}})


def human_check(c: BundleCheck) -> list[str]:
    b = c.batch.bundle
    lines = [f"{'OK' if c.ok else 'NOT OK'}: {b.path} ({b.kind}), {len(c.events)} events, "
             f"scope {b.scope.get('kind')}"]
    if b.signer is None:
        lines.append("  unsigned: a provara_delta_v1 file says nothing about who made it; "
                     "each event's own signature was checked")
    else:
        trust = (f"trusted ({c.signer_vouched_by})" if c.signer_trusted
                 else "NOT TRUSTED (signed by an untrusted key)")
        lines.append(f"  signed by {b.signer.actor} key {b.signer.key_id}, fingerprint "
                     f"{b.signer.fingerprint}: signature valid, {trust}")
    for k in c.keys:
        how = f"trusted via {k.vouched_by}" if k.trusted else "untrusted"
        lines.append(f"  key {k.key_id} {k.fingerprint} signs {k.event_count} event(s) as "
                     f"{', '.join(k.actors)}: {how}")
    if c.prerequisites:
        state = (f"{len(c.missing_prerequisites)} missing from the vault"
                 if c.vault_checked else "not checked (give --vault)")
        lines.append(f"  prerequisites: {len(c.prerequisites)} ({state})")
    for p in c.problems:
        lines.append(f"  [{p.severity}] {p.code}: {p.message}")
    for f in c.forks:
        lines.append(f"  [fork] actor {f.actor} on {f.prev_event_hash}: "
                     f"{', '.join(f.event_ids)}")
    return lines


def human_plan(p: intake_plan.ImportPlan[Any], *, dry_run: bool) -> list[str]:
    verb = "would import" if dry_run else "imported"
    n = len(p.new_events) if dry_run else p.imported
    lines = [f"{verb} {n} event(s); {p.already_present} already present, "
             f"{len(p.held_back)} held back (untrusted)"]
    if p.new_actors:
        lines.append(f"  new actors: {', '.join(p.new_actors)}")
    accepted = {k.key_id for k in p.accepted_keys}
    for k in p.new_keys:
        why = ("accepted by you (--accept-untrusted), not trusted before" if k.key_id in
               accepted else f"vouched by {k.vouched_by}")
        lines.append(f"  new key {k.key_id} {k.fingerprint} for {', '.join(k.actors)}: {why}")
    for f in p.check.forks:
        lines.append(f"  fork: actor {f.actor} on {f.prev_event_hash}: {', '.join(f.event_ids)}")
    if p.attachments:
        lines.append(f"  attachments: {len(p.attachments)} new ({p.attachment_bytes} bytes)")
    if p.beliefs:
        for key in p.beliefs["became_contested"]:
            lines.append(f"  becomes contested: {key}")
        for ch in p.beliefs["changed"]:
            lines.append(f"  {ch['namespace']} {ch['key']}: {ch['before']!r} -> {ch['after']!r}")
    lines.extend(f"  note: {n}" for n in p.notes)
    return lines

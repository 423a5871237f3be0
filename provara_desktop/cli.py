"""provara-desktop: the headless face of the same services the desktop app uses.

Exit codes: 0 success; 1 verification or validation failure; 2 usage or I/O error; 3 an
internal error (a bug: one line on stderr, the details in the profile's log file). Every
failure prints one human line on stderr; ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import (
    __version__,
    cli_annotations,
    cli_federation,
    cli_hub,
    cli_keys,
    cli_mesh,
    cli_output,
    cli_rollup,
)
from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import (
    InputError,
    ProvaraDesktopError,
    UsageError,
    UserCancelled,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("provara_desktop.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep our one-line format
        raise UsageError(f"{self.prog}: {message}")


_emit, _home = cli_output.emit, cli_output.home


def _identity_store(args: argparse.Namespace) -> Any:
    from provara_desktop.store.identity import IdentityStore

    return IdentityStore(_home(args))


def _unlock(args: argparse.Namespace) -> tuple[Any, Any]:
    from provara_desktop.passphrase_input import read_passphrase

    store = _identity_store(args)
    ident = store.load()
    key = store.unlock(read_passphrase(args.passphrase_file))
    return ident, key


def _open_vault(args: argparse.Namespace) -> Any:
    from provara_desktop.cli_progress import IndexProgressLine
    from provara_desktop.store.vault import Vault

    progress = IndexProgressLine()  # on stderr, only when indexing takes a while
    try:
        vault = Vault.open(Path(args.vault), home=_home(args), index_progress=progress)
    finally:
        progress.close()
    if vault.loss is not None:
        # Every command says it, reading ones included: evidence this profile saw is gone.
        sys.stderr.write(f"warning: {vault.loss.message(str(vault.root))}\n")
    return vault


def cmd_acknowledge_loss(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise UsageError("--reason must say why the missing events are acceptable")
    with _open_vault(args) as vault:
        loss = vault.acknowledge_loss(args.reason.strip())
    doc = {"vault": str(Path(args.vault)), "acknowledged": loss is not None,
           "reason": args.reason.strip(), **(loss.to_json() if loss else {"missing": []})}
    _emit(args, doc, "acknowledged: " + (loss.message(args.vault) if loss else
                                          "nothing was missing"))
    return 0


def _value(text: str) -> Any:
    try:
        return strict_loads(text, where="--value")
    except InputError as exc:
        raise UsageError(f"{exc} (give JSON, e.g. --value '\"open\"' or --value 42)") from None


# -- identity -------------------------------------------------------------------------------

def cmd_identity_show(args: argparse.Namespace) -> int:
    ident = _identity_store(args).load()
    doc = ident.to_json()
    _emit(args, doc, "\n".join(f"{k}: {v}" for k, v in doc.items()))
    return 0


def cmd_identity_export(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase

    store = _identity_store(args)
    out = store.export_reference(args.file, read_passphrase(args.passphrase_file))
    _emit(args, {"path": str(out)}, f"wrote the private key in the reference format to {out} "
          "(keep it secret)")
    return 0


def cmd_identity_import(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase

    store = _identity_store(args)
    ident = store.import_reference(args.file, read_passphrase(args.passphrase_file,
                                                              confirm=True),
                                   name=args.name, key_id=args.key_id)
    _emit(args, ident.to_json(), f"imported identity {ident.actor}\n"
          f"fingerprint {ident.fingerprint}")
    return 0


# -- vault ------------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    from provara_desktop.store.vault import Vault

    ident, key = _unlock(args)
    with Vault.init(Path(args.vault), key=key, actor=ident.actor, home=_home(args),
                    uid=args.uid) as vault:
        doc = {"vault": str(vault.root), "uid": vault.uid, "event_count": vault.index.count()}
    _emit(args, doc, f"created vault {doc['vault']} (uid {doc['uid']})")
    return 0


def _op_output(args: argparse.Namespace, vault: Any, result: Any, verb: str) -> int:
    ev = result.events[-1]  # after the recovery-key declaration it may need
    for note in [*vault.notes, *result.notes]:
        sys.stderr.write(f"note: {note}\n")
    doc = {"event_id": ev["event_id"], "type": ev["type"], "actor": ev["actor"],
           "actor_key_id": ev["actor_key_id"], "timestamp_utc": ev["timestamp_utc"],
           "prev_event_hash": ev["prev_event_hash"], "notes": [*vault.notes, *result.notes]}
    _emit(args, doc, f"{verb} {ev['event_id']}")
    return 0


def cmd_observe(args: argparse.Namespace) -> int:
    from provara_desktop.store.evidence import observe

    value = _value(args.value)
    ident, key = _unlock(args)
    with _open_vault(args) as vault:
        result = observe(vault, key, ident.actor, subject=args.subject,
                         predicate=args.predicate, value=value, confidence=args.confidence,
                         note=args.note, attachments=[Path(p) for p in args.attach])
        return _op_output(args, vault, result, "observed")


def cmd_attest(args: argparse.Namespace) -> int:
    from provara_desktop.store.evidence import attest

    value = _value(args.value)
    ident, key = _unlock(args)
    with _open_vault(args) as vault:
        result = attest(vault, key, ident.actor, subject=args.subject,
                        predicate=args.predicate, value=value, targets=args.target)
        return _op_output(args, vault, result, "attested")


def cmd_retract(args: argparse.Namespace) -> int:
    from provara_desktop.store.evidence import retract

    ident, key = _unlock(args)
    with _open_vault(args) as vault:
        result = retract(vault, key, ident.actor, subject=args.subject,
                         predicate=args.predicate, reason=args.reason)
        return _op_output(args, vault, result, "retracted")


def cmd_verify(args: argparse.Namespace) -> int:
    from provara_desktop.store.vault import Vault
    from provara_desktop.store.verify_vault import verify_vault

    # Not through the index: syncing it stops at the first unreadable line, while verify's
    # job is to report every problem (that line included, with its file and line number).
    with Vault.open(Path(args.vault), home=_home(args), sync_index=False) as vault:
        report = verify_vault(vault)
        try:
            if report.ok:
                vault.sync_index()  # (opened without: verify reads the file itself)
            partial = _partial(vault) if report.ok else None
        except ProvaraDesktopError:  # an index that cannot be read: verify said why
            partial = None
    doc = {**report.to_json(), "federation": partial}
    lines = [f"{'OK' if report.ok else 'FAILED'}: {doc['event_count']} events, "
             f"{len(report.log.forks)} fork(s), {len(doc['legacy_ids'])} legacy event id(s)",
             *_partial_lines(partial)]
    for p in report.all_problems:
        lines.append(f"  [{p.severity}] {p.code}: {_located(p)}")
    for f in report.log.forks:
        lines.append(f"  [error] FORK: actor {f.actor} signed {len(f.event_ids)} events on the "
                     f"same predecessor {f.prev_event_hash}: {', '.join(f.event_ids)}")
    _emit(args, doc, "\n".join(lines))
    if not report.ok:
        errors = [p for p in report.all_problems if p.severity == "error"]
        # The most specific error makes the best one-line summary: one on a given line
        # (a bad event) rather than the file-level "events.ndjson changed" it causes.
        first = next((p for p in errors if p.line is not None), errors[0] if errors else None)
        msg = _located(first) if first else "the vault holds a fork (equivocation)"
        sys.stderr.write(f"verification failed: {msg}\n")
        return 1
    return 0


def _located(p: Any) -> str:
    """A problem's message, naming its file and line when the message itself does not
    (some parser messages, e.g. "line too large", leave them out)."""
    if p.line is not None and f"line {p.line}" not in p.message:
        return f"{p.path or 'events/events.ndjson'} line {p.line}: {p.message}"
    return str(p.message)


def _partial(vault: Any) -> dict[str, Any] | None:
    """Under a federation contract: what this replica leaves out (store/federation.py), so
    nobody takes its partial state_hash for the whole vault's."""
    from provara_desktop.store import federation

    applied = federation.in_force(vault)
    if applied is None:
        return None
    store = _identity_store_at(vault.home)
    mine = store.load().key_id if store.exists() else ""
    return federation.statement(vault, applied, mine)


def _identity_store_at(home: Path) -> Any:
    from provara_desktop.store.identity import IdentityStore

    return IdentityStore(home)


def _partial_lines(partial: dict[str, Any] | None) -> list[str]:
    if partial is None or not partial["partial"]:
        return []
    out = [f"PARTIAL REPLICA under federation contract {partial['contract_id']} revision "
           f"{partial['revision']} (member {partial['member']}): the state_hash is of the "
           "part the contract lets flow here; left out:"]
    for member, what in partial["leaves_out"].items():
        out += [f"  from {member}: {w}" for w in what]
    return out


def cmd_state(args: argparse.Namespace) -> int:
    with _open_vault(args) as vault:
        reducer = vault.reduce()
        partial = _partial(vault)
    state = reducer.export_state()
    doc = {"state_hash": state["metadata"]["state_hash"],
           "event_count": state["metadata"]["event_count"],
           **{ns: state[ns] for ns in ("canonical", "local", "contested", "archived")},
           "metadata": state["metadata"], "federation": partial}
    human = [f"state_hash {doc['state_hash']}", f"events {doc['event_count']}",
             *_partial_lines(partial)]
    for ns in ("canonical", "local", "contested", "archived"):
        human.append(f"{ns}: {len(state[ns])}")
        for k in sorted(state[ns]):
            entry = state[ns][k]
            shown = entry.get("value") if isinstance(entry, dict) else f"{len(entry)} archived"
            if ns == "contested":
                shown = " | ".join(entry["evidence_by_value"])
            human.append(f"  {k} = {json.dumps(shown, ensure_ascii=False)}")
    _emit(args, doc, "\n".join(human))
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:  # was a traceback from the index
        raise UsageError(f"--limit must be 0 or more, got {args.limit}")
    with _open_vault(args) as vault:
        rows = vault.index.query(actor=args.actor, type=args.type, subject=args.subject,
                                 limit=args.limit)
        items = [{"pos": r.pos, "event_id": r.event_id, "type": r.type, "actor": r.actor,
                  "actor_key_id": r.actor_key_id, "timestamp_utc": r.timestamp_utc,
                  "subject": r.subject, "predicate": r.predicate,
                  "prev_event_hash": r.prev_event_hash, "first_seen_utc": r.first_seen_utc}
                 for r in rows]
    human = "\n".join(f"{i['timestamp_utc']}  {i['event_id']}  {i['type']:<12} {i['actor']}  "
                      f"{i['subject'] or ''}{':' if i['predicate'] else ''}{i['predicate'] or ''}"
                      for i in items)
    _emit(args, {"events": items, "count": len(items)}, human)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from provara_desktop.cli_progress import IndexProgressLine
    from provara_desktop.store.vault import Vault

    with Vault.open(Path(args.vault), home=_home(args), sync_index=False) as vault:
        vault.index.reset()
        progress = IndexProgressLine()
        try:
            vault.sync_index(progress=progress)
        finally:
            progress.close()
        n = vault.index.count()
    _emit(args, {"event_count": n}, f"reindexed {n} events")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from provara_desktop.app import run_app

    return run_app(home=args.home, vault=getattr(args, "vault", None))


# -- bundles and trust (air-gapped exchange) ----------------------------------------------------

def cmd_frontier(args: argparse.Namespace) -> int:
    from provara_desktop.bundle.actions import write_frontier

    with _open_vault(args) as vault:
        doc = write_frontier(vault, Path(args.out))
    _emit(args, doc, f"wrote the frontier of {doc['event_count']} events "
          f"({doc['actors']} actor(s)) to {doc['path']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from provara_desktop.bundle import actions

    selection = actions.selection_from(
        actors=args.actor, namespaces=args.namespace, since=args.since, until=args.until,
        since_frontier=Path(args.since_frontier) if args.since_frontier else None)
    key = actor = None
    if args.format == "provara-bundle":  # only the signed format needs the private key
        ident, key = _unlock(args)
        actor = ident.actor
    with _open_vault(args) as vault:
        selection.flow = _export_flow(vault, args.for_member, key, args.format)
        witnessed = None
        if key is not None:  # the hub checkpoints we checked, cosigned: docs/TOPOLOGIES.md
            from provara_desktop.net.hub_side import bundle_witness

            witnessed = bundle_witness(vault.home, vault.uid, key)
        result = actions.export(vault, Path(args.out), selection, fmt=args.format, key=key,
                                actor=actor, witnessed=witnessed)
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    _emit(args, result.to_json(), f"exported {result.event_count} events and "
          f"{result.attachment_count} attachment(s) to {result.path} ({result.size} bytes)")
    return 0


def _export_flow(vault: Any, member: str | None, key: Any, fmt: str) -> Any:
    """Under a federation contract an export is for one member, and holds only what may
    flow to it (docs/FEDERATION.md); without a contract --for is a mistake."""
    from provara_desktop.store import federation, vault_keys

    applied = federation.in_force(vault)
    if applied is None:
        if member is not None:
            raise UsageError("--for: this vault is under no federation contract")
        return None
    c = applied.contract
    if member is None:
        raise UsageError(f"this vault is under federation contract {c.contract_id}: name "
                         "the member the bundle is for with --for "
                         f"({', '.join(c.member_ids())})")
    if member not in c.member_ids():
        raise UsageError(f"--for {member}: no such member of contract {c.contract_id} "
                         f"({', '.join(c.member_ids())})")
    if key is None or fmt != "provara-bundle":
        raise UsageError("under a federation contract only a signed provara-bundle is "
                         "exported (the receiver takes bundles signed by members only)")
    groups = federation.identity_keys(vault_keys.key_life(vault))
    me = federation.member_of(c, key.key_id, groups)
    if me is None:
        raise UsageError(f"your key {key.key_id} is no member's in contract {c.contract_id}")
    return federation.Flow(applied, me, member, groups)


def cmd_bundle_verify(args: argparse.Namespace) -> int:
    from provara_desktop.bundle.actions import human_check, verify_bundle

    if args.vault:
        with _open_vault(args) as vault:
            c = verify_bundle(Path(args.bundle), _home(args), vault)
    else:
        c = verify_bundle(Path(args.bundle), _home(args))
    _emit(args, c.to_json(), "\n".join(human_check(c)))
    if not c.ok:
        sys.stderr.write(f"bundle not ok: {c.summary()}\n")
        return 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from provara_desktop.bundle.actions import human_plan, import_bundle, record_acceptance
    from provara_desktop.bundle.load import load
    from provara_desktop.intake.plan import ImportRefused
    from provara_desktop.intake.trust_view import trust_for

    key = None
    if not args.dry_run:  # the regenerated manifest.sig is signed by the importing user
        _, key = _unlock(args)
    home = _home(args)
    recorded: list[Any] = []
    hub_alerts: list[dict[str, Any]] = []
    acknowledged: list[str] = []
    with _open_vault(args) as vault, load(Path(args.bundle)) as bundle:
        try:
            plan = import_bundle(vault, bundle, trust_for(home),
                                 accept_untrusted=args.accept_untrusted,
                                 dry_run=args.dry_run, signer=key)
        except ImportRefused as exc:
            if args.json and exc.check is not None:  # the check says why, field by field
                _emit(args, {**exc.check.to_json(), "ok": False, "imported": 0}, "")
            elif args.json and (doc := getattr(exc, "document", None)) is not None:
                _emit(args, doc, "")  # refused before any event was read (no check)
            raise
        if not args.dry_run:
            # --accept-untrusted is a trust decision: recorded, shown, and undone by
            # `trust remove` (never a silent, permanent side effect of the import).
            recorded = record_acceptance(home, plan, vault)
            hub_alerts = _take_witnessed(vault, bundle, key)
            acknowledged = _acknowledge_revocations(vault, key)
        doc = plan.to_json(dry_run=args.dry_run)
        doc["vault"] = str(vault.root)
        doc["trusted_now"] = [k.to_json() for k in recorded]
        doc["hub_alerts"] = hub_alerts
        doc["acknowledged_revocations"] = acknowledged
        if args.dry_run:
            doc["would_trust"] = [k.to_json() for k in plan.accepted_keys]
    for note in plan.notes:
        sys.stderr.write(f"note: {note}\n")
    lines = human_plan(plan, dry_run=args.dry_run)
    lines += [f"now trusted: {k.key_id} ({k.name}), fingerprint {k.fingerprint}: "
              f"{k.describe()}; `trust remove {k.key_id}` undoes it" for k in recorded]
    if args.dry_run:
        lines += [f"would trust: {k.key_id} ({', '.join(k.actors)}), fingerprint "
                  f"{k.fingerprint}" for k in plan.accepted_keys]
    _emit(args, doc, "\n".join(lines))
    if plan.held_back and not plan.new_events:
        sys.stderr.write("error: every new event is signed by a key you do not trust; "
                         "nothing was imported\n")
        return 1
    return 0


def _acknowledge_revocations(vault: Any, key: Any) -> list[str]:
    """Under a federation contract, a revocation the bundle brought is acknowledged, signed
    (the revocation ceremony: docs/FEDERATION.md); the acknowledgement travels back."""
    from provara_desktop.store import federation
    from provara_desktop.store.identity import IdentityStore

    if federation.in_force(vault) is None:
        return []
    return federation.acknowledge(vault, key=key, actor=IdentityStore(vault.home).load().actor)


def _take_witnessed(vault: Any, bundle: Any, key: Any) -> list[dict[str, Any]]:
    """The hub checkpoints the bundle's exporter witnessed: a hub that showed them another
    log than ours is an alert, recorded in the vault and said on stderr (as `sync` does)."""
    from provara_desktop.net.hub_side import record_alerts, take_bundle_witness
    from provara_desktop.store.identity import IdentityStore

    signer = bundle.signer.public_key_b64 if bundle.signer is not None else None
    alerts = take_bundle_witness(vault.home, vault.uid, bundle.manifest, signer)
    if alerts:
        record_alerts(vault, key, IdentityStore(vault.home).load().actor, alerts)
    for a in alerts:
        sys.stderr.write(f"ALERT from a checkpoint the bundle's exporter witnessed: {a.code}: "
                         f"{a.message} (`hub receipts` keeps the proof)\n")
    return [a.to_json() for a in alerts]


def cmd_trust_add(args: argparse.Namespace) -> int:
    from provara_desktop.store.trust import TrustStore

    entry = TrustStore(_home(args)).add(args.key_id, args.public_key, args.name)
    _emit(args, entry.to_json(), f"trusted {entry.key_id} ({entry.name or 'no name'}), "
          f"fingerprint {entry.fingerprint}")
    return 0


def cmd_trust_list(args: argparse.Namespace) -> int:
    from provara_desktop.store.trust import TrustStore, describe_policy

    store = TrustStore(_home(args))
    entries, in_force = store.load(), store.trusted_ids()
    keys = [{**k.to_json(), "in_force": k.key_id in in_force} for k in entries.values()]
    text = [f"{k.key_id}  {k.fingerprint}  {k.name or '(no name)'}: {k.describe()}"
            + ("" if k.key_id in in_force else " (NOT in force: whoever vouched for it is "
               "no longer trusted)")
            + (f"; sync policy: {describe_policy(k.policy)}" if k.policy else "")
            for k in entries.values()]
    _emit(args, {"keys": keys}, "\n".join(text) or "no trusted keys")
    return 0


def cmd_trust_remove(args: argparse.Namespace) -> int:
    from provara_desktop.store.trust import TrustStore

    entry = TrustStore(_home(args)).remove(args.key_id)
    _emit(args, entry.to_json(), f"no longer trusted: {entry.key_id} ({entry.describe()}); "
          "later imports hold its new events back, events already imported stay")
    return 0


def cmd_trust_policy(args: argparse.Namespace) -> int:
    from provara_desktop.store.trust import TrustStore, describe_policy, make_policy

    store = TrustStore(_home(args))
    changing = (args.direction or args.only_direct or args.chained or args.actor
                or args.namespace or args.reset or args.role)
    if changing:
        from provara_desktop.core.topology_roles import role

        implied = role(args.role).direction if args.role else "both"
        policy = {} if args.reset else make_policy(
            direction=args.direction or implied, only_direct=args.only_direct,
            chained=args.chained, actors=args.actor, namespaces=args.namespace)
        roles = [] if args.reset else [args.role] if args.role else None
        entry = store.set_policy(args.key_id, policy, roles=roles)
    else:
        found = store.load().get(args.key_id)
        if found is None:
            raise UsageError(f"{args.key_id} is not in the trust store ({store.path})")
        entry = found
    from provara_desktop.core.topology_roles import ROLES

    meaning = [ROLES[r].meaning for r in entry.roles if r in ROLES]
    _emit(args, {"key_id": entry.key_id, "name": entry.name, "policy": dict(entry.policy),
                 "text": describe_policy(entry.policy), "roles": list(entry.roles),
                 "role_meaning": meaning},
          f"{entry.key_id} ({entry.name or 'no name'}): {describe_policy(entry.policy)}"
          + "".join(f"\nrole {r}: {m}" for r, m in zip(entry.roles, meaning, strict=False)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from provara_desktop.bundle import report
    from provara_desktop.bundle.actions import verify_bundle

    scope = report.ReportScope(subject=args.subject, actor=args.actor)
    source = Path(args.source)
    out = Path(args.out)
    if out.exists():
        raise UsageError(f"{out}: already exists; choose another name (nothing is overwritten)")
    if source.is_dir() and (source / "manifest.json").exists():
        from provara_desktop.store.vault import Vault

        with Vault.open(source, home=_home(args), sync_index=False) as vault:
            data = report.from_vault(vault, scope)
    else:
        data = report.from_bundle(verify_bundle(source, _home(args)), scope)
    report.write(report.render(data), out)
    doc = {"path": str(out), "source": str(source), "selection": scope.describe(),
           "event_count": len(data.events), "verification_ok": data.verification_ok}
    if not data.verification_ok:
        sys.stderr.write("note: verification FAILED; the report says what is wrong\n")
    _emit(args, doc, f"wrote the evidence report ({len(data.events)} events) to {out}")
    return 0


# -- LAN: what discovery sees (issue 11) -------------------------------------------------------

def cmd_peers(args: argparse.Namespace) -> int:
    import asyncio

    from provara_desktop.net import peers_report
    from provara_desktop.store.trust import TrustStore

    if not 0 < args.timeout <= 3600:
        raise UsageError(f"--timeout must be more than 0 and at most 3600 seconds, got "
                         f"{args.timeout:g}")
    trusted = TrustStore(_home(args)).trusted()
    # Discreet peers are recognised by the per-pair secrets agreed at pairing (net/pairing.py).
    from provara_desktop.net.pairing_secrets import load_pairing_secrets

    secrets = load_pairing_secrets(_home(args))
    result = asyncio.run(peers_report.look(
        timeout=args.timeout, interfaces=args.interface or None, ip_version=args.ip_version,
        manual=args.peer, secrets=secrets))
    _emit(args, peers_report.report_json(result, trusted),
          "\n".join(peers_report.report_lines(result, trusted)))
    if not result.started:
        sys.stderr.write(f"error: discovery could not start: "
                         f"{'; '.join(result.diagnostics.errors)}\n")
        return 2
    return 0


# -- LAN: serve, sync, pair (issue 11; docs/SYNC_PROTOCOL.md) -----------------------------------

def _json_line(doc: Any) -> None:
    """One JSON document on one line, flushed (these commands print while they run)."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _check_port(port: int) -> int:
    if not 0 <= port < 65536:
        raise UsageError(f"--port must be 0..65535 (0: any free port), got {port}")
    return port


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from provara_desktop.net import serve
    from provara_desktop.net.pair_link import reachable_host
    from provara_desktop.net.peer_addresses import format_address

    _check_port(args.port)
    ident, key = _unlock(args)
    _open_vault(args).close()  # a missing or damaged vault is said before listening
    if args.gossip_interval < 0:
        raise UsageError(f"--gossip-interval must be >= 0 seconds (0: no gossip), got "
                         f"{args.gossip_interval:g}")
    from provara_desktop.net.sync_session import SessionConfig

    options = serve.ServeOptions(host=args.host, port=args.port,
                                 discovery=not args.no_discovery, discreet=args.discreet,
                                 name=ident.name, gossip_interval=args.gossip_interval,
                                 session=SessionConfig(role=args.role))

    def ready(address: tuple[str, int]) -> None:
        host = reachable_host(address[0])
        doc = {"host": host, "port": address[1], "bound": address[0],
               "key_id": ident.key_id, "fingerprint": ident.fingerprint,
               "vault": str(Path(args.vault).absolute()), "role": args.role,
               "discovery": ("off" if args.no_discovery else
                             peer.discovery_note or ("discreet" if args.discreet else "on"))}
        if args.json:
            _json_line(doc)
        else:
            _say(f"serving {doc['vault']} on {format_address(host, address[1])} as "
                 f"{ident.key_id} (fingerprint {ident.fingerprint}); discovery "
                 f"{doc['discovery']}; stop with Ctrl-C or SIGTERM")

    def session(result: Any) -> None:
        if not args.json:  # --json prints exactly one line: the address
            _say(f"sync with {result.peer}: " + (
                f"sent {result.sent}, received {result.received}, held back "
                f"{result.held_back}, {len(result.forks)} fork(s)" if result.ok else
                f"stopped: {result.error}"))

    def gossiped(key_id: str, result: Any) -> None:
        # quiet unless something moved or it failed: a level peer every minute is noise
        if not args.json and (not result.ok or result.sent or result.received
                              or result.held_back):
            _say(f"gossip with {key_id} at {result.peer}: " + (
                f"sent {result.sent}, received {result.received}, held back "
                f"{result.held_back}, {len(result.forks)} fork(s)" if result.ok else
                f"stopped: {result.error}"))

    peer = serve.HeadlessPeer(Path(args.vault).absolute(), _home(args), key, options,
                              on_session=session)
    peer.on_gossip = gossiped
    try:
        return asyncio.run(serve.run(peer, ready))
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port} "
                         f"({exc.strerror or exc})") from None


def cmd_sync(args: argparse.Namespace) -> int:
    import asyncio

    from provara_desktop.net import sync_client
    from provara_desktop.net.peer_addresses import parse_address

    if bool(args.peer) == bool(args.all):
        raise UsageError("sync: give either --peer HOST:PORT or --all")
    if args.peer:
        parse_address(args.peer)  # a bad address is a usage error before anything else
    if not 0 <= args.discovery_timeout <= 60:
        raise UsageError(f"--discovery-timeout must be 0..60 seconds, got "
                         f"{args.discovery_timeout:g}")
    _, key = _unlock(args)
    home = _home(args)
    _open_vault(args).close()
    discovered: dict[str, list[str]] = {}
    from provara_desktop.store.trust import TrustStore

    if args.all and args.discovery_timeout > 0 and TrustStore(home).trusted_ids():
        from provara_desktop.net import peers_report
        from provara_desktop.net.pairing_secrets import load_pairing_secrets

        seen = asyncio.run(peers_report.look(
            timeout=args.discovery_timeout, interfaces=args.interface or None,
            secrets=load_pairing_secrets(home)))
        discovered = sync_client.discovered_addresses(seen.peers,
                                                      TrustStore(home).trusted_ids())
    jobs: list[tuple[str | None, list[str]]] = [(None, [args.peer])] if args.peer else [
        (kid, addresses) for kid, _, addresses in sync_client.targets(home, discovered)]
    if not jobs:
        raise UsageError("sync --all: no trusted peer has a known address (pair with one, "
                         "or sync once with --peer HOST:PORT)")

    async def run_all() -> list[tuple[Any, str | None]]:
        return [await sync_client.sync_first_reachable(
                    addresses, vault_root=Path(args.vault).absolute(), home=home, key=key,
                    expect_key_id=kid)
                for kid, addresses in jobs]

    done = asyncio.run(run_all())
    docs = []
    for result, kid in done:
        doc = result.to_json()
        doc["key_id"] = kid
        doc["outcome"] = sync_client.outcome(result)
        docs.append(doc)
        if not result.ok:
            sys.stderr.write(f"error: {result.error}\n")
        for alert in (result.hub_audit or {}).get("alerts", []):
            sys.stderr.write(f"ALERT from the audit of hub {kid or result.peer}: "
                             f"{alert['code']}: {alert['message']} (`hub receipts` keeps the "
                             "proof)\n")
    _emit(args, {"ok": all(r.ok for r, _ in done), "peers": docs}, "\n".join(
        f"{d['peer']}: sent {d['sent']}, received {d['received']}, held back "
        f"{d['held_back']}, {len(d['forks'])} fork(s), {d['duration_ms']} ms"
        if d["ok"] else f"{d['peer']}: failed ({d['error_code']})" for d in docs))
    outcomes = {d["outcome"] for d in docs}
    return 1 if "refused" in outcomes else 2 if "unreachable" in outcomes else 0


def _pairing_failed(args: argparse.Namespace, exc: Any) -> int:
    """A pairing that did not complete: nothing was trusted. Exit 2 when nobody could be
    reached (or came), 1 when the attempt itself failed (a wrong code, a refusal)."""
    if args.json:
        _json_line({"paired": False, "error": str(exc), "error_code": exc.code})
    sys.stderr.write(f"error: pairing failed: {exc} (nothing was trusted)\n")
    return 2 if exc.code in ("CONNECT", "NO_PEER") else 1


def _recorder(args: argparse.Namespace) -> Any:
    """Records the pairing in this profile once both sides accepted (net/pairing.pair's
    ``on_accepted``), before the two sides tell each other they did."""
    import asyncio

    from provara_desktop.net import pairing

    async def record(paired: Any) -> None:
        await asyncio.to_thread(pairing.record, _home(args), paired)

    return record


def _paired_output(args: argparse.Namespace, paired: Any) -> int:
    doc = paired.to_json()
    if args.json:
        _json_line(doc)
    else:
        _say(f"paired with {paired.peer.name or '(no name)'} ({paired.peer.key_id})\n"
             f"  their fingerprint: {paired.peer.fingerprint}\n"
             f"  your fingerprint:  {paired.own_fingerprint}\n"
             "compare both fingerprints with the other person; `trust remove "
             f"{paired.peer.key_id}` undoes the pairing")
    if paired.one_sided_warning:
        sys.stderr.write(f"warning: {paired.one_sided_warning}\n")
    return 0


def cmd_pair_offer(args: argparse.Namespace) -> int:
    import asyncio

    from provara_desktop.net import pair_link, pairing
    from provara_desktop.net.peer_addresses import format_address

    _check_port(args.port)
    if not 0 < args.timeout <= 24 * 3600:
        raise UsageError(f"--timeout must be 1..86400 seconds, got {args.timeout:g}")
    ident, key = _unlock(args)

    def ready(code: str, host: str, port: int) -> None:
        if args.json:
            _json_line({"code": code, "host": host, "port": port, "timeout_s": args.timeout,
                        "own_key_id": ident.key_id, "own_fingerprint": ident.fingerprint,
                        "code_bits": pairing.CODE_BITS})
        else:
            _say(f"pairing code: {code}\non the other computer run:\n  provara-desktop pair "
                 f"join {format_address(host, port)} --code {code}\nyour fingerprint: "
                 f"{ident.fingerprint}\nwaiting up to {args.timeout:g} s for one attempt "
                 "(a wrong code ends this offer)...")

    try:
        paired = asyncio.run(pair_link.offer(pairing.Me(ident.name, key), host=args.host,
                                             port=args.port, timeout=args.timeout,
                                             on_ready=ready, on_accepted=_recorder(args)))
    except pairing.PairingFailed as exc:
        return _pairing_failed(args, exc)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port} "
                         f"({exc.strerror or exc})") from None
    return _paired_output(args, paired)


def cmd_pair_join(args: argparse.Namespace) -> int:
    import asyncio

    from provara_desktop.net import pair_link, pairing
    from provara_desktop.net.peer_addresses import parse_address

    host, port = parse_address(args.address, where="pair join")
    pairing.normalize_code(args.code)
    ident, key = _unlock(args)
    if not args.json:
        _say(f"your fingerprint: {ident.fingerprint}")
    try:
        paired = asyncio.run(pair_link.join(pairing.Me(ident.name, key), host=host,
                                            port=port, code=args.code,
                                            on_accepted=_recorder(args)))
    except pairing.PairingFailed as exc:
        return _pairing_failed(args, exc)
    return _paired_output(args, paired)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="provara-desktop", description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--version", action="version", version=f"provara-desktop {__version__}")
    p.add_argument("--home", help="profile directory (default: PROVARA_HOME or the platform's "
                   "app-data directory)")
    p.add_argument("--passphrase-file", help="read the identity passphrase from this file "
                   "(or set PROVARA_PASSPHRASE)")
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def cmd(name: str, fn: Any, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        sp.set_defaults(fn=fn)
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        return sp

    ident = sub.add_parser("identity", help="your signing identity")
    isub = ident.add_subparsers(dest="identity_command", parser_class=_Parser, required=True)
    cli_keys.add_parsers(isub, sub, cmd)
    cli_hub.add_parsers(sub, cmd, _Parser)
    cli_rollup.add_parsers(sub, cmd, _Parser)
    cli_mesh.add_parsers(sub, cmd, _Parser)
    cli_federation.add_parsers(sub, cmd, _Parser)
    cli_annotations.add_parsers(sub, cmd)
    cmd("show", cmd_identity_show, "show the identity's public facts", isub)
    cmd("export-reference", cmd_identity_export,
        "write the private key as the reference's private_keys.json", isub).add_argument("file")
    imp = cmd("import-reference", cmd_identity_import,
              "import a key from the reference's private_keys.json", isub)
    imp.add_argument("file")
    imp.add_argument("--name", default="imported")
    imp.add_argument("--key-id")

    sp = cmd("init", cmd_init, "create a vault")
    sp.add_argument("vault")
    sp.add_argument("--uid", help="vault uid (default: a random UUID)")

    for name, fn, help_ in (("observe", cmd_observe, "record an observation"),
                            ("attest", cmd_attest, "attest a value (make it canonical)"),
                            ("retract", cmd_retract, "retract a belief")):
        sp = cmd(name, fn, help_)
        sp.add_argument("vault")
        sp.add_argument("--subject", required=True)
        sp.add_argument("--predicate", required=True)
        if name != "retract":
            sp.add_argument("--value", required=True, help="a JSON value")
        if name == "observe":
            sp.add_argument("--confidence", type=float)
            sp.add_argument("--note")
            sp.add_argument("--attach", action="append", default=[], metavar="FILE")
        if name == "attest":
            sp.add_argument("--target", action="append", default=[], metavar="EVT",
                            help="evidence this attestation settles (repeatable)")
        if name == "retract":
            sp.add_argument("--reason")

    for name, fn, help_ in (("verify", cmd_verify, "verify everything in a vault"),
                            ("state", cmd_state, "the beliefs the events add up to"),
                            ("reindex", cmd_reindex, "rebuild the SQLite index")):
        cmd(name, fn, help_).add_argument("vault")
    sp = cmd("acknowledge-loss", cmd_acknowledge_loss,
             "accept a vault that lost events this profile saw (writes are refused until then)")
    sp.add_argument("vault")
    sp.add_argument("--reason", required=True, help="why, recorded in your profile")
    sp = cmd("log", cmd_log, "list events from the index")
    sp.add_argument("vault")
    sp.add_argument("--actor")
    sp.add_argument("--type")
    sp.add_argument("--subject")
    sp.add_argument("--limit", type=int)
    sp = cmd("frontier", cmd_frontier, "write what this vault holds, for a delta export")
    sp.add_argument("vault")
    sp.add_argument("out")
    sp = cmd("export", cmd_export, "export a signed bundle (or a reference delta file)")
    sp.add_argument("vault")
    sp.add_argument("out")
    sp.add_argument("--since-frontier", metavar="F",
                    help="only what the receiver's frontier file F does not hold")
    sp.add_argument("--actor", action="append", default=[], metavar="A")
    sp.add_argument("--namespace", action="append", default=[], metavar="N")
    sp.add_argument("--since", metavar="TIME", help="events at or after TIME (ISO 8601)")
    sp.add_argument("--until", metavar="TIME", help="events before TIME (ISO 8601)")
    sp.add_argument("--format", choices=["provara-bundle", "provara-delta-v1"],
                    default="provara-bundle")
    sp.add_argument("--for", dest="for_member", metavar="MEMBER",
                    help="under a federation contract: the member the bundle is for (only "
                    "what the contract lets flow to it goes in)")
    bun = sub.add_parser("bundle", help="bundles for air-gapped exchange")
    bsub = bun.add_subparsers(dest="bundle_command", parser_class=_Parser, required=True)
    sp = cmd("verify", cmd_bundle_verify, "check a bundle without importing it", bsub)
    sp.add_argument("bundle")
    sp.add_argument("--vault", help="also check it against this vault (prerequisites, "
                    "conflicts, keys it already trusts)")
    sp = cmd("import", cmd_import, "import a bundle (or a reference delta file) into a vault")
    sp.add_argument("vault")
    sp.add_argument("bundle")
    sp.add_argument("--dry-run", action="store_true", help="show what would change; change "
                    "nothing")
    sp.add_argument("--accept-untrusted", action="store_true",
                    help="also import what keys you do not trust signed, and trust them from "
                    "now on (recorded in your trust store with this bundle's name; "
                    "`trust remove` undoes it)")
    sp = cmd("report", cmd_report, "write a chain-of-custody report (HTML) of a vault or a "
             "bundle")
    sp.add_argument("source", help="a vault directory or a bundle file")
    sp.add_argument("out", help="the .html file to write (never overwritten)")
    sp.add_argument("--subject", help="only events about this subject")
    sp.add_argument("--actor", help="only events by this actor")
    tr = sub.add_parser("trust", help="the keys you trust")
    tsub = tr.add_subparsers(dest="trust_command", parser_class=_Parser, required=True)
    sp = cmd("add", cmd_trust_add, "trust a key (compare its fingerprint with its owner "
             "first)", tsub)
    sp.add_argument("key_id")
    sp.add_argument("--public-key", required=True, metavar="B64")
    sp.add_argument("--name")
    cmd("list", cmd_trust_list, "list the keys you trust", tsub)
    cmd("remove", cmd_trust_remove, "stop trusting a key", tsub).add_argument("key_id")
    sp = cmd("policy", cmd_trust_policy, "what LAN sync does with a trusted peer (no option: "
             "show it; any option replaces it)", tsub)
    sp.add_argument("key_id")
    sp.add_argument("--direction", choices=["send", "receive", "both"],
                    help="send only, receive only, or both (the default)")
    sp.add_argument("--only-direct", action="store_true", help="take from this peer only "
                    "events by keys you trust directly (not the keys it vouches for)")
    sp.add_argument("--chained", action="store_true", help="also take keys this peer trusts "
                    "only through someone else's vouching (more than one hop)")
    sp.add_argument("--actor", action="append", default=[], metavar="A",
                    help="sync only this actor's events with this peer (repeatable)")
    sp.add_argument("--namespace", action="append", default=[], metavar="N",
                    help="sync only this namespace's events with this peer (repeatable)")
    sp.add_argument("--reset", action="store_true", help="back to the default policy")
    from provara_desktop.core.topology_roles import ROLES

    sp.add_argument("--role", choices=list(ROLES),
                    help="the peer's role in your topology; sets the direction it implies "
                    "(parent: send only, child: receive only, else both) unless "
                    "--direction says otherwise")
    sp = cmd("peers", cmd_peers, "what LAN discovery sees (trust state, diagnostics)")
    sp.add_argument("--timeout", type=float, default=3.0, metavar="S",
                    help="browse for S seconds (default 3)")
    sp.add_argument("--interface", action="append", default=[], metavar="ADDR",
                    help="use this address of this machine (repeatable; default: the "
                    "system's choice)")
    sp.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                    help="also list this peer, found without multicast (repeatable)")
    sp.add_argument("--ip-version", choices=["v4", "v6", "all"],
                    help="default: from the --interface addresses, else v4")
    sp = cmd("serve", cmd_serve, "be a LAN sync peer for a vault, without the GUI (until "
             "SIGTERM)")
    sp.add_argument("vault")
    sp.add_argument("--port", type=int, default=47474, help="TCP port (default 47474; 0: any "
                    "free port, printed)")
    sp.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    sp.add_argument("--no-discovery", action="store_true", help="do not announce on the LAN")
    sp.add_argument("--discreet", action="store_true", help="announce a random name and a "
                    "token only paired peers recognise")
    sp.add_argument("--gossip-interval", type=float, default=60.0, metavar="S",
                    help="also sync with every trusted peer in view: at start, every S "
                    "seconds (jittered) and soon after the vault changes (default 60; 0: off)")
    sp.add_argument("--role", choices=["peer", "hub"], default="peer",
                    help="hub: sign a checkpoint of the log for every spoke that syncs, and "
                    "a receipt for every batch it takes (docs/TOPOLOGIES.md)")
    sp = cmd("sync", cmd_sync, "sync a vault once with a trusted peer (or every one)")
    sp.add_argument("vault")
    sp.add_argument("--peer", metavar="HOST:PORT")
    sp.add_argument("--all", action="store_true", help="every trusted peer with a known "
                    "address")
    sp.add_argument("--discovery-timeout", type=float, default=3.0, metavar="S",
                    help="--all: look S seconds for trusted peers on the LAN first (default "
                    "3; 0: only the recorded addresses)")
    sp.add_argument("--interface", action="append", default=[], metavar="ADDR",
                    help="--all: discover on this address of this machine (repeatable)")
    pr = sub.add_parser("pair", help="pair with another person over the LAN (one-time code)")
    psub = pr.add_subparsers(dest="pair_command", parser_class=_Parser, required=True)
    sp = cmd("offer", cmd_pair_offer, "show a one-time code and wait for one peer", psub)
    sp.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    sp.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    sp.add_argument("--timeout", type=float, default=300.0, metavar="S",
                    help="give up after S seconds without a peer (default 300)")
    sp = cmd("join", cmd_pair_join, "join a peer's offer with its code", psub)
    sp.add_argument("address", metavar="HOST:PORT")
    sp.add_argument("--code", required=True)
    gui = sub.add_parser("gui", help="start the desktop app")
    gui.add_argument("vault", nargs="?")
    gui.set_defaults(fn=cmd_gui)
    return p


def _internal_error(exc: BaseException, home: str | None) -> int:
    """The last resort for a bug (an exception nobody raised on purpose): one line for the
    user, the traceback in the profile's log file (where the app logs too), exit code 3."""
    import tempfile
    import traceback

    details = "".join(traceback.format_exception(exc))
    candidates = []
    try:
        from provara_desktop.store.profile_paths import resolve_home

        candidates.append(resolve_home(home) / "logs" / "provara-desktop.log")
    except Exception:  # noqa: BLE001 - the profile may be what is broken
        pass
    candidates.append(Path(tempfile.gettempdir()) / "provara-desktop-internal-error.log")
    written = None
    for path in candidates:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(f"internal error in provara-desktop {__version__}:\n{details}\n")
            written = path
            break
        except OSError:
            continue
    what = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    where = f"details in the log file {written}" if written else "no log file could be written"
    sys.stderr.write(f"internal error: {what} ({where}); please report it\n")
    return 3


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except Exception as exc:  # noqa: BLE001 - no traceback ever reaches a user
        words = list(sys.argv[1:] if argv is None else argv)
        home = next((w.split("=", 1)[1] for w in words if w.startswith("--home=")), None)
        if "--home" in words[:-1]:
            home = words[words.index("--home") + 1]
        return _internal_error(exc, home)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                            format="%(levelname)s %(name)s: %(message)s")
        fn = getattr(args, "fn", None)
        if fn is None:
            if args.command in ("identity", "bundle", "trust", "pair"):
                raise UsageError(f"{args.command} needs a subcommand")
            fn = cmd_gui
        code: int = fn(args)
        return code
    except UserCancelled:
        return 2
    except ProvaraDesktopError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"error: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

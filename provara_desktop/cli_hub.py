"""The command line of hub and spoke (docs/TOPOLOGIES.md): `hub receipts VAULT` (what this
profile keeps of each hub's signed word) and `hub audit VAULT --peer HOST:PORT` (check a hub
now: exit 0 when it still holds everything it receipted and its checkpoints are consistent,
1 with the proof otherwise). `serve VAULT --role hub` and a spoke's `sync` are in cli.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output
from provara_desktop.core.errors import UsageError

if TYPE_CHECKING:
    import argparse

_emit, _home = cli_output.emit, cli_output.home


def cmd_hub_receipts(args: argparse.Namespace) -> int:
    from provara_desktop.store.hub_receipts import HubReceipts
    from provara_desktop.store.vault import Vault

    home = _home(args)
    with Vault.open(Path(args.vault), home=home) as vault:
        uid = vault.uid
    hubs: list[dict[str, Any]] = []
    for kid in HubReceipts.known_hubs(home):
        with HubReceipts(home, kid) as kept:
            notes = [n for n in kept.notes() if n.note and _of_vault(n.note, uid)]
            if not notes:
                continue
            receipted = kept.receipted()
            largest = max(notes, key=lambda n: n.size)
            hubs.append({
                "hub_key_id": kid,
                "receipts": sum(1 for n in notes if n.kind == "receipt"),
                "checkpoints": sum(1 for n in notes if n.kind == "checkpoint"),
                "largest_size": largest.size, "largest_root": largest.root,
                "last_received_utc": max(n.received_utc for n in notes),
                "receipted_events": len(receipted),
                "proven_events": sum(1 for r in receipted if r[3] is not None),
                "alerts": [a.to_json() for a in kept.alerts()]})
    lines = [f"hub {h['hub_key_id']}: {h['receipts']} receipt(s), {h['checkpoints']} "
             f"checkpoint(s), largest log {h['largest_size']}, {h['receipted_events']} "
             f"event(s) receipted ({h['proven_events']} proven since), "
             f"{len(h['alerts'])} alert(s)" for h in hubs]
    _emit(args, {"vault": str(Path(args.vault).absolute()), "vault_uid": uid, "hubs": hubs},
          "\n".join(lines) or "no hub has given this profile a receipt for this vault")
    return 0


def _of_vault(note: str, uid: str) -> bool:
    from provara_desktop.core.hub_notes import ORIGIN_PREFIX

    return note.split("\n", 1)[0] == ORIGIN_PREFIX + uid


def cmd_hub_audit(args: argparse.Namespace) -> int:
    import asyncio

    from provara_desktop.net import sync_client
    from provara_desktop.net.peer_addresses import parse_address
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.identity import IdentityStore

    parse_address(args.peer)
    home = _home(args)
    key = IdentityStore(home).unlock(read_passphrase(args.passphrase_file))
    # Nothing is pushed: the audit asks the hub to account for what it already took (what
    # it sends is taken, as a spoke's sync would).
    result, kid = asyncio.run(sync_client.sync_with(
        args.peer, vault_root=Path(args.vault).absolute(), home=home, key=key, send=False))
    if not result.ok:
        raise UsageError(f"the audit could not run: {result.error}")
    audit = result.hub_audit
    if audit is None:
        raise UsageError(f"{args.peer} is not a hub (its hello says role "
                         f"{result.peer_role!r}): nothing to audit")
    alerts = audit["alerts"]
    doc = {"ok": not alerts, "hub_key_id": kid, "peer": args.peer, **audit}
    if args.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        sys.stdout.write(
            f"hub {kid}: log of {audit['size']} events, consistent with every checkpoint "
            f"it signed for you; {audit['proven']} receipted event(s) proven now\n"
            if not alerts else "".join(
                f"ALERT {a['code']}: {a['message']}\n  proof: "
                f"{json.dumps(a['proof'], sort_keys=True)[:2000]}\n" for a in alerts))
    return 1 if alerts else 0


def add_parsers(sub: Any, cmd: Any, parser_class: Any) -> None:
    """`hub receipts` and `hub audit` under ``sub`` (``cmd`` and ``parser_class``: cli.py's)."""
    hub = sub.add_parser("hub", help="hub and spoke: the receipts a hub gave you, and an "
                         "audit of it")
    hsub = hub.add_subparsers(dest="hub_command", required=True, parser_class=parser_class)
    sp = cmd("receipts", cmd_hub_receipts, "what each hub signed for this vault, kept here",
             hsub)
    sp.add_argument("vault")
    sp = cmd("audit", cmd_hub_audit, "check a hub holds everything it receipted and its "
             "log only grew (exit 1 with the proof otherwise)", hsub)
    sp.add_argument("vault")
    sp.add_argument("--peer", required=True, metavar="HOST:PORT")

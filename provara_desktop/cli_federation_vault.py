"""The vault side of a federation (docs/FEDERATION.md): `federation apply VAULT CONTRACT`
puts a contract in force in a vault (recorded there, so it travels with the evidence) and
`federation status VAULT` shows its members and the revocation ceremony: each revocation
with who has acknowledged it. The contract file's own commands (`sign`, `verify`) are in
cli_federation.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output
from provara_desktop.core.errors import StoreError

if TYPE_CHECKING:
    import argparse

_emit, _home = cli_output.emit, cli_output.home


def cmd_federation_apply(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store import federation
    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.vault import Vault

    path = Path(args.contract)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    home = _home(args)
    store = IdentityStore(home)
    ident = store.load()
    key = store.unlock(read_passphrase(args.passphrase_file))
    with Vault.open(Path(args.vault), home=home) as vault:
        applied = federation.apply(vault, data, key=key, actor=ident.actor, where=str(path))
        acked = federation.acknowledge(vault, key=key, actor=ident.actor)
        doc: dict[str, Any] = {"vault": str(vault.root), "event_id": applied.event_id,
               "contract_id": applied.contract.contract_id,
               "revision": applied.contract.revision, "digest": applied.digest,
               "acknowledged": acked,
               "statement": federation.statement(vault, applied, key.key_id)}
    lines = [f"contract {doc['contract_id']} revision {doc['revision']} is in force in "
             f"{doc['vault']} (digest {doc['digest']}); recorded as {doc['event_id']}"]
    for member, what in doc["statement"]["leaves_out"].items():
        lines += [f"  this replica will not hold, from {member}: {w}" for w in what]
    _emit(args, doc, "\n".join(lines))
    return 0


def cmd_federation_status(args: argparse.Namespace) -> int:
    from provara_desktop.store import federation
    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.vault import Vault

    home = _home(args)
    with Vault.open(Path(args.vault), home=home) as vault:
        store = IdentityStore(home)
        if store.exists() and not args.no_acknowledge:
            # The ceremony moves when a member looks: revocations that arrived since are
            # acknowledged (signed) now, which needs the passphrase.
            from provara_desktop.passphrase_input import read_passphrase

            ident = store.load()
            key = store.unlock(read_passphrase(args.passphrase_file))
            federation.acknowledge(vault, key=key, actor=ident.actor)
        doc: dict[str, Any] = {"vault": str(vault.root), **federation.status(vault)}
    if not doc["in_force"]:
        _emit(args, doc, "no federation contract is in force in this vault")
        return 0
    c = doc["contract"]
    lines = [f"contract {c['contract_id']} revision {c['revision']} (digest {c['digest']}); "
             f"members: {', '.join(m['member'] for m in doc['members'])}"]
    for r in doc["revocations"]:
        state = "complete" if r["complete"] else (
            f"waiting for {', '.join(r['waiting_for'])}")
        lines.append(f"  revocation {r['revocation_event_id']} of {r['revoked_key_id']} "
                     f"({r['member'] or 'no member'}): acknowledged by "
                     f"{', '.join(a['member'] for a in r['acknowledged']) or 'nobody yet'}; "
                     f"{state}")
    if not doc["revocations"]:
        lines.append("  no revocation to acknowledge")
    _emit(args, doc, "\n".join(lines))
    if any(not r["complete"] for r in doc["revocations"]):
        sys.stderr.write("note: a revocation ceremony is not complete yet\n")
    return 0


def add_vault_parsers(fsub: Any, cmd: Any) -> None:
    """`federation apply` and `federation status` under the `federation` parser's ``fsub``."""
    sp = cmd("apply", cmd_federation_apply, "put a contract every member signed in force in "
             "this vault", fsub)
    sp.add_argument("vault")
    sp.add_argument("contract")
    sp = cmd("status", cmd_federation_status, "the contract in force, its members, and who "
             "has acknowledged each revocation", fsub)
    sp.add_argument("vault")
    sp.add_argument("--no-acknowledge", action="store_true", help="only look: do not "
                    "acknowledge revocations that arrived (no passphrase needed)")

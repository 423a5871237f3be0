"""The command line of the hierarchy (docs/TOPOLOGIES.md, "Hierarchy"):
`rollup PARENT CHILD [--summary]` (verify the child and attest its state in the parent; a
full merge takes its events too), `rollup check PARENT CHILD` (exit 1 when the child no
longer holds what was attested) and `hierarchy VAULT` (the tree of vaults the roll-ups
draw, and what each key reaches)."""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output
from provara_desktop.core.errors import UsageError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

_emit, _home = cli_output.emit, cli_output.home
_SUPPRESS = "==SUPPRESS=="  # argparse.SUPPRESS, without importing argparse at start-up


def _unlock(args: argparse.Namespace) -> tuple[Any, Any]:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(_home(args))
    ident = store.load()
    return ident, store.unlock(read_passphrase(args.passphrase_file))


@contextlib.contextmanager
def _child_path(args: argparse.Namespace, text: str) -> Iterator[Path]:
    """CHILD as a path: a vault directory or a bundle as given, or, for HOST:PORT, the child
    served there, fetched whole (net/child_fetch.py) into a bundle signed by you, in a
    temporary directory removed afterwards."""
    if not (re.fullmatch(r"[^/\\]+:[0-9]{1,5}", text) and not Path(text).exists()):
        yield Path(text)
        return
    import asyncio
    import tempfile

    from provara_desktop.bundle import actions
    from provara_desktop.bundle.selection import Selection
    from provara_desktop.net.child_fetch import SCRATCH_ACTOR, fetch_child
    from provara_desktop.store.vault import Vault

    ident, key = _unlock(args)
    with tempfile.TemporaryDirectory(prefix="provara-rollup-") as tmp:
        root, profile = asyncio.run(fetch_child(text, home=_home(args), key=key,
                                                into=Path(tmp)))
        out = Path(tmp) / "child.provara-bundle"
        with Vault.open(root, home=profile) as vault:
            actors = [a for a in vault.index.actor_names() if a != SCRATCH_ACTOR]
            if not actors:
                raise UsageError(f"{text}: the child sent no events")
            actions.export(vault, out, Selection(actors=actors), fmt="provara-bundle",
                           key=key, actor=ident.actor)
        yield out


def cmd_rollup(args: argparse.Namespace) -> int:
    if args.parent == "check":  # `rollup check PARENT CHILD`
        if args.extra is None:
            raise UsageError("rollup check: give PARENT and CHILD")
        return _check(args, args.child, args.extra)
    if args.extra is not None:
        raise UsageError(f"rollup: unexpected argument {args.extra!r} (rollup PARENT CHILD)")
    from provara_desktop.bundle.rollup import RollupRefused, roll_up
    from provara_desktop.intake.trust_view import trust_for
    from provara_desktop.store.vault import Vault

    ident, key = _unlock(args)
    home = _home(args)
    with _child_path(args, args.child) as child, \
            Vault.open(Path(args.parent), home=home) as parent:
        try:
            result = roll_up(parent, child, summary=args.summary, trust=trust_for(home),
                             key=key, actor=ident.actor, accept_untrusted=args.accept_untrusted,
                             home=home)
        except RollupRefused as exc:
            if args.json:
                _emit(args, {**exc.document, "error": str(exc)}, "")
            raise
        doc = {**result.to_json(), "parent": str(parent.root), "parent_vault_uid": parent.uid}
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    s = result.child.state
    since = result.comparison
    lines = [f"{'already attested' if result.unchanged else 'attested'} vault {s.vault_uid} "
             f"({result.mode}): {s.event_count} events, state_hash {s.state_hash}, merkle "
             f"root {s.merkle_root}; attestation {result.attestation_event_id}"]
    if since is not None and result.previous is not None:
        lines.append(f"  since the last roll-up ({result.previous.event_id}): "
                     f"{since.status}, {since.grown_by} new event(s)")
    if result.imported:
        lines.append(f"  merged {result.imported} of the child's events")
    _emit(args, doc, "\n".join(lines))
    return 0


def _check(args: argparse.Namespace, parent_path: str, child_text: str) -> int:
    from provara_desktop.bundle import rollup as bundle_rollup
    from provara_desktop.intake.trust_view import trust_for
    from provara_desktop.store.vault import Vault

    home = _home(args)
    key = actor = None
    if not args.no_record:  # a drift is recorded, signed, as an alert: it is evidence
        ident, key = _unlock(args)
        actor = ident.actor
    with _child_path(args, child_text) as child, \
            Vault.open(Path(parent_path), home=home) as parent:
        try:
            result = bundle_rollup.check(parent, child, trust=trust_for(home), key=key,
                                         actor=actor)
        except bundle_rollup.RollupRefused as exc:
            if args.json:
                _emit(args, {**exc.document, "status": "drift", "error": str(exc)}, "")
            raise
    doc = result.to_json()
    a = result.attested
    if result.ok:
        human = (f"vault {a.vault_uid} still holds everything {a.event_id} attested "
                 f"({a.event_count} events): {result.comparison.status}, "
                 f"{result.comparison.grown_by} new event(s) since")
    else:
        human = "\n".join([f"DRIFT: vault {a.vault_uid} no longer holds what {a.event_id} "
                           f"attested ({a.event_count} events, state_hash {a.state_hash})"]
                          + [f"  {d.code}: {d.message}" for d in result.comparison.drift]
                          + ([f"  recorded as alert {result.alert_event_id}"]
                             if result.alert_event_id else []))
    _emit(args, doc, human)
    return 0 if result.ok else 1


def cmd_hierarchy(args: argparse.Namespace) -> int:
    from provara_desktop.store.hierarchy import hierarchy
    from provara_desktop.store.vault import Vault

    with Vault.open(Path(args.vault), home=_home(args)) as vault:
        doc = {"vault": str(vault.root), **hierarchy(vault)}
    lines = [f"vault {doc['vault_uid']} (this one)"]

    def walk(children: list[dict[str, Any]], depth: int) -> None:
        for c in children:
            a = c["attested"]
            flag = (" VOID (signed by a revoked key after its boundary)" if c["void"]
                    else " (known from a summary)" if c["nested"] else "")
            lines.append(f"{'  ' * depth}└ {c['vault_uid']}: {a.get('event_count')} events, "
                         f"state_hash {a.get('state_hash')}, attested by "
                         f"{c['attested_by']}{flag}")
            walk(c["children"], depth + 1)

    walk(doc["tree"]["children"], 1)
    for k in doc["keys"]:
        if k["status"] != "active":
            lines.append(f"key {k['key_id']} is {k['status']}: it reaches "
                         f"{', '.join(k['reaches']) or 'no vault'}")
    for alert in doc["alerts"]:
        lines.append(f"ALERT {alert['code']} about {alert['vault_uid']}: {alert['message']}")
    _emit(args, doc, "\n".join(lines))
    return 0


def add_parsers(sub: Any, cmd: Any, parser_class: Any) -> None:
    """`rollup`, `rollup check` and `hierarchy` under ``sub`` (cli.py's ``cmd``)."""
    del parser_class  # `rollup check` is read by cmd_rollup, not a subparser (see there)
    sp = cmd("rollup", cmd_rollup, "attest a child vault's verified state in its parent "
             "(`rollup check PARENT CHILD`: exit 1 when the child drifted)", sub)
    sp.usage = ("%(prog)s [--json] [--summary] [--accept-untrusted] PARENT CHILD\n"
                "       %(prog)s check [--json] [--no-record] PARENT CHILD")
    sp.add_argument("parent", metavar="PARENT", help="the parent vault (or `check`)")
    sp.add_argument("child", metavar="CHILD", help="the child: its vault directory or a "
                    "bundle of it")
    sp.add_argument("extra", nargs="?", help=_SUPPRESS)
    sp.add_argument("--summary", action="store_true", help="attest only (the parent takes "
                    "none of the child's events)")
    sp.add_argument("--accept-untrusted", action="store_true", help="full merge: take "
                    "events of keys you do not trust yet (recorded as a trust decision)")
    sp.add_argument("--no-record", action="store_true", help="rollup check: do not record "
                    "a drift as an alert in the parent (no passphrase needed)")
    sp = cmd("hierarchy", cmd_hierarchy, "the tree of vaults rolled up into this one, and "
             "what each key reaches", sub)
    sp.add_argument("vault")

"""The command line of federation contracts (docs/FEDERATION.md): `federation sign CONTRACT`
(sign the contract file with this profile's key, which must be a member's federation key)
and `federation verify CONTRACT` (exit 0 when every member signed it, 1 when some have not
or a signature is bad, 2 when the file is not a contract). The contract's meaning is
core/federation_contract.py; this module reads and writes the file and prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output
from provara_desktop.core.errors import InputError, UsageError

if TYPE_CHECKING:
    import argparse

    from provara_desktop.core.federation_contract import Contract, ContractVerdict

_emit, _home = cli_output.emit, cli_output.home


def _read(path: Path) -> tuple[bytes, Contract]:
    """The file's bytes and the contract they hold; exit 2 naming the field otherwise."""
    from provara_desktop.core.federation_contract import parse_contract

    data = path.read_bytes()  # an OSError is cli.py's: one line, exit 2
    try:
        return data, parse_contract(data)
    except InputError as exc:  # a ContractError names the field; both mean "not a contract"
        raise UsageError(f"{path}: {exc}") from None


def contract_text(contract: Contract) -> bytes:
    """How a contract file is written: indented JSON with sorted keys, so that two members'
    copies of one contract can be compared with diff."""
    import json

    return (json.dumps(contract.to_json(), indent=2, sort_keys=True, ensure_ascii=False)
            + "\n").encode("utf-8")


def _report(contract: Contract, verdict: ContractVerdict) -> dict[str, Any]:
    return {
        "ok": verdict.in_force, "in_force": verdict.in_force,
        "contract_id": contract.contract_id, "revision": contract.revision,
        "vault_uid": contract.vault_uid, "title": contract.title,
        "digest": contract.digest(),
        "members": [{"member": m.member, "name": m.name, "key_id": m.key_id,
                     "fingerprint": m.fingerprint, "keys": list(m.keys),
                     "signature": verdict.status(m.member)} for m in contract.members],
        "flows": [f.to_json() for f in contract.flows],
        "problems": [p.to_json() for p in verdict.problems]}


def _human(contract: Contract, verdict: ContractVerdict) -> list[str]:
    from provara_desktop.core.federation_contract import directions

    lines = [f"contract {contract.contract_id} revision {contract.revision}"
             + (f": {contract.title}" if contract.title else ""),
             f"  vault  {contract.vault_uid}",
             f"  digest {contract.digest()}", "members:"]
    for m in contract.members:
        sig = contract.signature_of(m.member)
        status = verdict.status(m.member)
        when = f", {sig.signed_at_utc}" if sig is not None and status == "valid" else ""
        lines.append(f"  {m.member}" + (f" ({m.name})" if m.name else "")
                     + f": federation key {m.key_id}, fingerprint {m.fingerprint}; "
                     f"{len(m.keys)} other key(s); signature {status.upper()}{when}")
        lines += [f"      {k}" for k in m.keys]
    lines.append("flows (structural events go every way):")
    for a, b in directions(contract):
        rule = contract.direction(a, b)
        if not rule.entries:
            lines.append(f"  {a} -> {b}: nothing else")
        for f in rule.entries:
            lines.append(f"  {a} -> {b}: events by {', '.join(f.actors)} in "
                         f"{', '.join(f.namespaces)}")
    return lines


def _verdict_line(verdict: ContractVerdict) -> str:
    if verdict.in_force:
        return "IN FORCE: every member signed this revision"
    parts = []
    if missing := verdict.with_status("missing"):
        parts.append(f"not signed by {', '.join(missing)}")
    if bad := verdict.with_status("bad"):
        parts.append(f"bad signature of {', '.join(bad)}")
    return f"NOT IN FORCE: {'; '.join(parts)}"


def cmd_federation_verify(args: argparse.Namespace) -> int:
    from provara_desktop.core.federation_contract import verify_signatures

    path = Path(args.contract)
    _, contract = _read(path)
    verdict = verify_signatures(contract)
    lines = [*_human(contract, verdict), _verdict_line(verdict),
             *(f"  problem: {p}" for p in verdict.problems)]
    _emit(args, {"contract": str(path), **_report(contract, verdict)}, "\n".join(lines))
    if not verdict.in_force:
        sys.stderr.write(f"{path}: {_verdict_line(verdict).lower()}\n")
        return 1
    return 0


def cmd_federation_sign(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from provara_desktop.core.federation_contract import sign_contract, verify_signatures
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.profile_files import replace_file

    path = Path(args.contract)
    before, contract = _read(path)  # refuse a broken file before asking for a passphrase
    key = IdentityStore(_home(args)).unlock(read_passphrase(args.passphrase_file))
    member = next((m for m in contract.members if m.key_id == key.key_id), None)
    if member is None:
        owner = contract.member_of_key(key.key_id)
        why = (f"it is one of {owner}'s other keys, not its federation key "
               f"({contract.member(owner).key_id})" if owner else
               "it is no member's key")
        keys = ", ".join(f"{m.member} {m.key_id}" for m in contract.members)
        raise UsageError(f"{path}: your key {key.key_id} cannot sign contract "
                         f"{contract.contract_id}: {why}; a member signs with its key_id "
                         f"({keys})")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = sign_contract(contract, member.member, key, now)
    # Another member signing the same file meanwhile would lose its signature to ours.
    if path.read_bytes() != before:
        raise UsageError(f"{path} changed while it was being signed: nothing written; "
                         "sign again")
    replace_file(path, contract_text(signed), mode=path.stat().st_mode & 0o777)
    verdict = verify_signatures(signed)
    doc = {"contract": str(path), "signed_as": member.member, "key_id": key.key_id,
           "signed_at_utc": now, **_report(signed, verdict), "ok": True}
    human = [f"signed as {member.member} with {key.key_id}; what you signed:",
             *_human(signed, verdict), _verdict_line(verdict)]
    _emit(args, doc, "\n".join(human))
    return 0


def add_parsers(sub: Any, cmd: Any, parser_class: Any) -> None:
    """`federation sign` and `federation verify` under ``sub`` (``cmd``, ``parser_class``:
    cli.py's)."""
    fed = sub.add_parser("federation", help="federation contracts: what several "
                         "organisations replicating one vault let flow between them")
    fsub = fed.add_subparsers(dest="federation_command", required=True,
                              parser_class=parser_class)
    sp = cmd("sign", cmd_federation_sign, "sign a contract file with your key (a member's "
             "key_id); the file is rewritten with your signature", fsub)
    sp.add_argument("contract", metavar="CONTRACT")
    sp = cmd("verify", cmd_federation_verify, "check every member's signature: exit 0 in "
             "force, 1 not (yet), 2 not a valid contract", fsub)
    sp.add_argument("contract", metavar="CONTRACT")
    from provara_desktop import cli_federation_vault

    cli_federation_vault.add_vault_parsers(fsub, cmd)  # apply, status: the vault's side

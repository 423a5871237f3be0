"""The command line of keys over time: the recovery file at `identity create`, rotation,
revocation, a new passphrase, restoring on a new machine, and `keys VAULT` with each key's
life (docs/KEYS.md; the rules: core/key_life.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output
from provara_desktop.core.errors import UsageError

if TYPE_CHECKING:
    import argparse

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.identity import Identity
    from provara_desktop.store.vault import Vault


_emit, _home = cli_output.emit, cli_output.home


def _open(args: argparse.Namespace, path: str | Path) -> Vault:
    from provara_desktop.store.vault import Vault

    return Vault.open(Path(path), home=_home(args))


def _recovery_path(args: argparse.Namespace, identity: Identity) -> Path:
    if args.recovery_out:
        return Path(args.recovery_out)
    return Path.cwd() / f"provara-recovery-{identity.actor}.json"


def _recovery_writer(args: argparse.Namespace, written: list[Path]) -> Any:
    from provara_desktop.store.recovery_file import (
        printable_sheet,
        refuse_existing,
        write_recovery_file,
    )

    def write(identity: Identity, recovery: SigningKey) -> None:
        path = _recovery_path(args, identity)
        refuse_existing(path)
        written.append(write_recovery_file(path, identity, recovery))
        if getattr(args, "sheet", None):
            sheet = Path(args.sheet)
            refuse_existing(sheet)
            from provara_desktop.store.profile_files import create_file

            create_file(sheet.absolute(), printable_sheet(identity, recovery).encode(),
                        mode=0o600)
            written.append(sheet.absolute())

    return write


_KEEP_IT = ("move it off this computer (a USB stick kept safe, or print it and delete the "
            "file): it can rotate and revoke this identity's keys, and nothing else can")


def cmd_identity_create(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.identity import IdentityStore

    if args.recovery_out:
        from provara_desktop.store.recovery_file import refuse_existing

        refuse_existing(Path(args.recovery_out))  # before the (slow) passphrase stretching
    store = IdentityStore(_home(args))
    written: list[Path] = []
    ident = store.create_with_recovery(args.name,
                                       read_passphrase(args.passphrase_file, confirm=True),
                                       _recovery_writer(args, written))
    doc = {**ident.to_json(), "recovery_file": str(written[0]),
           "sheet": str(written[1]) if len(written) > 1 else None}
    _emit(args, doc, f"created identity {ident.actor}\nfingerprint {ident.fingerprint}\n"
          f"stored in {store.path}\nrecovery key {ident.recovery_key_id} (fingerprint "
          f"{ident.recovery_fingerprint})\nrecovery file written to {written[0]}: {_KEEP_IT}")
    return 0


def cmd_identity_add_recovery(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(_home(args))
    written: list[Path] = []
    ident = store.add_recovery(read_passphrase(args.passphrase_file),
                               _recovery_writer(args, written))
    _emit(args, {**ident.to_json(), "recovery_file": str(written[0])},
          f"identity {ident.actor} now has recovery key {ident.recovery_key_id}; it is "
          f"declared in a vault with the next event you record there\nrecovery file "
          f"written to {written[0]}: {_KEEP_IT}")
    return 0


def cmd_identity_confirm_recovery(args: argparse.Namespace) -> int:
    from provara_desktop.store.identity import IdentityStore

    ident = IdentityStore(_home(args)).confirm_recovery_stored()
    _emit(args, ident.to_json(), f"noted: the recovery file of {ident.actor} is stored away")
    return 0


def cmd_identity_passphrase(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(_home(args))
    old = read_passphrase(args.passphrase_file)
    new = read_passphrase(args.new_passphrase_file, env={}, confirm=True)
    ident = store.change_passphrase(old, new)
    _emit(args, ident.to_json(), f"the key of {ident.actor} is sealed under the new "
          "passphrase; the old one no longer opens it")
    return 0


def _read_recovery(args: argparse.Namespace, identity: Identity) -> SigningKey:
    from provara_desktop.store.recovery_file import read_recovery_file

    key, _ = read_recovery_file(Path(args.recovery_file),
                                recovery_key_id=identity.recovery_key_id)
    return key


def cmd_identity_rotate(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store import key_rotation
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(_home(args))
    ident = store.load()
    if ident.recovery_key_id is None:
        raise UsageError(f"identity {ident.actor} has no recovery key, so nothing may rotate "
                         "its key: `identity add-recovery` gives it one")
    with _open(args, args.vault) as vault:
        recovery = _read_recovery(args, ident)
        passphrase = read_passphrase(args.passphrase_file)
        store.unlock(passphrase)  # a wrong passphrase is refused before anything is written
        done = key_rotation.rotate(vault, recovery=recovery,
                                   recovery_actor=ident.recovery_actor or "",
                                   key_id=ident.key_id, reason=args.reason,
                                   boundary=args.boundary)
        new_ident = store.replace_key(done.new_key, passphrase)
    _emit(args, {**done.to_json(), "vault": str(vault.root), "actor": new_ident.actor},
          f"rotated {done.key_id} -> {done.new_key.key_id} ({args.reason})\n"
          f"new fingerprint {done.new_key.public.fingerprint}\n"
          f"trust boundary {done.boundary}: the old key's events up to it stay valid, any "
          "later one is refused\nyour profile now signs with the new key; tell the people "
          "who trust you to check the new fingerprint")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from provara_desktop.store import key_rotation
    from provara_desktop.store.identity import IdentityStore

    with _open(args, args.vault) as vault:
        store = IdentityStore(_home(args))
        ident = store.load() if store.exists() else None
        if ident is not None and args.key_id == ident.key_id:
            raise UsageError(f"{args.key_id} is this profile's own key: `identity rotate` "
                             "replaces it with a new one")
        recovery, label = key_rotation.recovery_for(vault, Path(args.recovery_file),
                                                    args.key_id)
        done = key_rotation.revoke(vault, recovery=recovery, recovery_actor=label,
                                   key_id=args.key_id, reason=args.reason,
                                   boundary=args.boundary)
    _emit(args, {**done.to_json(), "vault": str(vault.root)},
          f"revoked {done.key_id} ({done.reason}); trust boundary {done.boundary}")
    return 0


def cmd_identity_restore(args: argparse.Namespace) -> int:
    """A new machine: a fresh key takes the place of the identity's lost one, signed by the
    recovery key into the vault that holds the identity's evidence."""
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store import key_rotation
    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.recovery_file import read_recovery_file

    home = _home(args)
    store = IdentityStore(home)
    if store.exists():
        raise UsageError(f"this profile ({home}) already holds an identity; restore into a "
                         "new one with --home")
    vault_path = Path(args.vault) if args.vault else home / "vaults" / "default"
    if not vault_path.is_dir():
        raise UsageError(f"no vault at {vault_path}: restoring records the new key in the "
                         "vault that holds your evidence; get it first (sync, or import a "
                         "bundle) and pass --vault")
    recovery, facts = read_recovery_file(Path(args.recovery_file))
    with _open(args, vault_path) as vault:
        # a wrong file or vault is said before the passphrase is asked for
        current = key_rotation.current_key_of(vault, recovery, facts)
        passphrase = read_passphrase(args.passphrase_file, confirm=True)
        done, ident = key_rotation.restore_identity(
            vault, store, Path(args.recovery_file), passphrase, reason=args.reason,
            boundary=args.boundary)
    _emit(args, {**done.to_json(), **ident.to_json(), "vault": str(vault_path)},
          f"restored {ident.actor} with a new key {ident.key_id}\nfingerprint "
          f"{ident.fingerprint}\nthe old key {current} is revoked ({args.reason}), trust "
          f"boundary {done.boundary}")
    return 0


def cmd_identity_add_device(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.devices import add_device
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(_home(args))
    if args.pair:
        return _add_device_by_pairing(args, store)
    if not args.out:
        raise UsageError("identity add-device needs --out FILE (a device file), or --pair "
                         "(over the LAN)")
    key = store.unlock(read_passphrase(args.passphrase_file))
    device_pass = read_passphrase(args.device_passphrase_file, env={}, confirm=True)
    with _open(args, args.vault) as vault:
        done = add_device(vault, store, key, name=args.name, device_passphrase=device_pass,
                          out=Path(args.out))
    facts, cert = done.device, done.certificate
    _emit(args, {"device": facts.to_json(), "certificate_event_id": cert["event_id"],
                 "out": str(Path(args.out).absolute()), "vault": str(vault.root)},
          f"device {facts.device_name!r} of {facts.person_actor}: key {facts.key_id}\n"
          f"fingerprint {facts.fingerprint}\ncertified by {cert['event_id']} in "
          f"{vault.root}\ndevice file written to {Path(args.out).absolute()}: carry it to "
          "the new machine, run `identity join-device FILE` there, then delete it")
    return 0


def _add_device_by_pairing(args: argparse.Namespace, store: Any) -> int:
    import asyncio

    from provara_desktop.net import device_pairing, pairing
    from provara_desktop.net.peer_addresses import format_address
    from provara_desktop.passphrase_input import read_passphrase

    key = store.unlock(read_passphrase(args.passphrase_file))

    def ready(code: str, host: str, port: int) -> None:
        if args.json:
            sys.stdout.write(json.dumps({"code": code, "host": host, "port": port}) + "\n")
        else:
            sys.stdout.write(f"pairing code: {code}\non the new machine run:\n  "
                             f"provara-desktop identity join-device --pair "
                             f"{format_address(host, port)} --code {code} --name "
                             f"{args.name!r}\n")
        sys.stdout.flush()

    with _open(args, args.vault) as vault:
        try:
            added = asyncio.run(device_pairing.offer_device(
                vault, store, key, name=args.name, host=args.host, port=args.port,
                timeout=args.timeout, on_ready=ready))
        except pairing.PairingFailed as exc:
            raise UsageError(f"the device was not added: {exc}") from None
    _emit(args, {"device": added.device.to_json(),
                 "certificate_event_id": added.certificate["event_id"],
                 "vault": str(vault.root), "paired": added.paired.to_json()},
          f"device {args.name!r} ({added.device.key_id}, fingerprint "
          f"{added.device.fingerprint}) certified by {added.certificate['event_id']} and "
          "paired")
    return 0


def _join_device_by_pairing(args: argparse.Namespace, store: Any) -> int:
    import asyncio

    from provara_desktop.net import device_pairing, pairing
    from provara_desktop.net.peer_addresses import parse_address
    from provara_desktop.passphrase_input import read_passphrase

    if not args.name or not args.code:
        raise UsageError("join-device --pair needs --code CODE and --name NAME (the name the "
                         "person gave the device)")
    host, port = parse_address(args.pair, where="join-device --pair")
    pairing.normalize_code(args.code)
    passphrase = read_passphrase(args.passphrase_file, confirm=True)
    try:
        ident, paired = asyncio.run(device_pairing.join_as_device(
            store, name=args.name, host=host, port=port, code=args.code,
            passphrase=passphrase))
    except pairing.PairingFailed as exc:
        raise UsageError(f"this machine did not become the device: {exc}") from None
    _emit(args, {**ident.to_json(), "paired": paired.to_json()},
          f"this machine is now {ident.person_actor}'s device {ident.device_name!r} "
          f"({ident.actor})\nfingerprint {ident.fingerprint}; its certificate reaches it by "
          "sync from the person's machine")
    return 0


def cmd_identity_join_device(args: argparse.Namespace) -> int:
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.devices import join_device
    from provara_desktop.store.identity import IdentityStore

    store = IdentityStore(_home(args))
    if args.pair:
        return _join_device_by_pairing(args, store)
    if not args.file:
        raise UsageError("identity join-device needs a device FILE, or --pair HOST:PORT")
    if store.exists():
        raise UsageError(f"this profile ({store.home}) already holds an identity; join the "
                         "device in a new profile (--home)")
    ident, cert = join_device(store, Path(args.file), read_passphrase(args.passphrase_file))
    _emit(args, {**ident.to_json(), "certificate_event_id": cert["event_id"]},
          f"this machine is now {ident.person_actor}'s device {ident.device_name!r} "
          f"({ident.actor})\nfingerprint {ident.fingerprint}\nits certificate "
          f"{cert['event_id']} reaches your other vaults by sync or bundle")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from provara_desktop.core.keys import PublicKey
    from provara_desktop.store import vault_keys

    with _open(args, args.vault) as vault:
        used = dict(vault.index.key_ids())
        life = vault_keys.key_life(vault)
        out = []
        for entry in vault.keys_doc.get("keys", []):
            if not isinstance(entry, dict):
                continue
            kid = entry.get("key_id")
            try:
                fp = PublicKey.from_b64(str(entry.get("public_key_b64"))).fingerprint
            except ValueError:
                fp = None
            status = life.keys.get(kid) if isinstance(kid, str) else None
            life_doc = status.to_json() if status is not None else {}
            out.append({"key_id": kid, "status": life_doc.get("status", entry.get("status")),
                        "registry_status": entry.get("status"),
                        "roles": entry.get("roles"),
                        "public_key_b64": entry.get("public_key_b64"),
                        "fingerprint": fp,
                        "event_count": used.get(kid, 0) if isinstance(kid, str) else 0,
                        **{k: v for k, v in life_doc.items() if k not in ("key_id", "status")}})
        problems = [{"code": p.code, "event_id": p.event_id, "message": p.message,
                     "severity": "error" if p.error else "warning"} for p in life.problems]
        bare = vault_keys.without_recovery(life)

    def line(k: dict[str, Any]) -> str:
        extra = []
        if k.get("device_name"):
            extra.append(f"device {k['device_name']!r} of {k.get('person')}")
        elif k.get("role") == "recovery":
            extra.append(f"recovery key of {k.get('person')}")
        elif k.get("person"):
            extra.append(k["person"])
        if k.get("replaced_by"):
            extra.append(f"replaced by {k['replaced_by']}")
        if k.get("trust_boundary_event_id"):
            extra.append(f"boundary {k['trust_boundary_event_id']}")
        return f"{k['key_id']}  {k['status']:<8} {k['fingerprint']}  {'; '.join(extra)}"

    human = "\n".join([line(k) for k in out] + [f"{p['severity']}: {p['message']}"
                                               for p in problems]
                      + ([f"no recovery key declared here for: {', '.join(bare)} (`identity "
                          "add-recovery` gives one; it is declared with the next event)"]
                         if bare else []))
    _emit(args, {"keys": out, "problems": problems, "without_recovery": bare}, human)
    return 0


def add_parsers(isub: Any, sub: Any, cmd: Any) -> None:
    """The identity subcommands (``isub``) and `keys` (``sub``) of this module."""
    sp = cmd("create", cmd_identity_create, "create a new identity (and its recovery file)",
             isub)
    sp.add_argument("--name", required=True)
    sp.add_argument("--recovery-out", metavar="FILE",
                    help="where to write the recovery file (default: "
                    "./provara-recovery-<actor>.json); never overwrites")
    sp.add_argument("--sheet", metavar="FILE", help="also write a printable recovery sheet")
    sp = cmd("add-recovery", cmd_identity_add_recovery,
             "give an identity made before recovery keys one", isub)
    sp.add_argument("--recovery-out", metavar="FILE")
    sp.add_argument("--sheet", metavar="FILE")
    cmd("confirm-recovery", cmd_identity_confirm_recovery,
        "say the recovery file is stored away (the app stops warning)", isub)
    sp = cmd("passphrase", cmd_identity_passphrase, "seal the key under a new passphrase",
             isub)
    sp.add_argument("--new-passphrase-file", metavar="FILE",
                    help="read the new passphrase from this file (else a prompt)")
    sp = cmd("rotate", cmd_identity_rotate,
             "replace your key with a new one, signed by your recovery key", isub)
    sp.add_argument("vault")
    sp.add_argument("--recovery-file", required=True, metavar="F")
    sp.add_argument("--boundary", metavar="EVENT_ID",
                    help="the last event of the old key you still vouch for (default: its "
                    "last event)")
    sp.add_argument("--reason", choices=["routine", "compromise"], default="routine")
    sp = cmd("restore", cmd_identity_restore,
             "restore your identity on a new machine from its recovery file", isub)
    sp.add_argument("--recovery-file", required=True, metavar="F")
    sp.add_argument("--vault", help="the vault holding your evidence (default: the app's "
                    "default vault)")
    sp.add_argument("--boundary", metavar="EVENT_ID")
    sp.add_argument("--reason", choices=["routine", "compromise"], default="compromise")

    sp = cmd("add-device", cmd_identity_add_device,
             "certify a new device of yours and write its device file", isub)
    sp.add_argument("vault")
    sp.add_argument("--name", required=True, help="what the device is, e.g. 'field laptop'")
    sp.add_argument("--out", metavar="FILE", help="write a device file (or use --pair)")
    sp.add_argument("--device-passphrase-file", metavar="FILE",
                    help="the new device's passphrase (else a prompt)")
    sp.add_argument("--pair", action="store_true",
                    help="over the LAN instead: show a one-time code for the new machine")
    sp.add_argument("--host", default="0.0.0.0", help="with --pair: address to listen on")
    sp.add_argument("--port", type=int, default=0, help="with --pair: port (default any)")
    sp.add_argument("--timeout", type=float, default=300.0,
                    help="with --pair: seconds to wait for the new machine")
    sp = cmd("join-device", cmd_identity_join_device,
             "make this machine a device of yours (a device file, or --pair)", isub)
    sp.add_argument("file", nargs="?")
    sp.add_argument("--pair", metavar="HOST:PORT", help="join the person's machine's offer")
    sp.add_argument("--code", help="with --pair: the code it shows")
    sp.add_argument("--name", help="with --pair: the device's name, as the person gave it")

    # `keys VAULT` lists; `keys revoke VAULT KEY_ID` revokes (one parser: argparse cannot
    # have both a positional vault and subcommands).
    keys = cmd("keys", cmd_keys_entry, "keys the vault knows, with their life; `keys revoke "
               "VAULT KEY_ID --recovery-file F` revokes one", sub)
    keys.add_argument("words", nargs="+", metavar="VAULT | revoke VAULT KEY_ID")
    keys.add_argument("--recovery-file", metavar="F")
    keys.add_argument("--boundary", metavar="EVENT_ID")
    keys.add_argument("--reason", choices=["compromise", "device_lost", "routine"],
                      default="compromise")


def cmd_keys_entry(args: argparse.Namespace) -> int:
    words = args.words
    if len(words) == 1:
        args.vault = words[0]
        return cmd_keys(args)
    if words[0] == "revoke" and len(words) == 3:
        args.vault, args.key_id = words[1], words[2]
        if not args.recovery_file:
            raise UsageError("keys revoke needs --recovery-file F (the recovery file of the "
                             "key's identity)")
        return cmd_keys_revoke(args)
    raise UsageError("use `keys VAULT` or `keys revoke VAULT KEY_ID --recovery-file F`")

"""One person on several machines: each device has its own key and its own chain (so two
machines never fork one chain), certified by the person's key in a signed event
(``com.provara.desktop.device``, core/key_life.py). The person's recovery key may revoke a
lost device alone; the person and their other devices are unaffected.

Adding a device goes through a device file or LAN pairing. The file: on the person's
machine, `identity add-device` makes the device's key, records the certificate in a vault,
and writes the file, with the device's key sealed under a passphrase chosen for the device;
on the new machine, `identity join-device` opens it and makes it that profile's identity
(the file is as secret as the passphrase is strong: move it by hand, delete it after).
Pairing (net/device_pairing.py): the new machine makes its own key, which never leaves it,
and the one-time code of a pairing authenticates it to the person's machine, which
certifies it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UsageError
from provara_desktop.core.event import signing_bytes
from provara_desktop.core.key_life import DEVICE_CERT
from provara_desktop.core.keys import PublicKey, SigningKey, b64decode_strict
from provara_desktop.store import vault_keys
from provara_desktop.store.identity import Identity, IdentityStore, actor_label_for
from provara_desktop.store.profile_files import create_file

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.store.vault import OpResult, Vault

DEVICE_FORMAT = "provara-desktop-device"
DEVICE_VERSION = 1
_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Certified:
    """A device certified in a vault: its public facts, the certificate event, and what the
    append wrote (the app's writer thread reports it like any write)."""

    device: Identity
    certificate: dict[str, Any]
    op: OpResult


def certify(vault: Vault, store: IdentityStore, person_key: SigningKey, *, name: str,
            device_public_b64: str, created: str | None = None
            ) -> tuple[Identity, dict[str, Any]]:
    """The device's public facts and the certificate of its key by the profile's person,
    checked against the vault's key life; nothing is written (the caller appends it)."""
    name = name.strip()
    if not name:
        raise UsageError("a device needs a name (--name, e.g. 'field laptop')")
    person = store.load()
    if person.person_actor is not None:
        raise UsageError("this profile is itself a device: add devices from the person's "
                         f"own profile ({person.person_actor})")
    device = PublicKey.from_b64(device_public_b64)
    actor = device_label(person.name, name, device.key_id)
    cert = vault.new_event(key=person_key, actor=person.actor, event_type=DEVICE_CERT,
                           namespace="canonical", payload={
                               "device_key_id": device.key_id,
                               "device_public_key_b64": device.b64,
                               "device_name": name, "device_actor": actor,
                               "person_actor": person.actor,
                               "person_public_key_b64": person_key.public.b64,
                               "certified_at_utc": datetime.now(UTC).isoformat()})
    life = vault_keys.key_life(vault, [cert])
    problems = [p.message for p in life.problems if p.event_id == cert["event_id"]]
    if problems:
        raise UsageError(f"the device certificate would not count: {'; '.join(problems)}")
    facts = replace(person, actor=actor, key_id=device.key_id, public_key_b64=device.b64,
                    fingerprint=device.fingerprint,
                    created_at_utc=created or datetime.now(UTC).isoformat(),
                    recovery_confirmed=True, person_actor=person.actor, device_name=name)
    return facts, cert


def certify_and_append(vault: Vault, store: IdentityStore, person_key: SigningKey, *,
                       name: str, device_public_b64: str) -> Certified:
    """Certify the device key ``device_public_b64`` (a pairing's) and record it in ``vault``."""
    facts, cert = certify(vault, store, person_key, name=name,
                          device_public_b64=device_public_b64)
    return Certified(facts, cert, vault.append([cert], signer=person_key))


def device_label(person_name: str, device_name: str, device_key_id: str) -> str:
    """The label a device signs under: its person's name and its own, with its key's
    digits (both machines compute it the same way)."""
    return actor_label_for(f"{person_name} {device_name}", device_key_id)


def add_device(vault: Vault, store: IdentityStore, person_key: SigningKey, *, name: str,
               device_passphrase: str, out: Path) -> Certified:
    """Certify a new device of the profile's person in ``vault`` and write its device file
    to ``out`` (never over a file, and before the certificate: a certificate whose key went
    nowhere would name a device nobody can use)."""
    if not device_passphrase:
        raise UsageError("the device passphrase must not be empty")
    target = out.absolute()
    if target.exists():
        raise UsageError(f"{target} already exists: refusing to overwrite it")
    device = SigningKey.generate()
    facts, cert = certify(vault, store, person_key, name=name,
                          device_public_b64=device.public.b64)
    doc = {"format": DEVICE_FORMAT, "version": DEVICE_VERSION,
           "identity": store.sealed_record(facts, device, device_passphrase),
           "certificate": cert, "vault_uid": vault.uid}
    try:
        create_file(target, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)
    except FileExistsError:
        raise UsageError(f"{target} already exists: refusing to overwrite it") from None
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        op = vault.append([cert], signer=person_key)
    except BaseException:
        target.unlink(missing_ok=True)  # a device whose certificate is nowhere is no device
        raise
    return Certified(facts, cert, op)


def join_device(store: IdentityStore, path: Path, passphrase: str
                ) -> tuple[Identity, dict[str, Any]]:
    """Make the device in the file at ``path`` this (empty) profile's identity."""
    where = str(path)
    try:
        data = path.read_bytes()[:_MAX_BYTES + 1]
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    doc = strict_loads(data, where=where, max_bytes=_MAX_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != DEVICE_FORMAT:
        raise InputError("not a provara-desktop device file", where=where)
    record, cert = doc.get("identity"), doc.get("certificate")
    if not isinstance(record, dict) or not isinstance(cert, dict):
        raise InputError("the device file lacks its identity or its certificate", where=where)
    _check_certificate(cert, record, where)
    identity = store.adopt_record(record, passphrase)
    return identity, cert


def _check_certificate(cert: dict[str, Any], record: dict[str, Any], where: str) -> None:
    """The certificate names this device's key and is signed by the person's key it names
    (a damaged or swapped file is refused before anything is written)."""
    found = cert.get("payload")
    p: dict[str, Any] = found if isinstance(found, dict) else {}
    if cert.get("type") != DEVICE_CERT or p.get("device_key_id") != record.get("key_id"):
        raise InputError("the certificate does not certify the device in this file",
                         where=where)
    try:
        signer = PublicKey.from_b64(str(p.get("person_public_key_b64") or ""))
        sig = b64decode_strict(str(cert.get("sig") or ""))
    except ValueError:
        raise InputError("the certificate's signature or person key is unreadable",
                         where=where) from None
    if signer.key_id != cert.get("actor_key_id") or not signer.verify(signing_bytes(cert), sig):
        raise InputError("the certificate's signature does not verify", where=where)

"""Adding a device over the LAN: a pairing (net/pairing.py: one-time code, SPAKE2) between the
person's machine, which offers, and the new machine, which joins with a key it made for
itself. Once both accepted, the person's machine certifies the key the code authenticated
(store/devices.py) and pins it as paired; the new machine becomes that device and pins the
person. The device's private key never leaves the new machine.

The person names the device they expect (``--name``); a joiner calling itself anything else
is refused before anything is certified. When the person's machine does not confirm it
recorded the device (it refused, or the connection ended first), the new machine undoes
what it wrote: a device whose certificate exists nowhere is no device.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.keys import SigningKey
from provara_desktop.net import pair_link, pairing
from provara_desktop.store.devices import Certified, certify_and_append, device_label
from provara_desktop.store.identity import Identity, actor_label_for
from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.vault import Vault


@dataclass
class DeviceAdded:
    paired: pairing.Paired
    device: Identity
    certificate: dict[str, Any]


async def offer_device(vault: Vault, store: IdentityStore, person_key: SigningKey, *,
                       name: str, host: str, port: int, timeout: float,
                       on_ready: Callable[[str, str, int], None],
                       write: Callable[[str, str], Awaitable[Certified]] | None = None
                       ) -> DeviceAdded:
    """The person's side: offer a pairing, and certify the joining machine's key as the
    device ``name``. ``write`` records the certificate from (device name, public key): the
    app's goes through its writer thread; without it the certificate is appended here."""
    person = store.load()
    done: list[Certified] = []

    async def append_here(device_name: str, public_b64: str) -> Certified:
        return await asyncio.to_thread(certify_and_append, vault, store, person_key,
                                       name=device_name, device_public_b64=public_b64)

    async def accepted(paired: pairing.Paired) -> None:
        if paired.peer.name != name:
            raise pairing.PairingFailed(
                f"the joining machine calls itself {paired.peer.name[:80]!r}, not {name!r}: "
                "nothing was certified (give both sides the same --name)", code="REFUSED")
        made = await (write or append_here)(name, paired.peer.public_key_b64)
        await asyncio.to_thread(pairing.record, store.home, paired)
        done.append(made)

    paired = await pair_link.offer(pairing.Me(person.name, person_key), host=host,
                                   port=port, timeout=timeout, on_ready=on_ready,
                                   on_accepted=accepted)
    return DeviceAdded(paired, done[0].device, done[0].certificate)


async def join_as_device(store: IdentityStore, *, name: str, host: str, port: int,
                         code: str, passphrase: str) -> tuple[Identity, pairing.Paired]:
    """The new machine's side: a fresh key, the pairing, then this (empty) profile's
    identity as the person's device, sealed under ``passphrase``."""
    if store.exists():
        from provara_desktop.core.errors import UsageError

        raise UsageError(f"this profile ({store.home}) already holds an identity; join the "
                         "device in a new profile (--home)")
    key = SigningKey.generate()
    made: list[Identity] = []

    async def accepted(paired: pairing.Paired) -> None:
        person = paired.peer.name
        facts = Identity(
            name=person, actor=device_label(person, name, key.key_id), key_id=key.key_id,
            public_key_b64=key.public.b64, fingerprint=key.public.fingerprint,
            created_at_utc=_now(), recovery_confirmed=True,
            # as the pairing names the person (a person who rotated keeps the first key's
            # digits in their label; `keys VAULT` shows the vault's own record)
            person_actor=actor_label_for(person, paired.peer.key_id), device_name=name)
        record = store.sealed_record(facts, key, passphrase)
        made.append(await asyncio.to_thread(store.adopt_record, record, passphrase))
        await asyncio.to_thread(pairing.record, store.home, paired)

    paired = await pair_link.join(pairing.Me(name, key), host=host, port=port, code=code,
                                  on_accepted=accepted)
    if paired.peer_recorded is not True:
        _undo(store, paired)
        raise pairing.PairingFailed(
            "the person's machine did not confirm it certified this device (it refused, or "
            "the connection ended first): the device identity made here and the trust in "
            "the person were removed; pair again", code="REFUSED")
    return made[0], paired


def _undo(store: IdentityStore, paired: pairing.Paired) -> None:
    # The pairing's discovery secret and the person's address stay: inert for a key this
    # profile does not trust (discovery and `sync --all` only use trusted peers').
    with contextlib.suppress(OSError):
        store.path.unlink()
    with contextlib.suppress(Exception):
        TrustStore(store.home).remove(paired.peer.key_id)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()

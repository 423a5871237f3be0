"""Adding a device over the LAN (net/device_pairing.py), on loopback: the new machine makes
its own key, the one-time code authenticates it, the person's machine certifies it; a
joiner with another name is refused and neither side keeps anything of it."""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING, Any

import nacl.pwhash
import pytest

from provara_desktop.net import device_pairing, pairing
from provara_desktop.store import evidence, vault_keys
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import write_recovery_file
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault

if TYPE_CHECKING:
    from pathlib import Path

FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def _person(tmp_path: Path) -> tuple[IdentityStore, Any, Vault]:
    store = IdentityStore(tmp_path / "alice", **FAST)
    ident = store.create_with_recovery(
        "Alice", "pw", lambda i, r: write_recovery_file(tmp_path / "rec.json", i, r) and None)
    key = store.unlock("pw")
    vault = Vault.init(tmp_path / "v", key=key, actor=ident.actor, home=store.home)
    evidence.observe(vault, key, ident.actor, subject="s", predicate="p", value=1)
    return store, key, vault


async def _both(store: IdentityStore, key: Any, vault: Vault, device: IdentityStore, *,
                offered: str, joined: str) -> tuple[Any, Any]:
    ready: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    offer = asyncio.create_task(device_pairing.offer_device(
        vault, store, key, name=offered, host="127.0.0.1", port=0, timeout=20,
        on_ready=lambda code, host, port: ready.put_nowait((code, port))))
    code, port = await asyncio.wait_for(ready.get(), 20)
    join = asyncio.create_task(device_pairing.join_as_device(
        device, name=joined, host="127.0.0.1", port=port, code=code,
        passphrase="device pw"))
    return await asyncio.wait_for(asyncio.gather(offer, join, return_exceptions=True), 60)


def test_a_device_paired_over_the_lan_is_certified_and_works(tmp_path: Path) -> None:
    store, key, vault = _person(tmp_path)
    device = IdentityStore(tmp_path / "laptop", **FAST)
    added, (ident, _paired) = asyncio.run(_both(store, key, vault, device,
                                                offered="laptop", joined="laptop"))
    assert added.device.key_id == ident.key_id  # the key the new machine made
    assert ident.person_actor == store.load().actor
    assert ident.device_name == "laptop"
    assert ident.actor == added.device.actor  # both sides agree on the device's label
    life = vault_keys.key_life(vault)
    assert life.keys[ident.key_id].role == "device"
    assert life.keys[ident.key_id].person == store.load().actor
    # Each side pinned the other as paired.
    assert ident.key_id in TrustStore(store.home).trusted_ids()
    assert key.key_id in TrustStore(device.home).trusted_ids()
    # The device records in its copy of the vault (as after a sync) without a fork.
    copy = tmp_path / "device-vault"
    shutil.copytree(vault.root, copy)
    with Vault.open(copy, home=device.home) as dv:
        evidence.observe(dv, device.unlock("device pw"), ident.actor, subject="s",
                         predicate="from laptop", value=2)
        report = verify_vault(dv)
    assert report.ok, report.log.problems
    vault.close()


def test_a_joiner_with_another_name_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    store, key, vault = _person(tmp_path)
    before = vault.events_path.read_bytes()
    device = IdentityStore(tmp_path / "laptop", **FAST)
    offered, joined = asyncio.run(_both(store, key, vault, device, offered="laptop",
                                        joined="phone"))
    assert isinstance(offered, pairing.PairingFailed)
    assert "calls itself" in str(offered)
    assert isinstance(joined, pairing.PairingFailed)
    assert not device.exists()  # the new machine undid its identity
    assert vault.events_path.read_bytes() == before  # nothing certified
    assert key.key_id not in TrustStore(device.home).trusted_ids()
    vault.close()
    with pytest.raises(Exception, match="no identity"):
        device.load()

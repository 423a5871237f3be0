"""A child vault served on the network, fetched for a roll-up (`rollup PARENT HOST:PORT`,
docs/TOPOLOGIES.md "Hierarchy"): its whole event set, as a bundle the roll-up reads like any
other child. The parent's own vault is never synced with the child (a roll-up attests the
child; it does not make the parent a replica of it). The bundle is made above this layer
(cli_rollup.py: the network and bundles are siblings here).

How: a first session learns the child's vault uid from its hello (and ends there: the
uids differ); a scratch replica of that vault, in a scratch profile holding a copy of the
user's trust store (so the same keys are pinned), then takes everything the child sends,
whoever signed it (it is verified, and the roll-up judges trust itself), sending nothing;
its events, less the scratch replica's own two (``SCRATCH_ACTOR``), are the child's. The
scratch directory is the caller's to remove.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import uuid
from typing import TYPE_CHECKING

from provara_desktop.core.errors import UsageError
from provara_desktop.core.keys import PublicKey, SigningKey
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.net import peer_addresses, tls
from provara_desktop.net.sync_session import SessionConfig, SyncPolicy, SyncResult, sync
from provara_desktop.store.trust import TRUST_FILE, TrustStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

SCRATCH_ACTOR = "rollup-scratch"
CONNECT_TIMEOUT = 10.0


async def _session(address: str, root: Path, home: Path, key: SigningKey,
                   config: SessionConfig | None) -> SyncResult:
    host, port = peer_addresses.parse_address(address, where="CHILD")
    pins = [PublicKey.from_b64(k.public_key_b64).raw for k in TrustStore(home).trusted().values()]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=tls.client_context(key, pins),
            ssl_handshake_timeout=CONNECT_TIMEOUT), CONNECT_TIMEOUT + 1)
    except ssl.SSLError as exc:
        raise UsageError(f"{address}: the TLS handshake failed ({exc.reason or exc}): the "
                         "child there is not a key you trust, or it does not trust yours"
                         ) from None
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"{address}: cannot connect ({exc})") from None
    vault = await asyncio.to_thread(Vault.open, root, home=home)
    try:
        return await sync(reader, writer, vault=vault, trust=trust_for(home), signer=key,
                          initiator=True, peer=address, config=config,
                          policy=SyncPolicy(send=False, accept_untrusted=True))
    finally:
        await asyncio.to_thread(vault.close)


async def fetch_child(address: str, *, home: Path, key: SigningKey, into: Path,
                      config: SessionConfig | None = None) -> tuple[Path, Path]:
    """The child at ``address`` in a scratch replica under ``into``: (its root, its
    profile). Every event but ``SCRATCH_ACTOR``'s is the child's."""
    profile, root = into / "profile", into / "replica"
    profile.mkdir(parents=True)
    trust_file = home / TRUST_FILE
    if trust_file.is_file():
        shutil.copyfile(trust_file, profile / TRUST_FILE)
    scratch = SigningKey.generate()
    Vault.init(root, key=scratch, actor=SCRATCH_ACTOR, home=profile,
               uid=str(uuid.uuid4())).close()
    probe = await _session(address, root, profile, key, config)
    uid = probe.peer_vault_uid
    if uid is None:
        raise UsageError(f"{address}: no child vault answered: {probe.error}")
    shutil.rmtree(root)
    Vault.init(root, key=scratch, actor=SCRATCH_ACTOR, home=profile, uid=uid).close()
    done = await _session(address, root, profile, key, config)
    if not done.ok:
        raise UsageError(f"{address}: the child's events could not be fetched: {done.error}")
    return root, profile

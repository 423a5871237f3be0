"""One sync with one peer, as the initiator (``sync --peer`` / ``sync --all``).

Connects over TCP, runs the TLS 1.3 handshake pinned by the trusted keys (net/tls.py), checks
the key the peer proved against the one expected at that address (``--all``), opens the
vault and runs one session (net/sync_session.py). A completed sync records the address for
the peer's key (net/peer_addresses.py), so ``sync --all`` finds it next time.

Every outcome is a :class:`SyncResult`; ``outcome`` sorts it into the command's exit codes:
``ok``, ``refused`` (the peer or its data was refused, by either side: exit 1) or
``unreachable`` (no connection, or it broke: exit 2).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import PeerRejected, ProvaraDesktopError
from provara_desktop.core.keys import PublicKey
from provara_desktop.net import peer_addresses, peer_policy, tls
from provara_desktop.net.sync_session import SessionConfig, SyncResult, sync
from provara_desktop.store import vault_keys
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.peers_view import PeerInView

CONNECT_TIMEOUT = 10.0
# Codes that mean the connection itself failed, not that anyone refused anything.
UNREACHABLE = frozenset({"CONNECT", "CLOSED", "TRUNCATED", "TIMEOUT", "LOCAL_ERROR"})


def outcome(result: SyncResult) -> str:
    if result.ok:
        return "ok"
    return "unreachable" if result.error_code in UNREACHABLE else "refused"


def _failed(address: str, started: float, reason: str, code: str) -> SyncResult:
    r = SyncResult(address, error=reason, error_code=code)
    r.duration_ms = round((time.monotonic() - started) * 1000)
    return r


async def sync_with(address: str, *, vault_root: Path, home: Path, key: SigningKey,
                    expect_key_id: str | None = None, config: SessionConfig | None = None,
                    connect_timeout: float = CONNECT_TIMEOUT, send: bool = True
                    ) -> tuple[SyncResult, str | None]:
    """One session with the peer at ``address`` (HOST:PORT); the result and the peer's key
    id (None when the handshake did not get that far). ``send``: False to push nothing
    (`hub audit`)."""
    started = time.monotonic()
    host, port = peer_addresses.parse_address(address)
    trusted = TrustStore(home).trusted()
    pins = [PublicKey.from_b64(k.public_key_b64).raw for k in trusted.values()]
    ctx = tls.client_context(key, pins)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, ssl_handshake_timeout=connect_timeout),
            connect_timeout + 1)
    except ssl.SSLCertVerificationError:
        return _failed(address, started, f"{address}: the peer there is not one you trust "
                       "(its key is not in your trust store: pair with it first)",
                       "UNTRUSTED_PEER"), None
    except ssl.SSLError as exc:
        return _failed(address, started, f"{address}: the TLS handshake failed "
                       f"({exc.reason or exc})", "UNTRUSTED_PEER"), None
    except TimeoutError:
        return _failed(address, started, f"{address}: no answer within "
                       f"{connect_timeout:g} s", "CONNECT"), None
    except OSError as exc:
        return _failed(address, started, f"{address}: cannot connect "
                       f"({exc.strerror or exc})", "CONNECT"), None
    try:
        kid = tls.peer_key_id(writer)
    except PeerRejected as exc:
        writer.transport.abort()
        return _failed(address, started, f"{address}: {exc}", exc.code), None
    if expect_key_id is not None and kid != expect_key_id:
        writer.transport.abort()
        return _failed(address, started, f"{address}: the peer there is {kid}, not "
                       f"{expect_key_id} (its address changed?)", "UNEXPECTED_PEER"), kid
    try:
        vault = await asyncio.to_thread(Vault.open, vault_root, home=home)
    except BaseException:
        writer.transport.abort()
        raise
    revoked = vault_keys.revoked_peer(vault, kid)
    if revoked is not None:
        writer.transport.abort()
        await asyncio.to_thread(vault.close)
        return _failed(address, started, f"{address}: refused: {revoked}",
                       "REVOKED_PEER"), kid
    try:
        policy, trust = peer_policy.for_peer(home, kid)
        if not send:
            policy = dataclasses.replace(policy, send=False)
        result = await sync(reader, writer, vault=vault, trust=trust, signer=key,
                            initiator=True, peer=address, policy=policy, config=config)
    finally:
        await asyncio.to_thread(vault.close)
    if result.error_code == "CLOSED" and result.bytes_received == 0:
        # TLS 1.3: the server checks our certificate after our side of the handshake is
        # done, so its refusal arrives as a closed connection before its hello.
        result.error = (f"{address}: the peer closed the connection before its hello: it "
                        "does not trust your key (pair with it first, or check `trust list` "
                        "on its side)")
        result.error_code = "UNTRUSTED_PEER"
    if result.ok:
        try:
            peer_addresses.remember(home, kid, peer_addresses.format_address(host, port),
                                    source="sync")
        except ProvaraDesktopError:
            pass  # a hint for next time; the sync itself completed
    return result, kid


def targets(home: Path, discovered: Mapping[str, Sequence[str]] | None = None
            ) -> list[tuple[str, str, list[str]]]:
    """``sync --all``: (key_id, name, addresses to try in order) of every trusted peer with
    a known address: where discovery sees it now, then where it was last reached."""
    known = peer_addresses.known_addresses(home)
    seen = discovered or {}
    out = []
    for kid, k in sorted(TrustStore(home).trusted().items()):
        addresses = list(dict.fromkeys([*seen.get(kid, ()), *([known[kid]] if kid in known
                                                              else [])]))
        if addresses:
            out.append((kid, k.name, addresses))
    return out


def discovered_addresses(peers: Iterable[PeerInView], trusted_ids: Iterable[str]
                         ) -> dict[str, list[str]]:
    """key_id -> HOST:PORT of the trusted peers in view: a discreet peer by the key its
    token matched, an ordinary one by its fingerprint prefix (only a hint: the handshake
    then proves the full key, or the sync falls back to the recorded address)."""
    by_prefix: dict[str, list[str]] = {}
    ids = set(trusted_ids)
    for kid in ids:
        by_prefix.setdefault(kid[4:12], []).append(kid)
    out: dict[str, list[str]] = {}
    for p in peers:
        if not p.addresses or not p.port:
            continue
        kids = [p.key_id] if p.key_id in ids else [] if p.key_id else by_prefix.get(
            p.fingerprint or "", [])
        # IPv4 first: a link-local IPv6 address needs its interface to be dialled
        addr = sorted(p.addresses, key=lambda a: ":" in a)[0]
        for kid in kids:
            out.setdefault(kid, []).append(peer_addresses.format_address(addr, p.port))
    return out


async def sync_first_reachable(addresses: Sequence[str], **kwargs: Any
                               ) -> tuple[SyncResult, str | None]:
    """Try each address in turn until a session completes or is refused by a peer that
    proved the expected key; the last result otherwise."""
    result: tuple[SyncResult, str | None] | None = None
    for address in addresses:
        result = await sync_with(address, **kwargs)
        if result[0].ok or (result[1] is not None and outcome(result[0]) == "refused"
                            and result[0].error_code != "UNEXPECTED_PEER"):
            return result
    assert result is not None
    return result

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
import ssl
import time
from typing import TYPE_CHECKING

from provara_desktop.core.errors import PeerRejected, ProvaraDesktopError
from provara_desktop.core.keys import PublicKey
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.net import peer_addresses, tls
from provara_desktop.net.sync_session import SessionConfig, SyncResult, sync
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey

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
                    connect_timeout: float = CONNECT_TIMEOUT) -> tuple[SyncResult, str | None]:
    """One session with the peer at ``address`` (HOST:PORT); the result and the peer's key
    id (None when the handshake did not get that far)."""
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
    try:
        result = await sync(reader, writer, vault=vault, trust=trust_for(home), signer=key,
                            initiator=True, peer=address, config=config)
    finally:
        await asyncio.to_thread(vault.close)
    if result.error_code == "CLOSED" and result.bytes_received == 0:
        # TLS 1.3: the server checks our certificate after our side of the handshake is
        # done, so its refusal arrives as a closed connection before its hello.
        result.error = (f"{address}: the peer closed the connection before its hello: it "
                        "does not trust your key (pair with it first)")
        result.error_code = "UNTRUSTED_PEER"
    if result.ok:
        try:
            peer_addresses.remember(home, kid, peer_addresses.format_address(host, port),
                                    source="sync")
        except ProvaraDesktopError:
            pass  # a hint for next time; the sync itself completed
    return result, kid


def targets(home: Path) -> list[tuple[str, str, str]]:
    """``sync --all``: (key_id, name, address) of every trusted peer with a known address."""
    known = peer_addresses.known_addresses(home)
    return [(kid, k.name, known[kid]) for kid, k in sorted(TrustStore(home).trusted().items())
            if kid in known]

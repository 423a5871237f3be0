"""TLS 1.3 pinned by identity keys, over a real 127.0.0.1 socket (port 0): two identities
pinned to each other sync; a third, unpinned, is refused by the handshake and reads nothing;
the private key never reaches the disk unencrypted and its file does not outlive the load."""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provara_desktop.core.errors import PeerRejected
from provara_desktop.core.keys import SigningKey
from provara_desktop.net import tls
from provara_desktop.net.sync_session import SyncResult, sync
from tests.net.sync_helpers import FAST, SESSION_TIMEOUT, trust_of

if TYPE_CHECKING:
    from tests.net.sync_helpers import Replica


async def serve_once(server: Replica, pinned: list[Replica], client: Replica,
                     client_pins: list[Replica]) -> tuple[SyncResult | None, SyncResult | str]:
    """One TLS server on 127.0.0.1:0 for one connection, and one client session to it."""
    done: asyncio.Future[SyncResult | None] = asyncio.get_running_loop().create_future()
    vault = server.open()

    started: list[bool] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started.append(True)
        kid = tls.peer_key_id(writer)
        assert kid in {p.key.key_id for p in pinned}
        res = await sync(reader, writer, vault=vault, trust=trust_of(server, *pinned),
                         signer=server.key, initiator=False, peer=kid, config=FAST)
        done.set_result(res)

    srv = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=tls.server_context(server.key, [
            p.key.public.raw for p in pinned]), ssl_handshake_timeout=2.0)
    port = srv.sockets[0].getsockname()[1]
    try:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=tls.client_context(client.key, [
                    p.key.public.raw for p in client_pins])), 5.0)
        except ssl.SSLError as exc:
            return None, f"handshake: {exc.reason}"
        assert writer.get_extra_info("cipher")[1] == "TLSv1.3"
        assert tls.peer_key_id(writer) == server.key.key_id
        with client.open() as cv:
            mine = await asyncio.wait_for(sync(
                reader, writer, vault=cv, trust=trust_of(client, server), signer=client.key,
                initiator=True, peer=server.key.key_id, config=FAST), SESSION_TIMEOUT)
        # The server's session began before the client's could end (it answered); one that
        # never began is a refused handshake.
        theirs = await asyncio.wait_for(done, SESSION_TIMEOUT) if started else None
        return theirs, mine
    finally:
        srv.close()
        await srv.wait_closed()
        vault.close()


def test_two_pinned_identities_sync_over_tls(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(2)
    b.record(3)
    server_res, client_res = asyncio.run(serve_once(a, [b], b, [a]))
    assert isinstance(client_res, SyncResult)
    assert client_res.ok, client_res.error
    assert server_res is not None
    assert server_res.ok, server_res.error
    assert a.log_bytes() == b.log_bytes()
    assert a.state_hash() == b.state_hash()


def test_an_unpinned_identity_is_refused_and_learns_nothing(make_replica: Any) -> None:
    a, b, eve = make_replica("alice"), make_replica("bob"), make_replica("eve")
    a.record(2)
    eve.record(1)
    before = a.digest()
    # eve pins alice (she knows alice's public key); alice pins only bob
    server_res, client_res = asyncio.run(serve_once(a, [b], eve, [a]))
    assert server_res is None  # alice's handler never ran: no session, nothing read
    assert isinstance(client_res, SyncResult)
    assert client_res.bytes_received == 0
    assert client_res.received == 0
    assert client_res.error_code == "CLOSED"
    assert a.digest() == before


def test_a_client_refuses_a_server_it_did_not_pin(make_replica: Any) -> None:
    a, b, eve = make_replica("alice"), make_replica("bob"), make_replica("eve")
    # eve serves, pinning bob; bob pins only alice: bob's handshake fails at once
    server_res, client_res = asyncio.run(serve_once(eve, [b], b, [a]))
    assert server_res is None
    assert client_res == "handshake: CERTIFICATE_VERIFY_FAILED"


@pytest.mark.parametrize("memfd", [True, False], ids=["memory-file", "private-dir"])
def test_the_private_key_is_written_encrypted_and_never_lingers(
        monkeypatch: pytest.MonkeyPatch, memfd: bool) -> None:
    if memfd and not tls._memfd_usable():
        pytest.skip("no memfd_create on this system (the private-directory way is used)")
    monkeypatch.setattr(tls, "_memfd_usable", lambda: memfd)
    key = SigningKey.generate()
    made: list[Path] = []
    written: list[bytes] = []
    real_mkdtemp, real_write = tempfile.mkdtemp, os.write

    def mkdtemp(*args: Any, **kwargs: Any) -> str:
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    def write(fd: int, data: Any) -> int:
        written.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(os, "write", write)
    ctx = tls.server_context(key, [])
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    if memfd:
        assert made == []  # no file system holds it, even for a moment
    else:
        assert len(made) == 1
        assert not made[0].exists()
    keys = [w for w in written if b"PRIVATE KEY" in w]
    assert len(keys) == 1
    assert b"ENCRYPTED PRIVATE KEY" in keys[0]
    raw_pem = Ed25519PrivateKey.from_private_bytes(key.seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    assert all(raw_pem not in w and key.seed not in w for w in written)


class _FakeSSL:
    def __init__(self, der: bytes) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes:
        return self.der


class _FakeWriter:
    def __init__(self, der: bytes) -> None:
        self.obj = _FakeSSL(der)

    def get_extra_info(self, name: str) -> Any:
        return self.obj if name == "ssl_object" else None


def test_a_certificate_for_another_key_signed_by_a_pinned_one_is_refused() -> None:
    pinned, other = SigningKey.generate(), SigningKey.generate()
    own = tls.certificate_for(pinned).public_bytes(serialization.Encoding.DER)
    assert tls.peer_key_id(_FakeWriter(own)) == pinned.key_id  # type: ignore[arg-type]
    signer = Ed25519PrivateKey.from_private_bytes(pinned.seed)
    stranger = Ed25519PrivateKey.from_private_bytes(other.seed).public_key()
    when = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
    forged = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]))
              .issuer_name(tls.certificate_for(pinned).issuer)
              .public_key(stranger).serial_number(7)
              .not_valid_before(when).not_valid_after(when + datetime.timedelta(days=1))
              .sign(signer, None)).public_bytes(serialization.Encoding.DER)
    with pytest.raises(PeerRejected, match="not its identity key's own"):
        tls.peer_key_id(_FakeWriter(forged))  # type: ignore[arg-type]
    with pytest.raises(PeerRejected, match="no certificate"):
        tls.peer_key_id(_FakeWriter(b""))  # type: ignore[arg-type]

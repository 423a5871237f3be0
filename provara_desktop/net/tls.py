"""TLS 1.3 between two Provara identities, pinned by their Ed25519 keys (no CA, no names).

Each side presents a certificate made from its identity key itself (the seed becomes a
``cryptography`` Ed25519PrivateKey): subject ``provara <key_id>``, issuer ``provara pin
<key_id>``, signed by that same key. Each side trusts, as the only roots it loads, one *pin*
per peer the user trusts: a certificate named ``provara pin <key_id>`` that carries the peer's
public key. OpenSSL then accepts a peer's certificate exactly when the pin's key verifies its
signature, i.e. when it was signed by the pinned identity key, and the TLS 1.3 handshake makes
the peer prove it holds the private key of the certificate it shows. A pin is built from the
public key alone (the trust store holds nothing else), signed by a throwaway key: OpenSSL
does not check a root's own signature, only that it is a CA and whose key it carries.

``peer_key_id`` then maps the verified certificate back to the Provara key id (``bp1_`` +
sha256(raw public key)[:16], core/keys.py) and refuses a certificate whose own key is not the
pinned one, so the caller checks one id against its trust store. A peer nobody pinned fails
the handshake and reads nothing (tests/net/test_tls.py).

The private key reaches ``ssl`` through a file, because ``SSLContext.load_cert_chain`` only
reads files. It is always encrypted (PKCS#8 under a random one-time password that only this
process holds). On Linux the "file" is an anonymous memory file (``os.memfd_create``, opened
by its /proc/self/fd path): nothing is written to any file system. Elsewhere it is a 0600
file in a 0700 temporary directory, removed as soon as it is loaded.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID

from provara_desktop.core.errors import PeerRejected
from provara_desktop.core.keys import PUBLIC_KEY_BYTES, key_id_for

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable

    from provara_desktop.core.keys import SigningKey

# Fixed validity: identities do not expire by date (revocation is an event, issue 12), and a
# fixed window makes an identity's certificate the same bytes on every start (Ed25519 is
# deterministic), which keeps logs and tests comparable.
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _pin_name(key_id: str) -> x509.Name:
    return _name(f"provara pin {key_id}")


def _serial(public_key: bytes) -> int:
    return int.from_bytes(hashlib.sha256(public_key).digest()[:8], "big") >> 1 or 1


def certificate_for(key: SigningKey) -> x509.Certificate:
    """This identity's TLS certificate, signed by the identity key itself."""
    private = Ed25519PrivateKey.from_private_bytes(key.seed)
    kid = key.key_id
    return (x509.CertificateBuilder()
            .subject_name(_name(f"provara {kid}")).issuer_name(_pin_name(kid))
            .public_key(private.public_key()).serial_number(_serial(key.public.raw))
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(private, None))


def pin_certificate(public_key: bytes) -> x509.Certificate:
    """The root that makes ``ssl`` accept the identity with this raw public key, and only
    it (see the module docstring: built without the peer's private key)."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes")
    name = _pin_name(key_id_for(public_key))
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False,
                          key_agreement=False, key_cert_sign=True, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(Ed25519PublicKey.from_public_bytes(public_key))
            .serial_number(_serial(public_key))
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .sign(Ed25519PrivateKey.generate(), None))


def _context(purpose: int, key: SigningKey, pinned: Iterable[bytes]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    if purpose == ssl.PROTOCOL_TLS_CLIENT:
        ctx.check_hostname = False  # identities, not host names, are what is pinned
    _load_identity(ctx, key)
    pems = "".join(pin_certificate(p).public_bytes(serialization.Encoding.PEM).decode()
                   for p in pinned)
    if pems:  # none pinned: every peer fails verification
        ctx.load_verify_locations(cadata=pems)
    return ctx


def server_context(key: SigningKey, pinned: Iterable[bytes]) -> ssl.SSLContext:
    """For accepting connections: clients must present a certificate of a pinned key."""
    return _context(ssl.PROTOCOL_TLS_SERVER, key, pinned)


def client_context(key: SigningKey, pinned: Iterable[bytes]) -> ssl.SSLContext:
    """For connecting: the server must present a certificate of a pinned key."""
    return _context(ssl.PROTOCOL_TLS_CLIENT, key, pinned)


def _load_identity(ctx: ssl.SSLContext, key: SigningKey) -> None:
    cert = certificate_for(key).public_bytes(serialization.Encoding.PEM)
    password = secrets.token_bytes(32)
    private = Ed25519PrivateKey.from_private_bytes(key.seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password))
    if _memfd_usable():
        _load_from_memory(ctx, cert, private, password)
    else:
        _load_from_private_dir(ctx, cert, private, password)


def _memfd_usable() -> bool:
    return hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir()


def _load_from_memory(ctx: ssl.SSLContext, cert: bytes, private: bytes,
                      password: bytes) -> None:
    """Linux: anonymous memory files (memfd), named by /proc/self/fd/N, which no file
    system holds and which vanish when closed."""
    fds = [os.memfd_create("provara-tls-cert"), os.memfd_create("provara-tls-key")]
    try:
        for fd, data in zip(fds, (cert, private), strict=True):
            os.write(fd, data)
        ctx.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}",
                            password=password)
    finally:
        for fd in fds:
            os.close(fd)


def _load_from_private_dir(ctx: ssl.SSLContext, cert: bytes, private: bytes,
                           password: bytes) -> None:
    """Elsewhere: a 0600 file in a 0700 directory, removed as soon as it is loaded."""
    folder = Path(tempfile.mkdtemp(prefix="provara-tls-"))
    try:
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        cert_path.write_bytes(cert)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, private)
        finally:
            os.close(fd)
        ctx.load_cert_chain(cert_path, key_path, password=password)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def peer_public_key(writer: asyncio.StreamWriter) -> bytes:
    """The raw Ed25519 public key of the verified peer on this TLS stream."""
    obj = writer.get_extra_info("ssl_object")
    der = obj.getpeercert(binary_form=True) if obj is not None else None
    if not der:
        raise PeerRejected("the peer presented no certificate", code="UNTRUSTED_PEER")
    cert = x509.load_der_x509_certificate(der)
    public = cert.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise PeerRejected("the peer's certificate is not an Ed25519 identity",
                           code="UNTRUSTED_PEER")
    raw = public.public_bytes(*_RAW)
    if cert.issuer != _pin_name(key_id_for(raw)):
        # Signed by a pinned key, but for another key: not that identity's own certificate.
        raise PeerRejected("the peer's certificate is not its identity key's own",
                           code="UNTRUSTED_PEER")
    return raw


def peer_key_id(writer: asyncio.StreamWriter) -> str:
    """The Provara key id of the verified peer (check it against the trust store)."""
    return key_id_for(peer_public_key(writer))

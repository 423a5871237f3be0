"""Ed25519 keys, key ids and fingerprints (PyNaCl; no home-made cryptography).

key_id = "bp1_" + sha256(raw 32-byte public key)[:16]  (PROTOCOL.md A §4)
The fingerprint is what two people read aloud to each other: 128 bits of the same digest in
groups of four hex digits, long enough that nobody can grind a look-alike key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing

PUBLIC_KEY_BYTES = 32
SEED_BYTES = 32
SIGNATURE_BYTES = 64


def key_id_for(public_key: bytes) -> str:
    """The protocol key id of a raw 32-byte Ed25519 public key."""
    return "bp1_" + hashlib.sha256(public_key).hexdigest()[:16]


def fingerprint_for(public_key: bytes) -> str:
    """Human fingerprint: 32 hex digits of sha256(public key), grouped by four."""
    digest = hashlib.sha256(public_key).hexdigest()[:32].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, *, expected_len: int | None = None) -> bytes:
    """Standard base64 with padding; raises ValueError on anything else."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not valid base64: {exc}") from None
    if expected_len is not None and len(raw) != expected_len:
        raise ValueError(f"expected {expected_len} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class PublicKey:
    """A verified-shape Ed25519 public key with its protocol id."""

    raw: bytes

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        return cls(b64decode_strict(text, expected_len=PUBLIC_KEY_BYTES))

    @property
    def key_id(self) -> str:
        return key_id_for(self.raw)

    @property
    def b64(self) -> str:
        return b64encode(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint_for(self.raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of ``message``."""
        return verify_raw(self.raw, message, signature)


def verify_raw(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verify without exceptions. PyNaCl releases the GIL inside the C call, which is
    what lets verification use both cores."""
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except nacl.exceptions.BadSignatureError:
        return False
    except (nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True


class SigningKey:
    """An Ed25519 private key held in memory only while the identity is unlocked."""

    __slots__ = ("_key", "public")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
        self._key = nacl.signing.SigningKey(seed)
        self.public = PublicKey(bytes(self._key.verify_key))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        """Detached 64-byte signature (Ed25519 is deterministic: same message, same bytes)."""
        return bytes(self._key.sign(message).signature)

    def __repr__(self) -> str:  # never print the seed
        return f"SigningKey({self.key_id})"

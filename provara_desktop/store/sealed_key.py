"""A 32-byte Ed25519 seed sealed under a passphrase: Argon2id stretches the passphrase into a
key, ``nacl.secret.SecretBox`` (XSalsa20-Poly1305) seals the seed with it. The Argon2id limits
travel with the sealed seed, so a later version can raise them and still open older ones.
Nothing here reads or writes a file (store/identity.py keeps the sealed seed in the profile).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id
import nacl.secret
import nacl.utils

__all__ = [
    "BOX_ALG",
    "DEFAULT_MEMLIMIT",
    "DEFAULT_OPSLIMIT",
    "KDF_ALG",
    "MAC_BYTES",
    "NONCE_BYTES",
    "SALT_BYTES",
    "SealedSeed",
    "check_kdf_params",
    "open_seed",
    "seal_seed",
]

KDF_ALG = "argon2id13"
BOX_ALG = "xsalsa20poly1305"

# Interactive limits (2 passes, 64 MiB) unlock in well under a second on a laptop. They are
# stored in the file, so a later version can raise them and still open older identities.
DEFAULT_OPSLIMIT: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
DEFAULT_MEMLIMIT: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE

_OPSLIMIT_MIN: int = nacl.pwhash.argon2id.OPSLIMIT_MIN
_OPSLIMIT_MAX: int = nacl.pwhash.argon2id.OPSLIMIT_MAX
_MEMLIMIT_MIN: int = nacl.pwhash.argon2id.MEMLIMIT_MIN
# libsodium accepts up to 4 TiB; a damaged or hostile file must not make unlock try to allocate
# that. 4 GiB is four times the "sensitive" preset, far beyond any sane setting.
_MEMLIMIT_MAX: int = min(nacl.pwhash.argon2id.MEMLIMIT_MAX, 4 << 30)
SALT_BYTES: int = nacl.pwhash.argon2id.SALTBYTES
_BOX_KEY_BYTES: int = nacl.secret.SecretBox.KEY_SIZE
NONCE_BYTES: int = nacl.secret.SecretBox.NONCE_SIZE
MAC_BYTES: int = nacl.secret.SecretBox.MACBYTES


@dataclass(frozen=True)
class SealedSeed:
    """What is needed to open a sealed seed, given the passphrase."""

    opslimit: int
    memlimit: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes


def seal_seed(seed: bytes, passphrase: str, *, opslimit: int, memlimit: int) -> SealedSeed:
    """Seal ``seed`` under ``passphrase`` with a fresh salt and nonce."""
    salt = nacl.utils.random(SALT_BYTES)
    nonce = nacl.utils.random(NONCE_BYTES)
    box_key = _derive_box_key(passphrase, salt, opslimit, memlimit)
    ciphertext = bytes(nacl.secret.SecretBox(box_key).encrypt(seed, nonce).ciphertext)
    return SealedSeed(opslimit, memlimit, salt, nonce, ciphertext)


def open_seed(sealed: SealedSeed, passphrase: str) -> bytes | None:
    """The seed, or None when it does not open: Poly1305 cannot tell a wrong passphrase
    from a damaged ciphertext (the caller says which is likelier)."""
    box_key = _derive_box_key(passphrase, sealed.salt, sealed.opslimit, sealed.memlimit)
    try:
        return bytes(nacl.secret.SecretBox(box_key).decrypt(sealed.ciphertext, sealed.nonce))
    except nacl.exceptions.CryptoError:
        return None


def check_kdf_params(
    opslimit: object, memlimit: object, *, where: str, error: type[Exception]
) -> tuple[int, int]:
    """The Argon2id limits as ints, or ``error`` when they are not ints libsodium accepts."""
    checked: list[int] = []
    for label, value, low, high in (
        ("opslimit", opslimit, _OPSLIMIT_MIN, _OPSLIMIT_MAX),
        ("memlimit", memlimit, _MEMLIMIT_MIN, _MEMLIMIT_MAX),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise error(f"{where}: argon2id {label} {value!r} is outside [{low}, {high}]")
        checked.append(value)
    return checked[0], checked[1]


def _passphrase_bytes(passphrase: str) -> bytes:
    # NFC: the same passphrase typed on macOS (which may hand us decomposed accents) and on
    # Windows/Linux must give the same bytes, or the identity would not travel between them.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive_box_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(
            _BOX_KEY_BYTES,
            _passphrase_bytes(passphrase),
            salt,
            opslimit=opslimit,
            memlimit=memlimit,
        )
    )

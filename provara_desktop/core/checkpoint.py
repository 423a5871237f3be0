"""Signed checkpoints of a transparency log: the C2SP tlog-checkpoint text, signed as a C2SP
signed note, and cosigned by witnesses as C2SP tlog-cosignature/v1 says.

    example.com/hub                 origin: who keeps the log
    20852163                        tree size, decimal
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=     root (core/tlog.py), base64
    <extension lines, optional>
                                    a blank line, then one line per signature:
    — example.com/hub <base64(key ID[4] || Ed25519 signature[64])>
    — witness.example/w1 <base64(key ID[4] || timestamp[8] || Ed25519 signature[64])>

A key ID is the first four bytes of SHA-256(key name || 0x0A || type || public key), with type
0x01 for a plain Ed25519 signature of the note's text and 0x04 for a witness cosignature,
which signs "cosignature/v1\\ntime <seconds>\\n" followed by the text. Using the published
formats means any C2SP witness or verifier can check our hub, and we can check theirs.

The text signed is the body's bytes exactly, its final newline included. Everything a peer
sends goes through a strict parser, and a signature line from a key we do not know is
ignored, as the spec requires; a line from a key we know must verify, or the note is refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nacl.signing

from provara_desktop.core.keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    SigningKey,
    b64decode_strict,
    verify_raw,
)
from provara_desktop.core.tlog import HASH_BYTES, MAX_TREE_SIZE

if TYPE_CHECKING:
    from collections.abc import Iterable

# The em dash (U+2014) and a space that open every signature line.
SIGNATURE_PREFIX = "\u2014 "
# A note is read whole into memory before its signatures are checked: a cap keeps a hostile
# peer from making us hold an arbitrary amount. A checkpoint is a few hundred bytes.
MAX_NOTE_BYTES = 1 << 20
# The spec asks verifiers to cap signatures and accept at least 16; Go's sumdb/note takes at
# most 100, so a note we write is one every common verifier reads.
MAX_SIGNATURES = 100
KEY_ID_BYTES = 4
# Signature type bytes (C2SP signed-note, "Signature types").
ED25519_TYPE = 0x01
COSIGNATURE_V1_TYPE = 0x04
KEY_TYPES = (ED25519_TYPE, COSIGNATURE_V1_TYPE)
# A cosignature is an 8-byte big-endian POSIX time, then the Ed25519 signature; the spec caps
# the time at 2^63 - 1 (a signed 64-bit time everywhere).
TIMESTAMP_BYTES = 8
COSIGNATURE_BYTES = TIMESTAMP_BYTES + SIGNATURE_BYTES
MAX_TIMESTAMP = (1 << 63) - 1
COSIGNATURE_HEADER = b"cosignature/v1\n"
# Key names (signed-note, "Format"): non-empty, with no Unicode space and no plus sign. The
# plus separates the fields of a verifier key, a space those of a signature line; control
# characters (a newline among them) are forbidden anywhere in a note.
_BAD_NAME_CHAR = re.compile(r"[\s+\x00-\x1f]")
# A note may hold newlines and no other character below U+0020 (so no tab, no CR).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
# A tree size: ASCII digits with no leading zero, at most the 20 digits of 2^64 - 1 (checked
# before int() so no huge string is ever converted).
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


def check_key_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid signed-note key name."""
    if not isinstance(name, str) or not name:
        raise ValueError("a key name must be a non-empty string")
    bad = _BAD_NAME_CHAR.search(name)
    if bad is not None:
        ch = bad.group()
        kind = "a plus sign" if ch == "+" else ("a space or line break" if ch.isspace()
                                                 else "a control character")
        raise ValueError(f"key name {name!r} contains {kind} (U+{ord(ch):04X})")


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    data = name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key
    return hashlib.sha256(data).digest()[:KEY_ID_BYTES]


def _b64decode_canonical(text: str, what: str) -> bytes:
    """Strict base64, and only in its one canonical spelling: two spellings of the same bytes
    would let a relay change a note's text without changing what it says."""
    try:
        raw = b64decode_strict(text)
    except ValueError as exc:
        raise ValueError(f"{what} is {exc}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"{what} is not in canonical base64 (unused bits set)")
    return raw


def _decode_text(data: bytes | str, what: str) -> str:
    """The text of a note or a body: bounded, UTF-8, no control character but newline, and
    ending in a newline. Returns it as str."""
    if isinstance(data, str):
        if len(data) > MAX_NOTE_BYTES:  # every character is at least a byte
            raise ValueError(f"{what} is larger than {MAX_NOTE_BYTES} bytes")
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    if not isinstance(data, bytes):
        raise TypeError(f"{what} must be bytes or str, not {type(data).__name__}")
    if len(data) > MAX_NOTE_BYTES:
        raise ValueError(f"{what} is {len(data)} bytes, larger than the {MAX_NOTE_BYTES} allowed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not valid UTF-8 (at byte {exc.start})") from None
    bad = _CONTROL.search(text)
    if bad is not None:
        raise ValueError(f"{what} holds the control character U+{ord(bad.group()):04X} at "
                         f"character {bad.start()}; only newline is allowed")
    if not text.endswith("\n"):
        raise ValueError(f"{what} does not end in a newline")
    return text


def _require_body(body: bytes, what: str) -> None:
    """A text to sign or a note's body: bytes (what is signed is bytes), and valid text."""
    if not isinstance(body, bytes):
        raise TypeError(f"{what} must be bytes, not {type(body).__name__}")
    _decode_text(body, what)


def _check_line(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    if "\n" in value or _CONTROL.search(value) is not None:
        raise ValueError(f"{what} {value!r} holds a newline or a control character")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: who keeps it (origin), how many leaves, their root."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"tree size must be an integer from 0 to {MAX_TREE_SIZE}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_BYTES:
            raise ValueError(f"root must be {HASH_BYTES} bytes")
        if not isinstance(self.extensions, tuple):
            raise TypeError("extensions must be a tuple of lines (so a checkpoint is hashable)")
        for line in self.extensions:
            _check_line(line, "extension line")

    def body(self) -> bytes:
        """The exact text that is signed, ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"),
                 *self.extensions]
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def parse_body(cls, body: bytes | str) -> Checkpoint:
        """Read a checkpoint's text (a note's body); ValueError naming what is wrong."""
        text = _decode_text(body, "checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ValueError(f"checkpoint has {len(lines)} lines; it needs at least three "
                             "(origin, tree size, root)")
        for number, line in enumerate(lines, 1):
            if not line:
                raise ValueError(f"checkpoint line {number} is empty")
        if _TREE_SIZE.fullmatch(lines[1]) is None or int(lines[1]) > MAX_TREE_SIZE:
            raise ValueError(f"checkpoint tree size {lines[1][:40]!r} is not a decimal from 0 "
                             f"to {MAX_TREE_SIZE} without leading zeros")
        root = _b64decode_canonical(lines[2], "checkpoint root")
        if len(root) != HASH_BYTES:
            raise ValueError(f"checkpoint root is {len(root)} bytes, not {HASH_BYTES}")
        return cls(lines[0], int(lines[1]), root, tuple(lines[3:]))


@dataclass(frozen=True)
class NoteSignature:
    """One signature line, parsed: who (name and key ID) and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_BYTES:
            raise ValueError(f"a key ID is {KEY_ID_BYTES} bytes")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise ValueError("a signature must be non-empty bytes")

    @property
    def line(self) -> str:
        """The signature line, without its newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {blob}"

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        if not line.startswith(SIGNATURE_PREFIX):
            raise ValueError("a signature line starts with an em dash (U+2014) and a space")
        name, sep, blob = line[len(SIGNATURE_PREFIX):].partition(" ")
        if not sep:
            raise ValueError("a signature line is a key name, a space and a signature")
        if " " in blob:
            raise ValueError("a signature line has more than two fields: a key name cannot "
                             "contain spaces, nor can a signature")
        check_key_name(name)
        raw = _b64decode_canonical(blob, "the signature")
        if len(raw) <= KEY_ID_BYTES:
            raise ValueError(f"the signature is {len(raw)} bytes, too short to hold a key ID "
                             "and a signature")
        return cls(name, raw[:KEY_ID_BYTES], raw[KEY_ID_BYTES:])


@dataclass(frozen=True)
class SignedNote:
    """A text and its signatures. Any instance is one :meth:`parse` would accept."""

    body: bytes
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _require_body(self.body, "note text")
        if not isinstance(self.signatures, tuple) or not all(
            isinstance(s, NoteSignature) for s in self.signatures
        ):
            raise ValueError("signatures must be a tuple of NoteSignature")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise ValueError(f"a note has from 1 to {MAX_SIGNATURES} signatures, "
                             f"not {len(self.signatures)}")
        total = len(self.body) + 1 + sum(len(s.line.encode("utf-8")) + 1
                                         for s in self.signatures)
        if total > MAX_NOTE_BYTES:
            raise ValueError(f"the note would be {total} bytes, more than {MAX_NOTE_BYTES}")

    @classmethod
    def of(cls, body: bytes, lines: Iterable[str | NoteSignature]) -> SignedNote:
        """A note from its body and signature lines (as :func:`sign_note` returns them)."""
        return cls(body, tuple(s if isinstance(s, NoteSignature) else NoteSignature.parse_line(s)
                               for s in lines))

    def with_signatures(self, *lines: str | NoteSignature) -> SignedNote:
        """This note with more signature lines appended (a witness's cosignature, say)."""
        return SignedNote.of(self.body, (*self.signatures, *lines))

    def to_text(self) -> str:
        return (self.body.decode("utf-8") + "\n"
                + "".join(s.line + "\n" for s in self.signatures))

    def to_bytes(self) -> bytes:
        return self.to_text().encode("utf-8")

    @classmethod
    def parse(cls, data: bytes | str) -> SignedNote:
        """Read a signed note strictly; ValueError naming what is wrong. Says nothing about
        whether any signature is good: that is :func:`verify_note`."""
        text = _decode_text(data, "note")
        # The text ends at the last blank line (the text may hold blank lines of its own).
        cut = text.rfind("\n\n")
        if cut < 0:
            raise ValueError("note has no blank line between its text and its signatures")
        block = text[cut + 2:]
        if not block:
            raise ValueError("note has no signature lines after its blank line")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise ValueError(f"note has {len(lines)} signature lines, more than the "
                             f"{MAX_SIGNATURES} allowed")
        signatures = []
        for number, line in enumerate(lines, 1):
            try:
                signatures.append(NoteSignature.parse_line(line))
            except ValueError as exc:
                raise ValueError(f"signature line {number}: {exc}") from None
        return cls(text[: cut + 1].encode("utf-8"), tuple(signatures))


@dataclass(frozen=True)
class NoteVerifier:
    """A key we trust to sign notes: its name, its Ed25519 public key, and what it signs
    (0x01 a note's text, 0x04 a witness cosignature of a checkpoint)."""

    name: str
    public_key: bytes
    key_type: int = ED25519_TYPE

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_BYTES:
            raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes")
        if self.key_type not in KEY_TYPES:
            raise ValueError(f"signature type {self.key_type!r} is not one of "
                             f"{', '.join(f'0x{t:02x}' for t in KEY_TYPES)}")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    @classmethod
    def for_key(cls, name: str, signing_key: nacl.signing.SigningKey | SigningKey,
                key_type: int = ED25519_TYPE) -> NoteVerifier:
        """The verifier matching a signing key of ours."""
        return cls(name, _public_key_of(signing_key), key_type)

    @property
    def vkey(self) -> str:
        """The verifier key text: <name>+<hex key ID>+<base64(type || public key)>."""
        blob = base64.b64encode(bytes([self.key_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def from_vkey(cls, text: str) -> NoteVerifier:
        """Read a verifier key; ValueError if malformed or if its key ID does not match."""
        # Names hold no plus sign, so the first two split the fields; base64 may hold more.
        name, sep1, rest = text.partition("+")
        hex_id, sep2, blob = rest.partition("+")
        if not (sep1 and sep2):
            raise ValueError("a verifier key is <name>+<key ID>+<base64 key>")
        check_key_name(name)
        if re.fullmatch(r"[0-9a-f]{8}", hex_id) is None:
            raise ValueError(f"verifier key ID {hex_id[:16]!r} is not 8 lowercase hex digits")
        raw = _b64decode_canonical(blob, "the verifier key")
        if len(raw) != 1 + PUBLIC_KEY_BYTES:
            raise ValueError(f"the verifier key is {len(raw)} bytes, not a type byte and a "
                             f"{PUBLIC_KEY_BYTES}-byte Ed25519 key")
        verifier = cls(name, raw[1:], raw[0])
        if verifier.key_id.hex() != hex_id:
            raise ValueError(f"verifier key ID {hex_id} does not match its name and key "
                             f"({verifier.key_id.hex()})")
        return verifier


def _public_key_of(signing_key: nacl.signing.SigningKey | SigningKey) -> bytes:
    if isinstance(signing_key, SigningKey):
        return signing_key.public.raw
    if isinstance(signing_key, nacl.signing.SigningKey):
        return bytes(signing_key.verify_key)
    raise TypeError(f"not an Ed25519 signing key: {type(signing_key).__name__}")


def _sign(signing_key: nacl.signing.SigningKey | SigningKey, message: bytes) -> bytes:
    if isinstance(signing_key, SigningKey):
        return signing_key.sign(message)
    if isinstance(signing_key, nacl.signing.SigningKey):
        return bytes(signing_key.sign(message).signature)
    raise TypeError(f"not an Ed25519 signing key: {type(signing_key).__name__}")


def sign_note(body: bytes, key_name: str,
              signing_key: nacl.signing.SigningKey | SigningKey) -> str:
    """The Ed25519 signature line (type 0x01) of ``body`` by ``key_name``, without newline."""
    _require_body(body, "note text")
    check_key_name(key_name)
    kid = key_id(key_name, ED25519_TYPE, _public_key_of(signing_key))
    return NoteSignature(key_name, kid, _sign(signing_key, body)).line


def cosignature_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 signs: a header line, a time line, then the checkpoint."""
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + checkpoint_body


def cosign(checkpoint_body: bytes, key_name: str,
           signing_key: nacl.signing.SigningKey | SigningKey, timestamp: int) -> str:
    """A witness's cosignature line (type 0x04) of a checkpoint, at ``timestamp`` (POSIX
    seconds; the caller's clock, as core reads none). Without newline."""
    _require_body(checkpoint_body, "checkpoint")
    Checkpoint.parse_body(checkpoint_body)  # a witness vouches for checkpoints, nothing else
    check_key_name(key_name)
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"a cosignature time is an integer from 0 to {MAX_TIMESTAMP}")
    kid = key_id(key_name, COSIGNATURE_V1_TYPE, _public_key_of(signing_key))
    signature = _sign(signing_key, cosignature_message(checkpoint_body, timestamp))
    return NoteSignature(key_name, kid, timestamp.to_bytes(TIMESTAMP_BYTES, "big")
                         + signature).line


def _check(verifier: NoteVerifier, body: bytes, signature: bytes) -> int | None:
    """The signature's time (0 for a plain signature) if it verifies, else None."""
    if verifier.key_type == ED25519_TYPE:
        return 0 if verify_raw(verifier.public_key, body, signature) else None
    if len(signature) != COSIGNATURE_BYTES:
        return None
    timestamp = int.from_bytes(signature[:TIMESTAMP_BYTES], "big")
    if timestamp > MAX_TIMESTAMP:
        return None
    message = cosignature_message(body, timestamp)
    good = verify_raw(verifier.public_key, message, signature[TIMESTAMP_BYTES:])
    return timestamp if good else None


def _verified(note: SignedNote,
              verifiers: Iterable[NoteVerifier]) -> list[tuple[NoteVerifier, int]]:
    """Each known key whose signatures verify, once, in order, with its time; empty if any
    signature of a known key fails (the spec's advice: such a note is not to be trusted)."""
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if known.setdefault(slot, verifier) != verifier:
            raise ValueError(f"two verifiers share the name {verifier.name!r} and key ID "
                             f"{verifier.key_id.hex()}: which one signed cannot be told")
    found: dict[NoteVerifier, int] = {}
    for sig in note.signatures:
        signer = known.get((sig.name, sig.key_id))
        if signer is None:
            continue  # an unknown key (or a known name with another ID): ignored
        timestamp = _check(signer, note.body, sig.signature)
        if timestamp is None:
            return []
        found.setdefault(signer, timestamp)
    return list(found.items())


def verify_note(note: SignedNote, verifiers: Iterable[NoteVerifier]) -> tuple[str, ...]:
    """The names of the known keys (plain or cosigner) that signed ``note``, in signature
    order. Empty when none did, or when a known key's signature fails. Never raises on the
    note; raises ValueError if two verifiers are indistinguishable."""
    return tuple(verifier.name for verifier, _ in _verified(note, verifiers))


def verify_cosignatures(note: SignedNote,
                        verifiers: Iterable[NoteVerifier]) -> tuple[tuple[str, int], ...]:
    """(name, time) of each known witness whose cosignature of ``note`` verifies. Empty
    when none did, or when a known witness's cosignature fails. ``verifiers`` must be
    cosigner keys (type 0x04): a plain key here is a mistake, and raises ValueError."""
    witnesses = list(verifiers)
    for verifier in witnesses:
        if verifier.key_type != COSIGNATURE_V1_TYPE:
            raise ValueError(f"{verifier.name!r} is not a cosigner key (type 0x04)")
    return tuple((verifier.name, timestamp) for verifier, timestamp in _verified(note, witnesses))

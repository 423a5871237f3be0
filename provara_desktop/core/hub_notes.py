"""A hub's signed statements (docs/TOPOLOGIES.md): checkpoints of its log in the C2SP
tlog-checkpoint text format, signed as C2SP signed notes with the hub's Ed25519 key.

    provara-hub/<vault uid>          origin
    <tree size>                      decimal
    <root>                           base64 of the 32-byte RFC 9162 root
    frontier sha256:<hex>            what the hub holds of each chain (its frontier message)
    time <UTC ISO 8601>
    receipt sha256:<hex>             in a receipt only: the digest of what it accepted

    — provara-hub <base64(key hash[4] || Ed25519 signature[64])>

The key hash is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key), as the
signed-note spec defines it for Ed25519; the signature covers the body's bytes exactly
(every line, the last newline included). A note is the hub's word in a form anyone holding
its public key can check later, which is what makes it a proof against the hub.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from provara_desktop.core.keys import PublicKey, SigningKey

KEY_NAME = "provara-hub"
ORIGIN_PREFIX = "provara-hub/"
_ALG_ED25519 = b"\x01"
_DASH = "\u2014 "  # an em dash and a space open every signature line
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 16
MAX_EXTENSIONS = 16


@dataclass(frozen=True)
class HubNote:
    """A checked note: what the hub signed."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]
    text: str  # the whole note as received: the proof

    @property
    def vault_uid(self) -> str:
        return self.origin[len(ORIGIN_PREFIX):]

    def extension(self, name: str) -> str | None:
        for line in self.extensions:
            key, _, value = line.partition(" ")
            if key == name:
                return value
        return None

    @property
    def frontier_digest(self) -> str | None:
        return self.extension("frontier")

    @property
    def receipt_digest(self) -> str | None:
        return self.extension("receipt")

    @property
    def time(self) -> str | None:
        return self.extension("time")


def key_hash(public_key: bytes, name: str = KEY_NAME) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALG_ED25519 + public_key).digest()[:4]


def digest(value: Any) -> str:
    """``sha256:<hex>`` of a JSON value in one canonical spelling (sorted keys, no spaces)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode("utf-8")).hexdigest()


def receipt_digest(accepted: Iterable[tuple[str, int]]) -> str:
    return digest([[e, i] for e, i in accepted])


def sign(key: SigningKey, *, vault_uid: str, size: int, root: bytes, time: str,
         frontier: Mapping[str, Any] | None = None,
         accepted: Iterable[tuple[str, int]] | None = None) -> str:
    """The signed note of a checkpoint (``frontier``: what the hub holds of each chain, as
    its frontier message says) or of a receipt (``accepted``: what one batch added)."""
    lines = [ORIGIN_PREFIX + vault_uid, str(size), base64.b64encode(root).decode("ascii")]
    if frontier is not None:
        lines.append(f"frontier {digest(dict(frontier))}")
    lines.append(f"time {time}")
    if accepted is not None:
        lines.append(f"receipt {receipt_digest(accepted)}")
    body = "\n".join(lines) + "\n"
    sig = key.sign(body.encode("utf-8"))
    blob = base64.b64encode(key_hash(key.public.raw) + sig).decode("ascii")
    return f"{body}\n{_DASH}{KEY_NAME} {blob}\n"


def read(text: str, hub_key: PublicKey) -> HubNote:
    """The note ``text`` if ``hub_key`` signed it; ValueError saying what is wrong (a note
    from elsewhere, a malformed one, or a signature that does not verify)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_NOTE_BYTES:
        raise ValueError(f"a note over {MAX_NOTE_BYTES} bytes")
    body, sep, sigs = text.partition("\n\n")
    if not sep or not body:
        raise ValueError("a note is a body, a blank line, then signature lines")
    body += "\n"
    lines = body.split("\n")[:-1]
    if len(lines) < 3 or len(lines) > 3 + MAX_EXTENSIONS or any(not x for x in lines):
        raise ValueError("a checkpoint body is an origin, a size, a root and at most "
                         f"{MAX_EXTENSIONS} extension lines, none empty")
    origin, size_text, root_text = lines[:3]
    if not origin.startswith(ORIGIN_PREFIX) or len(origin) == len(ORIGIN_PREFIX):
        raise ValueError(f"origin {origin[:80]!r} is not a provara hub's")
    if not size_text.isascii() or not size_text.isdigit() or (
            len(size_text) > 1 and size_text[0] == "0") or len(size_text) > 16:
        raise ValueError(f"tree size {size_text[:20]!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the root is not base64") from None
    if len(root) != 32:
        raise ValueError("the root is not 32 bytes")
    sig_lines = [x for x in sigs.split("\n") if x]
    if not sigs.endswith("\n") or not sig_lines or len(sig_lines) > MAX_SIGNATURES:
        raise ValueError(f"a note ends with 1 to {MAX_SIGNATURES} signature lines")
    want = key_hash(hub_key.raw)
    for line in sig_lines:
        if not line.startswith(_DASH):
            raise ValueError("a signature line starts with an em dash and a space")
        name, _, blob_text = line[len(_DASH):].partition(" ")
        try:
            blob = base64.b64decode(blob_text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a signature is not base64") from None
        if name != KEY_NAME or len(blob) != 68 or blob[:4] != want:
            continue  # another key's signature (a witness's): not the hub's
        if not hub_key.verify(body.encode("utf-8"), blob[4:]):
            raise ValueError("the hub's signature on this note does not verify")
        return HubNote(origin, int(size_text), root, tuple(lines[3:]), text)
    raise ValueError(f"the note is not signed by the hub's key {hub_key.key_id}")

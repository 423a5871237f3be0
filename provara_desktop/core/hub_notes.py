"""A hub's signed statements (docs/TOPOLOGIES.md): checkpoints of its log in the C2SP
tlog-checkpoint text format, signed as C2SP signed notes with the hub's Ed25519 key.

    provara-hub/<vault uid>          origin
    <tree size>                      decimal
    <root>                           base64 of the 32-byte RFC 9162 root
    frontier sha256:<hex>            what the hub holds of each chain (its frontier message)
    time <UTC ISO 8601>
    receipt sha256:<hex>             in a receipt only: the digest of what it accepted

    — provara-hub <base64(key hash[4] || Ed25519 signature[64])>

The format and the signatures are core/checkpoint.py's (C2SP); this module says what a
hub's checkpoint holds. A note is the hub's word in a form anyone holding its public key
can check later, which is what makes it a proof against the hub.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.checkpoint import (
    Checkpoint,
    NoteVerifier,
    SignedNote,
    sign_note,
    verify_note,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from provara_desktop.core.keys import PublicKey, SigningKey

KEY_NAME = "provara-hub"
ORIGIN_PREFIX = "provara-hub/"
# A hub note is a few lines and a handful of signatures (its own, witnesses'): far under the
# signed-note limits (core/checkpoint.py), so a hostile hub's note is refused early.
MAX_NOTE_CHARS = 64 * 1024
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
    extensions = []
    if frontier is not None:
        extensions.append(f"frontier {digest(dict(frontier))}")
    extensions.append(f"time {time}")
    if accepted is not None:
        extensions.append(f"receipt {receipt_digest(accepted)}")
    body = Checkpoint(ORIGIN_PREFIX + vault_uid, size, root, tuple(extensions)).body()
    return SignedNote.of(body, [sign_note(body, KEY_NAME, key)]).to_text()


def read(text: str, hub_key: PublicKey) -> HubNote:
    """The note ``text`` if ``hub_key`` signed it; ValueError saying what is wrong (a note
    from elsewhere, a malformed one, or a signature that does not verify)."""
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"a hub note over {MAX_NOTE_CHARS} characters")
    note = SignedNote.parse(text)
    if len(note.signatures) > MAX_SIGNATURES:
        raise ValueError(f"a hub note with over {MAX_SIGNATURES} signatures")
    body = Checkpoint.parse_body(note.body)
    if not body.origin.startswith(ORIGIN_PREFIX) or body.origin == ORIGIN_PREFIX:
        raise ValueError(f"origin {body.origin[:80]!r} is not a provara hub's")
    if len(body.extensions) > MAX_EXTENSIONS:
        raise ValueError(f"a hub checkpoint with over {MAX_EXTENSIONS} extension lines")
    signer = NoteVerifier(KEY_NAME, hub_key.raw)
    if not any(s.name == KEY_NAME and s.key_id == signer.key_id for s in note.signatures):
        raise ValueError(f"the note is not signed by the hub's key {hub_key.key_id}")
    if verify_note(note, [signer]) != (KEY_NAME,):
        raise ValueError("the hub's signature on this note does not verify")
    return HubNote(body.origin, body.size, body.root, body.extensions, text)

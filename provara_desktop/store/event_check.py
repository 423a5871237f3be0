"""The verdict on one event: is its signature valid under the vault's keyring, and is its
id the hash of its content? A pure function of the event and the keyring (no cache, no I/O):
the views' per-event provenance (ui/provenance_cache.py) caches these verdicts for the
events on screen; whole-vault verification (store.verify_vault) is the one-pass check.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from provara_desktop.core.event import IdForm, classify_event_id, signing_bytes
from provara_desktop.core.keys import verify_raw

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provara_desktop.core.keyring import KeyRing


class SigStatus(StrEnum):
    VALID = "valid"
    BAD_SIGNATURE = "bad signature"
    UNKNOWN_KEY = "unknown key"
    REVOKED = "revoked key"
    UNSIGNED = "unsigned"
    BAD_KEY_ENTRY = "unusable key entry"
    UNREADABLE = "unreadable"


class IdStatus(StrEnum):
    OK = "matches content"
    LEGACY = "legacy form (rule B)"
    MISMATCH = "does not match content"


@dataclass(frozen=True, slots=True)
class EventCheck:
    """The verdict on one event: its signature and its id against its content."""

    event_id: str
    sig: SigStatus
    id: IdStatus
    key_id: str | None
    fingerprint: str | None  # of the key in the vault's keyring, when the key is listed
    detail: str  # one sentence a person can act on

    @property
    def ok(self) -> bool:
        return self.sig is SigStatus.VALID and self.id is not IdStatus.MISMATCH


_PLAIN = re.compile(r"[A-Za-z0-9+/=_]+")


def _cut_messages(raw: bytes, sig: str, eid: str) -> tuple[bytes, bytes] | None:
    """(signed message, rule-A id preimage) of a CANONICAL line, by cutting ``"sig"`` and
    ``"event_id"`` out of its bytes instead of re-encoding the event twice. Only when each
    occurs exactly once (inside JSON strings quotes are escaped, so a value cannot hold
    them); None otherwise, and the caller re-encodes."""
    if not (_PLAIN.fullmatch(sig) and _PLAIN.fullmatch(eid)):
        return None
    sig_member = b',"sig":"' + sig.encode() + b'"'
    id_member = b'"event_id":"' + eid.encode() + b'",'
    if raw.count(sig_member) != 1 or raw.count(id_member) != 1:
        return None
    message = raw.replace(sig_member, b"", 1)
    return message, message.replace(id_member, b"", 1)


def check_event(event: Mapping[str, Any], keyring: KeyRing, *,
                revoked_but_trusted: bool = False,
                canonical_line: bytes | None = None) -> EventCheck:
    """Check one event's signature and id. ``revoked_but_trusted``: the key is revoked (or
    rotated), but this event is within the trust boundary its revocation names, so still
    valid (store/vault_keys.py says which).
    ``canonical_line``: the event's log line when it is known to be in canonical form
    (a faster path to the same verdict)."""
    eid = str(event.get("event_id"))
    key_id, sig = event.get("actor_key_id"), event.get("sig")
    cut = None
    if canonical_line is not None and isinstance(sig, str):
        cut = _cut_messages(canonical_line, sig, eid)
    if cut is not None and "evt_" + hashlib.sha256(cut[1]).hexdigest()[:24] == eid:
        form = IdForm.RULE_A
    else:
        try:
            form = classify_event_id(event)
        except (TypeError, ValueError):  # content that has no canonical form
            form = IdForm.MISMATCH
    id_status = {IdForm.RULE_A: IdStatus.OK, IdForm.LEGACY_B: IdStatus.LEGACY}.get(
        form, IdStatus.MISMATCH)
    if not isinstance(key_id, str) or not isinstance(sig, str):
        return EventCheck(eid, SigStatus.UNSIGNED, id_status, None, None,
                          "the event carries no signature or no key id")
    entry = keyring.get(key_id)
    if entry is None:
        return EventCheck(eid, SigStatus.UNKNOWN_KEY, id_status, key_id, None,
                          f"signed by {key_id}, which identity/keys.json does not list")
    if entry.entry_error is not None:
        return EventCheck(eid, SigStatus.BAD_KEY_ENTRY, id_status, key_id, None,
                          entry.entry_error)
    fingerprint = entry.public.fingerprint
    try:
        raw_sig = binascii.a2b_base64(sig, strict_mode=True)
        message = cut[0] if cut is not None else signing_bytes(event)
    except (binascii.Error, ValueError, TypeError):
        raw_sig, message = b"", b""
    if not verify_raw(entry.public.raw, message, raw_sig):
        return EventCheck(eid, SigStatus.BAD_SIGNATURE, id_status, key_id, fingerprint,
                          f"the signature does not match the content under key {key_id}: "
                          "the event was altered, or another key signed it")
    if entry.status in ("revoked", "rotated") and not revoked_but_trusted:
        return EventCheck(eid, SigStatus.REVOKED, id_status, key_id, fingerprint,
                          f"validly signed, but by {key_id}, which is {entry.status}, after "
                          "its trust boundary: it counts for nothing")
    detail = "signature valid"
    if id_status is IdStatus.MISMATCH:
        detail = "signature valid, but the event id is not the hash of the content"
    elif id_status is IdStatus.LEGACY:
        detail = "signature valid; event id in the legacy form the reference's append writes"
    return EventCheck(eid, SigStatus.VALID, id_status, key_id, fingerprint, detail)

"""The declaration that names an identity's recovery key in a vault (core/key_life.py:
``com.provara.desktop.key_authority``), written once per vault by the identity's own key,
as the event just before the first one it records there (or right after GENESIS in a vault
it creates). The recovery key's public half comes from the profile's identity file; the
private half is never needed for this."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.key_life import KEY_AUTHORITY, KEY_PROMOTION
from provara_desktop.core.keys import PUBLIC_KEY_BYTES, b64decode_strict, key_id_for

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

IDENTITY_FILE = "identity.json"


def recovery_public_for(home: Path, key_id: str) -> str | None:
    """The recovery public key (base64) the profile's identity names for ``key_id``, or None
    (no identity, another key, no recovery key). Reads only the public facts."""
    try:
        doc = json.loads((home / IDENTITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key_id") != key_id:
        return None
    if doc.get("person_actor") is not None:
        return None  # a device: its certificate, not a declaration, ties it to its person
    public = doc.get("recovery_public_key_b64")
    return public if isinstance(public, str) else None


def declaration_payload(key: SigningKey, recovery_public_b64: str) -> dict[str, Any]:
    recovery_id = key_id_for(b64decode_strict(recovery_public_b64,
                                              expected_len=PUBLIC_KEY_BYTES))
    return {"key_id": key.key_id, "public_key_b64": key.public.b64,
            "recovery_key_id": recovery_id, "recovery_public_key_b64": recovery_public_b64,
            "declared_at_utc": utc_now_iso()}


def declared_in(vault: Vault, key_id: str) -> bool:
    """Whether the vault already records the recovery key of ``key_id``'s identity: a
    declaration signed by it, or a promotion that made it the successor of a key (whose
    identity declared one)."""
    index = vault.index
    if any(r.actor_key_id == key_id for r in index.query(type=KEY_AUTHORITY)):
        return True
    for r in index.query(type=KEY_PROMOTION):
        payload = vault.read_row(r).get("payload")
        if isinstance(payload, dict) and payload.get("new_key_id") == key_id:
            return True
    return False


__all__ = ["KEY_AUTHORITY", "declaration_payload", "declared_in", "recovery_public_for"]

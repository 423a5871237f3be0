"""The public keys a vault knows (identity/keys.json), as a lookup for verification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.keys import PublicKey

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    public: PublicKey
    status: str  # "active" or "revoked"
    roles: tuple[str, ...]
    revocation_event_id: str | None
    entry_error: str | None = None  # the entry is unusable: says why


@dataclass(frozen=True)
class KeyRing:
    entries: Mapping[str, KeyEntry]

    @classmethod
    def from_keys_json(cls, doc: Mapping[str, Any]) -> KeyRing:
        """Build from the keys.json document. Malformed entries are kept with an error so a
        signature made with them is reported precisely instead of as "unknown key"."""
        entries: dict[str, KeyEntry] = {}
        keys = doc.get("keys")
        for raw in keys if isinstance(keys, list) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("key_id"), str):
                continue
            kid = raw["key_id"]
            error = None
            try:
                public = PublicKey.from_b64(str(raw.get("public_key_b64", "")))
            except ValueError as exc:
                public = PublicKey(b"")
                error = f"public_key_b64 of {kid} is unusable ({exc})"
            else:
                if public.key_id != kid:
                    error = f"key id {kid} does not match its public key ({public.key_id})"
            if raw.get("algorithm", "Ed25519") != "Ed25519":
                error = f"key {kid} uses unsupported algorithm {raw.get('algorithm')!r}"
            roles = raw.get("roles")
            entries.setdefault(
                kid,
                KeyEntry(
                    key_id=kid,
                    public=public,
                    status=str(raw.get("status", "active")),
                    roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
                    revocation_event_id=raw.get("revocation_event_id")
                    if isinstance(raw.get("revocation_event_id"), str)
                    else None,
                    entry_error=error,
                ),
            )
        return cls(entries)

    def get(self, key_id: str) -> KeyEntry | None:
        return self.entries.get(key_id)

"""Whom the user trusts, as an intake consults it: key id -> why.

Built from the user's own key and the profile's trust store (store/trust.py), never from a
vault: a key the receiving vault lists in identity/keys.json is known (its signatures can be
verified), not trusted."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Trust:
    # key_id -> what the trust store says of it (the name and where the trust came from)
    store: dict[str, str] = field(default_factory=dict)
    own_key_id: str | None = None
    # key_id -> fingerprint of the keys above, for messages that name a key the batch and
    # the vault do not carry (a label's rightful owner, say)
    fingerprints: dict[str, str] = field(default_factory=dict)

    def why(self, key_id: str) -> str | None:
        if key_id == self.own_key_id:
            return "your identity"
        if key_id in self.store:
            label = self.store[key_id]
            return f"your trust store ({label})" if label else "your trust store"
        return None

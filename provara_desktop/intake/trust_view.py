"""Whom the user trusts, as an intake consults it: key id -> why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Trust:
    """Where trust comes from: the trust store, the user's own key, the vault's keys.json."""

    store: dict[str, str] = field(default_factory=dict)  # key_id -> name
    own_key_id: str | None = None
    vault_key_ids: set[str] = field(default_factory=set)

    def why(self, key_id: str) -> str | None:
        if key_id == self.own_key_id:
            return "your identity"
        if key_id in self.store:
            name = self.store[key_id]
            return f"your trust store ({name})" if name else "your trust store"
        if key_id in self.vault_key_ids:
            return "the receiving vault (accepted before)"
        return None

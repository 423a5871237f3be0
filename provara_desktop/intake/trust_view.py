"""Whom the user trusts, as an intake consults it: key id -> why.

Built from the user's own key and the profile's trust store (store/trust.py), never from a
vault: a key the receiving vault lists in identity/keys.json is known (its signatures can be
verified), not trusted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provara_desktop.core.errors import IdentityError
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from pathlib import Path


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


def trust_for(home: Path) -> Trust:
    """What this user trusts: their own key and their trust store (store/trust.py, the
    entries in force). Not the keys a vault lists: those are a registry for verifying
    signatures, not a decision."""
    store = TrustStore(home).trusted()
    own = None
    fingerprints = {k: t.fingerprint for k, t in store.items()}
    ids = IdentityStore(home)
    if ids.exists():
        try:
            me = ids.load()
            own = me.key_id
            fingerprints[own] = me.fingerprint
        except IdentityError:
            own = None
    return Trust({k: ", ".join(x for x in (t.name, t.describe()) if x)
                  for k, t in store.items()}, own, fingerprints)

"""The links of this replica's topology (Vault › Topology…, docs/TOPOLOGIES.md): every key
the profile trusts directly, with the role the user gave it, the direction that implies, the
last contact (the sync history), how far its copy lags (the mesh memory), and the hub
alerts it has earned. Reads the profile; writes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.topology_roles import ROLES
from provara_desktop.net import mesh_memory, sync_history
from provara_desktop.store.hub_receipts import HubReceipts
from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.store.vault import Vault


def links(vault: Vault, home: Path) -> list[dict[str, Any]]:
    ours = {a: n for a, (n, _) in vault.index.actor_chains().items()}
    copies = mesh_memory.load(home, vault.uid)
    history = sync_history.load(home)
    hubs = set(HubReceipts.known_hubs(home))
    out = []
    for k in sorted(TrustStore(home).trusted().values(), key=lambda k: (k.name, k.key_id)):
        if not k.direct:
            continue  # trusted through someone's vouching: an author, not a link
        roles = list(k.roles) or ["peer"]
        tried = history.get(k.key_id, [])
        copy = copies.get(k.key_id)
        lag = None if copy is None else sum(max(0, n - copy.holds.get(a, 0))
                                            for a, n in ours.items())
        alerts = 0
        if k.key_id in hubs:
            with HubReceipts(home, k.key_id) as kept:
                alerts = len(kept.alerts())
        out.append({
            "key_id": k.key_id, "name": k.name, "fingerprint": k.fingerprint,
            "roles": roles, "meaning": [ROLES[r].meaning for r in roles if r in ROLES],
            "direction": str(k.policy.get("direction", "both")),
            "last_contact_utc": tried[0].at_utc if tried else None,
            "last_contact_ok": tried[0].ok if tried else None,
            "lag": lag, "trust": k.describe(), "hub_alerts": alerts})
    return out

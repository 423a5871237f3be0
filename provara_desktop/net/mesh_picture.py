"""The picture of a mesh partition (`mesh VAULT`, docs/TOPOLOGIES.md "Mesh"): for every peer
this profile synced the vault with, when, what its copy is known to lack and what it is
known to hold that this one lacks, and which contested beliefs exist on its copy only
because the two have not converged (they disappear once it gets the events this replica
already holds). Reads the vault and the profile; writes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.reducer import Reducer
from provara_desktop.net import mesh_memory, sync_history
from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from provara_desktop.store.vault import Vault


def _lacking_ids(vault: Vault, lacks: Mapping[str, int]) -> set[str]:
    """The ids of the events the peer lacks: each author's newest ``n`` (an author's
    chain is in log order)."""
    out: set[str] = set()
    for actor, n in lacks.items():
        out.update(r.event_id for r in vault.index.query(actor=actor, descending=True,
                                                         limit=n))
    return out


def picture(vault: Vault, home: Path) -> dict[str, Any]:
    ours = {a: n for a, (n, _) in vault.index.actor_chains().items()}
    copies = mesh_memory.load(home, vault.uid)
    history = sync_history.load(home)
    trusted = TrustStore(home).trusted()
    contested_here: set[str] | None = None
    peers = []
    for kid, copy in sorted(copies.items()):
        lacks = {a: n - copy.holds.get(a, 0) for a, n in ours.items()
                 if n > copy.holds.get(a, 0)}
        we_lack = {a: n - ours.get(a, 0) for a, n in copy.had.items() if n > ours.get(a, 0)}
        only_there: list[str] = []
        if lacks:
            if contested_here is None:
                contested_here = set(vault.reduce().export_state()["contested"])
            skip = _lacking_ids(vault, lacks)
            partial = Reducer().apply_all(e for e in vault.events()
                                          if e.get("event_id") not in skip)
            only_there = sorted(set(partial.export_state()["contested"]) - contested_here)
        tried = history.get(kid, [])
        last = tried[0] if tried else None
        who = trusted.get(kid)
        peers.append({
            "key_id": kid, "name": who.name if who is not None else None,
            "trusted": who is not None, "address": copy.address,
            "synced_utc": copy.synced_utc,
            "last_attempt_utc": last.at_utc if last else None,
            "last_attempt_ok": last.ok if last else None,
            "lacks": lacks, "lacks_total": sum(lacks.values()),
            "we_lack": we_lack, "we_lack_total": sum(we_lack.values()),
            "converged": not lacks and not we_lack,
            "contested_only_there": only_there})
    return {"vault_uid": vault.uid, "event_count": sum(ours.values()), "authors": ours,
            "peers": peers, "partitioned": any(not p["converged"] for p in peers)}

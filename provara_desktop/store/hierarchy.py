"""The tree of vaults a vault's roll-up attestations draw (`hierarchy VAULT`), with the key
life of the vault that holds them: which roll-ups a revoked key signed after its boundary
(void: they count for nothing here), and what each key reaches (core/rollup.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core import rollup
from provara_desktop.core.errors import InputError
from provara_desktop.store import vault_keys

if TYPE_CHECKING:
    from provara_desktop.store.vault import Vault


def rollups(vault: Vault) -> tuple[list[tuple[rollup.Attested, bool]], list[dict[str, str]]]:
    """Every roll-up the vault holds, in vault order, with whether it is void; and the
    malformed ones (an ATTESTATION that says it is a roll-up and is not), each named."""
    life = vault_keys.key_life(vault)
    out: list[tuple[rollup.Attested, bool]] = []
    bad: list[dict[str, str]] = []
    for row in vault.index.query(type="ATTESTATION", predicate=rollup.PREDICATE):
        ev = vault.read_row(row)
        if not rollup.is_rollup(ev):
            continue
        try:
            att = rollup.read_rollup(ev)
        except InputError as exc:
            bad.append({"event_id": row.event_id, "message": exc.detail})
            continue
        out.append((att, life.void(row.event_id, row.actor_key_id)))
    return out, bad


def latest_of(vault: Vault, child_uid: str) -> rollup.Attested | None:
    """This vault's own last counting roll-up of ``child_uid`` (the one a check compares
    against): made here (parent_vault_uid this vault), not void."""
    found = None
    for att, void in rollups(vault)[0]:
        if att.vault_uid == child_uid and not void and att.parent_vault_uid in (
                None, vault.uid):
            found = att
    return found


def alerts(vault: Vault) -> list[dict[str, Any]]:
    out = []
    for row in vault.index.query(type=rollup.ALERT_EVENT):
        payload = vault.read_row(row).get("payload")
        if isinstance(payload, dict):
            out.append({"event_id": row.event_id, "recorded_by": row.actor,
                        "recorded_utc": row.timestamp_utc,
                        **{k: payload.get(k) for k in ("code", "message", "vault_uid",
                                                       "attestation_event_id")}})
    return out


def hierarchy(vault: Vault) -> dict[str, Any]:
    found, bad = rollups(vault)
    edges = rollup.edges_of(found, vault.uid)
    life = vault_keys.key_life(vault)

    def status(kid: str) -> str:
        s = life.keys.get(kid)
        return s.status if s is not None else "not in this vault"

    reach = rollup.key_reach(edges, found, status)
    for k in reach:
        r = life.revocation(k["key_id"])
        k["revocation"] = None if r is None else {"event_id": r[0], "trust_boundary_event_id":
                                                  r[1]}
    return {"vault_uid": vault.uid, "tree": rollup.tree(vault.uid, edges), "keys": reach,
            "malformed": bad, "alerts": alerts(vault)}

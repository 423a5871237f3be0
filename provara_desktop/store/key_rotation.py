"""Rotating and revoking keys in a vault, signed by the identity's recovery key (the rules:
core/key_life.py; the reasons and the reference's view: docs/KEYS.md).

A rotation is KEY_REVOCATION of the current key, naming the last event of it the user still
vouches for (``trust_boundary_event_id``), then KEY_PROMOTION of a new key, both signed by
the recovery key under its own label and chained to each other. Both are checked against the
vault's key life *before* anything is written: a rotation that would not count (wrong
recovery key, a boundary that is not the old key's event, a key already revoked) is refused
with the reason and the vault stays byte-for-byte as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import UsageError
from provara_desktop.core.event import build_event, utc_now_iso
from provara_desktop.core.key_life import (
    COMPROMISE,
    DEVICE_LOST,
    KEY_PROMOTION,
    KEY_REVOCATION,
    REASONS,
    ROUTINE,
)
from provara_desktop.core.keys import SigningKey
from provara_desktop.store import vault_keys
from provara_desktop.store.identity import actor_label_for
from provara_desktop.store.recovery_file import read_recovery_file
from provara_desktop.store.vault import OpResult

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.core.event import Event
    from provara_desktop.store.identity import Identity, IdentityStore
    from provara_desktop.store.vault import Vault

__all__ = ["COMPROMISE", "DEVICE_LOST", "REASONS", "ROUTINE", "Revoked", "Rotated",
           "current_key_of", "restore_identity", "revoke", "rotate"]


@dataclass
class Revoked:
    key_id: str
    reason: str
    boundary: str | None
    revocation_event_id: str
    op: OpResult

    def to_json(self) -> dict[str, Any]:
        return {"revoked_key_id": self.key_id, "reason": self.reason,
                "trust_boundary_event_id": self.boundary,
                "revocation_event_id": self.revocation_event_id}


@dataclass
class Rotated(Revoked):
    new_key: SigningKey
    promotion_event_id: str

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "old_key_id": self.key_id,
                "key_id": self.new_key.key_id,
                "fingerprint": self.new_key.public.fingerprint,
                "promotion_event_id": self.promotion_event_id}


def recovery_for(vault: Vault, path: Path, key_id: str) -> tuple[SigningKey, str]:
    """The recovery key in the recovery file at ``path``, checked to be the one the vault
    records for ``key_id``'s identity, and the label it signs under (its person's name and
    its own key's digits, as `identity create` made it)."""
    status = vault_keys.key_life(vault).keys.get(key_id)
    expected = status.recovery_key_id if status is not None else None
    key, facts = read_recovery_file(path, recovery_key_id=expected, for_key_id=key_id)
    return key, actor_label_for(f"{facts.get('name') or 'investigator'} recovery", key.key_id)


def _default_boundary(vault: Vault, key_id: str) -> str | None:
    """The key's last event in the vault (a routine rotation vouches for all of them)."""
    status = vault_keys.key_life(vault).keys.get(key_id)
    actor = status.actor if status is not None else None
    if actor is None:
        return None
    after = -1
    while rows := vault.index.query(actor=actor, descending=True, after_pos=after,
                                    limit=1_000):
        for r in rows:
            if r.actor_key_id == key_id:
                return r.event_id
        after = rows[-1].pos
        if after == 0:
            break
    return None


def _revocation(vault: Vault, recovery: SigningKey, recovery_actor: str, key_id: str,
                reason: str, boundary: str | None) -> Event:
    if reason not in REASONS:
        raise UsageError(f"unknown reason {reason!r} (one of: {', '.join(REASONS)})")
    payload: dict[str, Any] = {"revoked_key_id": key_id, "reason": reason,
                               "trust_boundary_event_id": boundary,
                               "revoked_at_utc": utc_now_iso(),
                               "revoked_by": recovery.key_id}
    return vault.new_event(key=recovery, actor=recovery_actor, event_type=KEY_REVOCATION,
                           payload=payload, namespace="canonical")


def _refuse_unless_counts(vault: Vault, events: list[Event], what: str) -> None:
    life = vault_keys.key_life(vault, events)
    ids = {e["event_id"] for e in events}
    problems = [p for p in life.problems if p.event_id in ids and p.error]
    if problems:
        reasons = "; ".join(p.message.split(": ", 1)[-1] for p in problems)
        raise UsageError(f"{what} refused, nothing was written: {reasons}")


def _boundary(vault: Vault, key_id: str, boundary: str | None) -> str | None:
    if boundary is None:
        return _default_boundary(vault, key_id)
    row = vault.index.get(boundary)
    if row is None:
        raise UsageError(f"--boundary {boundary}: no such event in this vault")
    if row.actor_key_id != key_id:
        raise UsageError(f"--boundary {boundary}: that event is signed by {row.actor_key_id}, "
                         f"not by {key_id}; the boundary is the last event of the old key "
                         "you still vouch for")
    return boundary


def rotate(vault: Vault, *, recovery: SigningKey, recovery_actor: str, key_id: str,
           reason: str = ROUTINE, boundary: str | None = None,
           new_key: SigningKey | None = None) -> Rotated:
    """Revoke ``key_id`` and promote a new key in its place (``new_key``, or a fresh one)."""
    with vault.writing(OpResult()):
        bound = _boundary(vault, key_id, boundary)
        fresh = new_key or SigningKey.generate()
        if fresh.key_id in (recovery.key_id, key_id):
            raise UsageError("the new key must differ from the old and the recovery key")
        rev = _revocation(vault, recovery, recovery_actor, key_id, reason, bound)
        promo = build_event(
            event_type=KEY_PROMOTION, actor=recovery_actor, prev_event_hash=rev["event_id"],
            key=recovery, namespace="canonical",
            ts_logical=int(rev.get("ts_logical", 1)) + 1,
            payload={"new_key_id": fresh.key_id, "new_public_key_b64": fresh.public.b64,
                     "algorithm": "Ed25519", "roles": ["attestation"],
                     "promoted_by": recovery.key_id, "replaces_key_id": key_id,
                     "promoted_at_utc": utc_now_iso()})
        _refuse_unless_counts(vault, [rev, promo], "the rotation")
        op = vault.append([rev, promo], signer=recovery)
    return Rotated(key_id, reason, bound, rev["event_id"], op, fresh, promo["event_id"])


def revoke(vault: Vault, *, recovery: SigningKey, recovery_actor: str, key_id: str,
           reason: str = COMPROMISE, boundary: str | None = None) -> Revoked:
    """Revoke ``key_id`` (a lost device, a leaked key) with no successor."""
    with vault.writing(OpResult()):
        bound = _boundary(vault, key_id, boundary)
        rev = _revocation(vault, recovery, recovery_actor, key_id, reason, bound)
        _refuse_unless_counts(vault, [rev], "the revocation")
        op = vault.append([rev], signer=recovery)
    return Revoked(key_id, reason, bound, rev["event_id"], op)


def current_key_of(vault: Vault, recovery: SigningKey, facts: dict[str, Any]) -> str:
    """The identity's current key in ``vault``: the end of the promotions from the key the
    recovery file names, when the vault records ``recovery`` as its recovery key."""
    life = vault_keys.key_life(vault)
    old_key = facts.get("key_id")
    current = old_key if isinstance(old_key, str) else ""
    seen: set[str] = set()
    while current in life.successors and current not in seen:  # a cycle cannot loop us
        seen.add(current)
        current = life.successors[current]
    status = life.keys.get(current)
    if status is None or status.recovery_key_id != recovery.key_id:
        raise UsageError(f"{vault.root} does not record {recovery.key_id} as the recovery "
                         f"key of {facts.get('actor')}: wrong recovery file, or the vault "
                         "lacks the identity's events")
    return current


def restore_identity(vault: Vault, store: IdentityStore, path: Path, passphrase: str, *,
                     reason: str = COMPROMISE, boundary: str | None = None
                     ) -> tuple[Rotated, Identity]:
    """A new machine (an empty profile): a fresh key takes the place of the identity's lost
    one, signed by the recovery key in ``path`` into ``vault``; the profile then holds the
    identity with the new key, sealed under ``passphrase``, under the same label."""
    if store.exists():
        raise UsageError(f"this profile ({store.home}) already holds an identity; restore "
                         "into a new one")
    recovery, facts = read_recovery_file(path)
    current = current_key_of(vault, recovery, facts)
    _, label = recovery_for(vault, path, current)
    done = rotate(vault, recovery=recovery, recovery_actor=label, key_id=current,
                  reason=reason, boundary=boundary)
    ident = store.restore(str(facts.get("name") or "investigator"), str(facts.get("actor")),
                          done.new_key, passphrase, recovery.public.b64)
    return done, ident

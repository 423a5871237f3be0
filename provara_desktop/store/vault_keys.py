"""A vault's key life (core/key_life.py) read through its index, optionally with events about
to be written (an intake's batch, a rotation being made): which keys are active, rotated or
revoked, and whether an event counts. Also how keys.json is brought in line with it, so the
reference, which reads only keys.json, sees the same revocations.

Key events are few, so they are read whole; chain ancestry is walked through the index, one
row per step, only from the trust boundaries of revocations (rare) and cached per walk."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from provara_desktop.core.key_life import (
    DEVICE_CERT,
    KEY_AUTHORITY,
    KEY_LIFE_TYPES,
    KEY_PROMOTION,
    REVOKED,
    ROTATED,
    KeyLife,
    KeyRecord,
    derive,
    is_key_event,
    records_from_events,
)
from provara_desktop.core.keys import PublicKey
from provara_desktop.store import layout

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from provara_desktop.store.vault import Vault


class _IndexAncestry:
    """Chains through the index, with pending events (not written yet) looked up first."""

    def __init__(self, vault: Vault, pending: Mapping[str, Mapping[str, Any]]) -> None:
        self.index = vault.index
        self.pending = pending
        # A walk that reached its chain's first event is final (events never change), so
        # it is kept with the vault: a sync asks again for every batch, and one walk is as
        # long as the identity's chain (a row per step).
        self._cache = _complete_lineages.setdefault(vault.root, {})

    def _link(self, event_id: str) -> tuple[Any, str | None] | None:
        ev = self.pending.get(event_id)
        if ev is not None:
            kid = ev.get("actor_key_id")
            return ev.get("prev_event_hash"), kid if isinstance(kid, str) else None
        row = self.index.get(event_id)
        return None if row is None else (row.prev_event_hash, row.actor_key_id)

    def signer(self, event_id: str) -> str | None:
        link = self._link(event_id)
        return None if link is None else link[1]

    def lineage(self, event_id: str) -> frozenset[str]:
        got = self._cache.get(event_id)
        if got is not None:
            return got
        out: set[str] = set()
        cur: Any = event_id
        complete = False
        while isinstance(cur, str) and cur not in out:
            link = self._link(cur)
            if link is None:
                break
            out.add(cur)
            cur = link[0]
            complete = cur is None
        got = frozenset(out)
        if complete and not any(e in self.pending for e in got):
            self._cache[event_id] = got
        return got


# vault root -> event id -> its complete lineage (see _IndexAncestry); a few per vault.
_complete_lineages: dict[Path, dict[str, frozenset[str]]] = {}


def key_life(vault: Vault, pending: Sequence[Mapping[str, Any]] = ()) -> KeyLife:
    """The key life of the vault's events plus ``pending`` (not in the vault yet), in the
    total order the log would hold them in (key events sort by (timestamp, id) among
    themselves, which is their log order: each chain's own events sort after their
    predecessors whenever clocks are sane)."""
    index = vault.index
    # One intake check asks twice (the labels, then the events) with the same vault and
    # batch: the second time is the first's answer.
    memo_key = (index.coverage(),
                tuple((k.get("key_id"), k.get("status"), tuple(k.get("roles") or ()))
                      for k in vault.keys_doc.get("keys", []) if isinstance(k, dict)),
                frozenset(str(e.get("event_id")) for e in pending))
    memo = _last_life.get(vault.root)
    if memo is not None and memo[0] == memo_key:
        return memo[1]
    # One computation at a time per vault: a view asking while the open's warm-up (or
    # another view) computes it waits for that answer instead of walking the chain again.
    with _guards_lock:
        guard = _guards.setdefault(vault.root, threading.RLock())
    with guard:
        memo = _last_life.get(vault.root)
        if memo is not None and memo[0] == memo_key:
            return memo[1]
        life = _key_life(vault, pending)
        _last_life[vault.root] = (memo_key, life)
    return life


# vault root -> (what the key life was computed from, the key life): one per vault.
_last_life: dict[Path, tuple[Any, KeyLife]] = {}
_guards: dict[Path, threading.RLock] = {}
_guards_lock = threading.Lock()


def _key_life(vault: Vault, pending: Sequence[Mapping[str, Any]]) -> KeyLife:
    index = vault.index
    held: list[dict[str, Any]] = []
    for etype in sorted(KEY_LIFE_TYPES):
        held.extend(vault.read_row(r) for r in index.query(type=etype))
    by_id = {str(e.get("event_id")): e for e in pending if isinstance(e.get("event_id"), str)}
    events: dict[str, Mapping[str, Any]] = {str(e.get("event_id")): e for e in held}
    events.update((eid, e) for eid, e in by_id.items() if is_key_event(e))
    ordered = sorted(events.values(), key=lambda e: (str(e.get("timestamp_utc", "")),
                                                     str(e.get("event_id"))))
    records: list[KeyRecord] = records_from_events(ordered)
    first: dict[str, str] = {}
    for actor in index.actor_names():
        rows = index.query(actor=actor, limit=1)
        if rows and rows[0].actor_key_id is not None:
            first[actor] = rows[0].actor_key_id
    for e in pending:  # actors the vault has not seen yet
        a, k = e.get("actor"), e.get("actor_key_id")
        if isinstance(a, str) and isinstance(k, str):
            first.setdefault(a, k)
    root = vault.genesis.get("root_key_id")
    return derive(records, _IndexAncestry(vault, by_id), vault.keyring(),
                  root_key_id=root if isinstance(root, str) else None, first_signer=first)


def keys_doc_for(keys_doc: Mapping[str, Any], life: KeyLife, *, now: str,
                 new_keys: Mapping[str, tuple[str, list[str]]] | None = None
                 ) -> dict[str, Any]:
    """keys.json with every key the key life revoked marked so, and ``new_keys`` (key id ->
    (public key, roles)) added when missing.

    A key rotated routinely is written with status "rotated", not "revoked": the reference
    refuses a "revoked" key for every event it ever signed (PROTOCOL.md B section 7), which
    would fail `provara verify` on history that is valid, while "rotated" keeps the
    history verifiable there. A key revoked for compromise (or a lost device) stays
    "revoked": the reference then rejects the key's history as well, which is stricter than
    our rule but never accepts what we refuse (docs/KEYS.md)."""
    doc = {**keys_doc}
    entries = [dict(e) if isinstance(e, dict) else e for e in doc.get("keys", [])]
    listed = {e.get("key_id") for e in entries if isinstance(e, dict)}
    for kid, (public, roles) in (new_keys or {}).items():
        if kid not in listed:
            entries.append(layout.key_entry(kid, public, now, roles=roles))
            listed.add(kid)
    revocations = list(doc.get("revocations", [])) if isinstance(doc.get("revocations"),
                                                                  list) else []
    recorded = {r.get("key_id") for r in revocations if isinstance(r, dict)}
    for e in entries:
        if not isinstance(e, dict):
            continue
        found = e.get("key_id")
        status = life.keys.get(found) if isinstance(found, str) else None
        if status is None:
            continue
        promoted_by = life.promotion_events.get(status.replaces or "")
        if promoted_by is not None and "promotion_event_id" not in e:
            e["promotion_event_id"] = promoted_by
        if status.status not in (REVOKED, ROTATED) or status.revocation_event_id is None:
            continue
        # "rotated" once a promotion completed a routine rotation; a revocation alone,
        # whatever its reason, leaves the key "revoked".
        want = ROTATED if status.status == ROTATED else REVOKED
        if e.get("status") == REVOKED:
            continue  # never loosen what keys.json already says
        if e.get("status") != want:
            e["status"] = want
            e["revoked_at_utc"] = now
            e["revocation_event_id"] = status.revocation_event_id
            if status.trust_boundary_event_id:
                e["trust_boundary_event_id"] = status.trust_boundary_event_id
        if found not in recorded:
            revocations.append({"key_id": found,
                                "revocation_event_id": status.revocation_event_id,
                                "revoked_at_utc": e.get("revoked_at_utc", now)})
            recorded.add(found)
    doc["keys"] = entries
    doc["revocations"] = revocations
    return doc



def keys_brought(events: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    """key id -> (public key, roles) of the keys that key events name and keys.json must
    list for the reference to verify what they sign: a declared recovery key, a promoted
    key, a certified device."""
    out: dict[str, tuple[str, list[str]]] = {}
    fields = {KEY_AUTHORITY: ("recovery_key_id", "recovery_public_key_b64", "recovery"),
              KEY_PROMOTION: ("new_key_id", "new_public_key_b64", "attestation"),
              DEVICE_CERT: ("device_key_id", "device_public_key_b64", "device")}
    for e in events:
        spec = fields.get(str(e.get("type")))
        p = e.get("payload")
        if spec is None or not isinstance(p, dict):
            continue
        kid, public = p.get(spec[0]), p.get(spec[1])
        if isinstance(kid, str) and isinstance(public, str):
            try:
                real = PublicKey.from_b64(public).key_id
            except ValueError:
                continue
            if real == kid:
                roles = ["attestation", "device"] if spec[2] == "device" else [spec[2]]
                out.setdefault(kid, (public, roles))
    return out


def without_recovery(life: KeyLife) -> list[str]:
    """The labels of identities in the vault whose keys no recovery key may rotate (none is
    declared: made before recovery keys, or by the reference): each can add one."""
    return sorted({s.actor for s in life.keys.values()
                   if s.role == "identity" and s.recovery_key_id is None
                   and s.status == "active" and s.actor is not None
                   and s.replaces is None})


def revoked_peer(vault: Vault, key_id: str) -> str | None:
    """Why a sync peer presenting ``key_id`` is refused in this vault (its key revoked or
    rotated: a thief holding an old key must not read the vault as its owner), or None.
    From keys.json, in memory, which every write keeps in line with the key life."""
    for e in vault.keys_doc.get("keys", []):
        if isinstance(e, dict) and e.get("key_id") == key_id and \
                e.get("status") in (REVOKED, ROTATED):
            by = e.get("revocation_event_id")
            return (f"its key {key_id} is {e['status']} in this vault"
                    + (f" ({by})" if isinstance(by, str) else "")
                    + ": its owner now uses another key; trust that one (check its "
                    "fingerprint) and pair again")
    return None


def derives_trust(vault: Vault) -> bool:
    """Whether keys.json (in memory) lists a key that may be trusted through another: a
    promoted key, a device or a recovery key. Only then can a key the user never trusted be
    trusted through one they did, so only then is the key life read for it."""
    return any(isinstance(k, dict) and ("promotion_event_id" in k or {"device", "recovery"}
                                        & set(k.get("roles") or []))
               for k in vault.keys_doc.get("keys", []))


def trusted_through(vault: Vault, key_id: str, why: Callable[[str], str | None]) -> str | None:
    """Why ``key_id`` is trusted through a trusted key in this vault (a device, a recovery or
    a rotated-in key of it: KeyLife.vouched_through), or None."""
    return key_life(vault).vouched_through(key_id, why) if derives_trust(vault) else None

"""Actor labels belong to keys: who may sign foreign events under a label.

A label is not first come, first served. Two rules, checked before anything is imported:

1. **Our labels carry their key** (the rule itself is core/actor_labels.py, which
   verification applies too). ``actor_label_for`` (store/identity.py) makes labels of
   the form ``<name>-<8 hex>``, the 8 hex digits being the key id's (``bp1_<16 hex>``) first
   ones. An event signed under such a label by a key whose id does not start with them is a
   squatting attempt (``LABEL_SQUATTED``), refused with or without ``--accept-untrusted``:
   otherwise an untrusted key could sign as ``alice-44126727`` and, once imported, lock the
   real Alice out of every vault that took it.
2. **A binding in the vault holds.** A label the vault already holds events for is bound to
   the first key that signed them and may hold it (:func:`label_holder`): a label without
   our suffix, as the reference writes them, by its first signer in the vault; a label of
   our form by the first signer whose id matches it, so a squatter whose events reached the
   vault before labels were checked holds nothing (verify flags its events). Another key
   may not sign under it (``ACTOR_KEY_CONFLICT``), and a label bound to a key the user
   trusts (their own, in the trust store, or vouched for) can never be taken over: the 8
   hex digits alone can be matched by a ground key (2^32 tries), a trusted binding cannot.

Both messages name both keys (key ids and fingerprints where known).

Rotation: a label is bound to a key *or its promoted successors* (:func:`promoted_successors`),
so a key promoted by a rotation inherits its predecessor's label. Only promotions that count
pass a label on (:func:`counting_promotions`, core/key_life.py: signed by the identity's
recovery key after it revoked the old key; never the new key, else a squatter would promote
itself into any label).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.actor_labels import (
    key_prefix,
    label_key_prefix,
    promoted_successors,
    squats,
)
from provara_desktop.core.key_life import (
    KEY_PROMOTION,
    MemoryAncestry,
    derive,
    records_from_events,
)
from provara_desktop.core.verify import Problem
from provara_desktop.store import vault_keys

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from provara_desktop.core.keyring import KeyRing
    from provara_desktop.intake.trust_view import Trust
    from provara_desktop.store.index import EventIndex
    from provara_desktop.store.vault import Vault

__all__ = ["counting_promotions", "key_prefix", "label_holder", "label_key_prefix",
           "label_problems", "promoted_successors"]

EVENTS_PATH = "events.ndjson"
# The actor's events are read this many at a time when looking past a squatter's for the
# label's holder (a vault squatted before labels were checked: rare, never the common path).
_PAGE = 10_000


def counting_promotions(events: Sequence[Mapping[str, Any]], keyring: KeyRing,
                        vault: Vault | None, present: set[str] | frozenset[str] = frozenset()
                        ) -> dict[str, set[str]]:
    """old key id -> {the key a promotion that counts made its successor} (core/key_life.py:
    signed by the identity's recovery authority after it revoked the old key), judged over
    the vault's key events and the batch's. Nothing is read when neither holds a promotion
    (the vault's keys.json, in memory, lists the promoted keys)."""
    batch_has = any(e.get("type") == KEY_PROMOTION for e in events)
    vault_has = vault is not None and vault_keys.derives_trust(vault)
    if not batch_has and not vault_has:
        return {}
    if vault is not None:
        return vault_keys.key_life(
            vault, [e for e in events if e.get("event_id") not in present]).promotions()
    links = {str(e.get("event_id")): (e.get("prev_event_hash"),
                                      e.get("actor_key_id") if isinstance(
                                          e.get("actor_key_id"), str) else None)
             for e in events}
    first: dict[str, str] = {}
    for e in events:
        if isinstance(e.get("actor"), str) and isinstance(e.get("actor_key_id"), str):
            first.setdefault(e["actor"], e["actor_key_id"])
    return derive(records_from_events(events), MemoryAncestry(links), keyring,
                  root_key_id=None, first_signer=first).promotions()


class _Keys:
    """What the check can say about a key: its fingerprint and whether the user trusts it."""

    def __init__(self, keyring: KeyRing, trust: Trust) -> None:
        self.keyring, self.trust = keyring, trust

    def fingerprint(self, key_id: str) -> str | None:
        entry = self.keyring.get(key_id)
        if entry is not None and not entry.entry_error and entry.public is not None:
            return entry.public.fingerprint
        return self.trust.fingerprints.get(key_id)

    def name(self, key_id: str) -> str:
        fp = self.fingerprint(key_id)
        why = self.trust.why(key_id)
        return (f"key {key_id} (fingerprint {fp or 'unknown'}"
                + (f", trusted: {why}" if why else "") + ")")

    def with_prefix(self, prefix: str) -> list[str]:
        known = set(self.keyring.entries) | set(self.trust.store) | set(self.trust.fingerprints)
        if self.trust.own_key_id:
            known.add(self.trust.own_key_id)
        return sorted(k for k in known if key_prefix(k) == prefix)


def label_problems(events: Sequence[Mapping[str, Any]], *, keyring: KeyRing, trust: Trust,
                   vault: Vault | None = None, present: set[str] | frozenset[str] = frozenset(),
                   ) -> list[Problem]:
    """One problem per (label, key) that may not sign under that label; ``present``: ids
    the vault holds already (nothing to check for those)."""
    keys = _Keys(keyring, trust)
    promotions = counting_promotions(events, keyring, vault, present)
    problems: list[Problem] = []
    decided: set[tuple[str, str]] = set()
    bound: dict[str, str | None] = {}  # label -> the key that holds it in the vault
    for ev in events:
        actor, kid, eid = ev.get("actor"), ev.get("actor_key_id"), ev.get("event_id")
        # Any JSON value may sit in these fields of a hostile event (verification reports
        # it); only text can name a label, a key or an event.
        if not (isinstance(actor, str) and isinstance(kid, str) and isinstance(eid, str)):
            continue
        if eid in present:
            continue
        if (actor, kid) in decided:
            continue
        decided.add((actor, kid))
        problem = _squatted(actor, kid, eid, keys, promotions)
        if problem is None and vault is not None:
            if actor not in bound:
                bound[actor] = label_holder(vault.index, actor, promotions)
            owner = bound[actor]
            if owner is not None and kid not in promoted_successors(owner, promotions):
                problem = _conflict(actor, kid, owner, eid, keys)
        if problem is not None:
            problems.append(problem)
    return problems


def label_holder(index: EventIndex, actor: str,
                 promotions: Mapping[str, set[str]]) -> str | None:
    """The key that holds ``actor`` in the vault (None: nobody signs under it there).

    A label without our suffix is held by its first signer. A label of our form is held by
    the first signer whose key it belongs to (core/actor_labels.py): a squatter whose events
    reached the vault before labels were checked holds nothing, so the genuine key's bundles
    still import (verification flags the squatter's events as LABEL_SQUATTED)."""
    rows = index.query(actor=actor, limit=1)
    if not rows:
        return None
    first = rows[0].actor_key_id
    if first is None or not squats(actor, first, promotions):
        return first
    # Squatted: look past the squatter's events, a page at a time, only when some key the
    # vault holds could be the genuine one.
    if not any(not squats(actor, k, promotions) for k, _ in index.key_ids()):
        return None
    after = rows[0].pos
    while rows := index.query(actor=actor, after_pos=after, limit=_PAGE):
        for r in rows:
            if r.actor_key_id is not None and not squats(actor, r.actor_key_id, promotions):
                return r.actor_key_id
        after = rows[-1].pos
    return None


def _squatted(actor: str, kid: str, eid: str, keys: _Keys,
              promotions: Mapping[str, set[str]]) -> Problem | None:
    if not squats(actor, kid, promotions):
        return None
    prefix = label_key_prefix(actor)
    rightful = keys.with_prefix(prefix) if prefix is not None else []
    owner = (" and ".join(keys.name(k) for k in rightful) if rightful else
             f"a key whose id starts with bp1_{prefix} (none you know of)")
    return Problem(
        "LABEL_SQUATTED",
        f"{eid} claims actor {actor!r}, a label that belongs to {owner}, but is signed by "
        f"{keys.name(kid)}, whose id does not match it: a squatting attempt, refused",
        event_id=eid, actor=actor, path=EVENTS_PATH)


def _conflict(actor: str, kid: str, owner: str, eid: str, keys: _Keys) -> Problem:
    # The holder is never a squatter (label_holder looks past those).
    if keys.trust.why(owner):
        held = "which you trust, so no other key may take it"
    else:
        held = "the key that first signed for it here"
    return Problem(
        "ACTOR_KEY_CONFLICT",
        f"{eid} claims actor {actor!r}, which belongs to {keys.name(owner)} in the vault "
        f"({held}), but is signed by {keys.name(kid)}: it conflicts with the vault's chains",
        event_id=eid, actor=actor, path=EVENTS_PATH)

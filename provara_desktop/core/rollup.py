"""Hierarchical roll-up (docs/TOPOLOGIES.md, "Hierarchy"): what a parent vault attests about a
child vault, how a later look at the child is compared with it, and the tree of vaults the
attestations draw. Pure: the events come in, verdicts go out.

A roll-up is an ATTESTATION event in the parent, ``subject "vault:<child uid>"``, predicate
``rollup``, whose value states the child as the parent verified it: its state_hash, event
count, the reference's event Merkle root (core/event_merkle.py), the head of every author's
chain, the keys that signed its events, and the child's own latest roll-ups (so a parent
that took only a summary still sees its grandchildren). The reducer makes it the canonical
belief ``vault:<uid>:rollup``, superseding (archiving) the previous one, as the reference
does with any attestation.

Drift: event ids are hashes over the whole event, ``prev_event_hash`` included, so a child
that still holds an attested chain head holds that chain's whole attested prefix. Growth is
fine (longer chains, new authors); a head that is gone, or fewer events than attested, is a
rewritten history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import InputError
from provara_desktop.core.event_merkle import EventMerkle
from provara_desktop.core.reducer import Reducer

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Iterable, Mapping, Sequence

KIND = "provara-rollup"
VERSION = 1
PREDICATE = "rollup"
SUBJECT_PREFIX = "vault:"
FULL, SUMMARY = "full", "summary"
ALERT_EVENT = "com.provara.desktop.rollup_alert"

# Drift codes (a rewritten child); docs/TOPOLOGIES.md says what each means.
SHRUNK, REWRITTEN, STATE_DIFFERS, OTHER_VAULT = (
    "SHRUNK", "REWRITTEN", "STATE_DIFFERS", "OTHER_VAULT")
SAME, GROWN, DRIFT = "same", "grown", "drift"


@dataclass(frozen=True)
class ChildState:
    """A child vault as verified now."""

    vault_uid: str
    state_hash: str
    event_count: int
    merkle_root: str
    last_event_id: str | None
    heads: dict[str, list[Any]]  # actor -> [chain length, [head event ids]]
    keys: list[dict[str, Any]]  # {key_id, fingerprint, actors, event_count}
    children: list[dict[str, Any]]  # the child's own latest roll-ups, summarised

    def to_json(self) -> dict[str, Any]:
        return {"vault_uid": self.vault_uid, "state_hash": self.state_hash,
                "event_count": self.event_count, "merkle_root": self.merkle_root,
                "last_event_id": self.last_event_id, "heads": self.heads, "keys": self.keys,
                "children": self.children}


def child_state(events: Sequence[Mapping[str, Any]], vault_uid: str,
                keys: Iterable[Mapping[str, Any]]) -> ChildState:
    """The state of a child from its events in its own file order (the order its
    state_hash and the reference's Merkle root are computed in)."""
    reducer, merkle = Reducer(), EventMerkle()
    length: dict[str, int] = {}
    built_on: set[tuple[str, str]] = set()
    for ev in events:
        reducer.apply(ev)
        merkle.add(ev)
        actor, prev = str(ev.get("actor")), ev.get("prev_event_hash")
        length[actor] = length.get(actor, 0) + 1
        if isinstance(prev, str):
            built_on.add((actor, prev))
    heads: dict[str, list[str]] = {}
    for ev in events:
        eid, actor = str(ev.get("event_id")), str(ev.get("actor"))
        if (actor, eid) not in built_on:
            heads.setdefault(actor, []).append(eid)
    state = reducer.export_state()
    return ChildState(
        vault_uid=vault_uid, state_hash=state["metadata"]["state_hash"],
        event_count=len(events), merkle_root=merkle.root(),
        last_event_id=state["metadata"]["last_event_id"],
        heads={a: [length[a], sorted(heads[a])] for a in sorted(heads)},
        keys=[{"key_id": k["key_id"], "fingerprint": k.get("fingerprint"),
               "actors": list(k.get("actors", [])), "event_count": k.get("event_count", 0)}
              for k in sorted(keys, key=lambda k: str(k["key_id"]))],
        children=_own_rollups(state["canonical"]))


def _own_rollups(canonical: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in sorted(canonical):
        if not (key.startswith(SUBJECT_PREFIX) and key.endswith(":" + PREDICATE)):
            continue
        entry = canonical[key]
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, dict) or value.get("kind") != KIND:
            continue
        out.append({"vault_uid": value.get("vault_uid"), "state_hash": value.get("state_hash"),
                    "event_count": value.get("event_count"), "mode": value.get("mode"),
                    "attested_by": entry.get("attested_by"),
                    "attestation_event_id": entry.get("attestation_event_id"),
                    "keys": [k.get("key_id") for k in value.get("keys", [])
                             if isinstance(k, dict)],
                    "children": value.get("children", [])})
    return out


def rollup_payload(state: ChildState, *, mode: str, parent_vault_uid: str,
                   attested_utc: str, key_id: str) -> dict[str, Any]:
    """The ATTESTATION payload of a roll-up (``actor_key_id`` as the reference reads it:
    the reducer's ``attested_by``)."""
    value = {"kind": KIND, "version": VERSION, "mode": mode,
             "parent_vault_uid": parent_vault_uid, "attested_utc": attested_utc,
             **state.to_json()}
    return {"subject": SUBJECT_PREFIX + state.vault_uid, "predicate": PREDICATE,
            "value": value, "actor_key_id": key_id}


@dataclass(frozen=True)
class Attested:
    """A roll-up read back from an ATTESTATION event."""

    event_id: str
    signer_key_id: str | None
    signer_actor: str | None
    vault_uid: str
    parent_vault_uid: str | None
    mode: str
    state_hash: str
    event_count: int
    merkle_root: str
    attested_utc: str | None
    heads: dict[str, list[Any]]
    keys: list[dict[str, Any]]
    children: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {"attestation_event_id": self.event_id, "attested_by": self.signer_key_id,
                "attester_actor": self.signer_actor, "mode": self.mode,
                "vault_uid": self.vault_uid, "parent_vault_uid": self.parent_vault_uid,
                "state_hash": self.state_hash, "event_count": self.event_count,
                "merkle_root": self.merkle_root, "attested_utc": self.attested_utc}


def is_rollup(event: Mapping[str, Any]) -> bool:
    payload = event.get("payload")
    return (event.get("type") == "ATTESTATION" and isinstance(payload, dict)
            and payload.get("predicate") == PREDICATE
            and str(payload.get("subject", "")).startswith(SUBJECT_PREFIX))


def read_rollup(event: Mapping[str, Any]) -> Attested:
    """The roll-up an event states; InputError naming the field when it is not one."""
    eid = str(event.get("event_id"))
    payload = event.get("payload")
    if not is_rollup(event) or not isinstance(payload, dict):
        raise InputError("not a roll-up attestation", where=eid)
    value = payload.get("value")
    if not isinstance(value, dict) or value.get("kind") != KIND:
        raise InputError(f"value.kind is not {KIND!r}", where=eid)
    if not isinstance(value.get("version"), int) or value["version"] > VERSION:
        raise InputError(f"value.version {value.get('version')!r} is not one this program "
                         f"reads (up to {VERSION})", where=eid)

    def text(name: str) -> str:
        v = value.get(name)
        if not isinstance(v, str) or not v:
            raise InputError(f"value.{name} must be a non-empty string", where=eid)
        return v

    count = value.get("event_count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InputError("value.event_count must be a count", where=eid)
    heads = value.get("heads")
    if not isinstance(heads, dict) or not all(
            isinstance(h, list) and len(h) == 2 and isinstance(h[0], int)
            and isinstance(h[1], list) and all(isinstance(x, str) for x in h[1])
            for h in heads.values()):
        raise InputError("value.heads must map each actor to [length, [head ids]]", where=eid)
    uid = text("vault_uid")
    if payload.get("subject") != SUBJECT_PREFIX + uid:
        raise InputError(f"subject {payload.get('subject')!r} does not name value.vault_uid "
                         f"{uid!r}", where=eid)
    keys, children = value.get("keys", []), value.get("children", [])
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise InputError("value.keys must be a list of objects", where=eid)
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise InputError("value.children must be a list of objects", where=eid)
    mode = text("mode")
    parent = value.get("parent_vault_uid")
    when = value.get("attested_utc")
    signer = event.get("actor_key_id")  # the key that signed it, not whom it names
    return Attested(
        event_id=eid, signer_key_id=signer if isinstance(signer, str) else None,
        signer_actor=str(event.get("actor")) if event.get("actor") is not None else None,
        vault_uid=uid, parent_vault_uid=parent if isinstance(parent, str) else None,
        mode=mode, state_hash=text("state_hash"), event_count=count,
        merkle_root=text("merkle_root"), attested_utc=when if isinstance(when, str) else None,
        heads=heads, keys=keys, children=children)


@dataclass(frozen=True)
class Drift:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Comparison:
    status: str  # same | grown | drift
    drift: list[Drift] = field(default_factory=list)
    grown_by: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "grown_by": self.grown_by,
                "drift": [d.to_json() for d in self.drift]}


def compare(attested: Attested, now: ChildState, holds: Container[str]) -> Comparison:
    """The child now against what was attested. ``holds``: the child's event ids now."""
    drift: list[Drift] = []
    if now.vault_uid != attested.vault_uid:
        drift.append(Drift(OTHER_VAULT, f"the child is vault {now.vault_uid}, the "
                           f"attestation {attested.event_id} is about {attested.vault_uid}"))
        return Comparison(DRIFT, drift)
    if now.event_count < attested.event_count:
        drift.append(Drift(SHRUNK, f"the child holds {now.event_count} events; "
                           f"{attested.event_count} were attested by {attested.event_id}"))
    for actor, (length, heads) in sorted(attested.heads.items()):
        gone = [h for h in heads if h not in holds]
        if gone:
            drift.append(Drift(REWRITTEN, f"{actor}'s chain no longer holds {gone[0]}, its "
                               f"attested head at length {length}: that history was "
                               "rewritten or removed"))
        elif now.heads.get(actor, [0])[0] < length:
            drift.append(Drift(REWRITTEN, f"{actor}'s chain is shorter than the {length} "
                               "events attested"))
    if not drift and now.event_count == attested.event_count \
            and now.state_hash != attested.state_hash:
        drift.append(Drift(STATE_DIFFERS, f"the same {now.event_count} events give state_hash "
                           f"{now.state_hash}, not the attested {attested.state_hash}"))
    if drift:
        return Comparison(DRIFT, drift)
    grown = now.event_count - attested.event_count
    return Comparison(GROWN if grown else SAME, grown_by=grown)


# -- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Edge:
    parent_uid: str
    child_uid: str
    attested: dict[str, Any]  # Attested.summary(), or a nested summary's fields
    signer_key_id: str | None
    keys: list[str]  # the keys that signed the child's events
    void: bool  # signed by a revoked key after its boundary, in this vault's key life
    nested: bool  # known only from a summary roll-up's list of the child's own roll-ups
    count: int = 1  # attestations of this pair (the last one counts)


def edges_of(rollups: Sequence[tuple[Attested, bool]], root_uid: str) -> list[Edge]:
    """One edge per (parent, child): the last non-void roll-up of the pair in vault order
    (the reducer's rule: the last attestation wins), or the last one when all are void;
    plus the nested children of summaries, where no event of that pair is held."""
    by_pair: dict[tuple[str, str], list[tuple[Attested, bool]]] = {}
    for att, void in rollups:
        parent = att.parent_vault_uid or root_uid
        by_pair.setdefault((parent, att.vault_uid), []).append((att, void))
    edges: list[Edge] = []
    for (parent, child), items in by_pair.items():
        counting = [i for i in items if not i[1]] or items
        att, void = counting[-1]
        edges.append(Edge(parent, child, att.summary(), att.signer_key_id,
                          [str(k.get("key_id")) for k in att.keys], void, False, len(items)))
    held = set(by_pair)
    for att, void in rollups:
        if void:
            continue
        for parent, nested in _nested(att.vault_uid, att.children):
            uid = nested.get("vault_uid")
            if isinstance(uid, str) and (parent, uid) not in held:
                held.add((parent, uid))
                keys = nested.get("keys", [])
                edges.append(Edge(parent, uid, {**{k: v for k, v in nested.items()
                                                   if k not in ("children", "keys")},
                                                "parent_vault_uid": parent},
                                  nested.get("attested_by"),
                                  [str(k) for k in keys] if isinstance(keys, list) else [],
                                  False, True))
    return edges


def _nested(parent: str, children: Any, depth: int = 0) -> Iterable[tuple[str, dict[str, Any]]]:
    if depth > 32 or not isinstance(children, list):  # a hostile summary cannot recurse us
        return
    for c in children:
        if isinstance(c, dict):
            yield parent, c
            uid = c.get("vault_uid")
            if isinstance(uid, str):
                yield from _nested(uid, c.get("children"), depth + 1)


def tree(root_uid: str, edges: Sequence[Edge]) -> dict[str, Any]:
    """The vaults under ``root_uid``, each child with its attested state."""
    below: dict[str, list[Edge]] = {}
    for e in edges:
        below.setdefault(e.parent_uid, []).append(e)

    def node(uid: str, seen: frozenset[str]) -> list[dict[str, Any]]:
        out = []
        for e in sorted(below.get(uid, []), key=lambda e: e.child_uid):
            cycle = e.child_uid in seen
            out.append({"vault_uid": e.child_uid, "attested": e.attested,
                        "attested_by": e.signer_key_id, "void": e.void, "nested": e.nested,
                        "attestations": e.count, "cycle": cycle,
                        "children": [] if cycle else node(e.child_uid, seen | {e.child_uid})})
        return out

    return {"vault_uid": root_uid, "children": node(root_uid, frozenset({root_uid}))}


def key_reach(edges: Sequence[Edge], rollups: Sequence[tuple[Attested, bool]],
              status_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """For each key in the tree: the roll-ups it signed (every one held, void or not, and
    those known from summaries), the vaults whose events it signed, and every vault it
    reaches (what it attested, with all of those vaults' subtrees, and where it wrote).
    What a leaked key could have lied about; nothing else."""
    below: dict[str, list[str]] = {}
    for e in edges:
        below.setdefault(e.parent_uid, []).append(e.child_uid)

    def subtree(uid: str) -> set[str]:
        out, todo = {uid}, [uid]
        while todo:
            for c in below.get(todo.pop(), []):
                if c not in out:
                    out.add(c)
                    todo.append(c)
        return out

    keys: dict[str, dict[str, Any]] = {}

    def entry(kid: str) -> dict[str, Any]:
        return keys.setdefault(kid, {"key_id": kid, "status": status_of(kid), "attested": [],
                                     "wrote_in": set(), "reaches": set()})

    for att, void in rollups:
        if att.signer_key_id:
            k = entry(att.signer_key_id)
            k["attested"].append({"vault_uid": att.vault_uid, "void": void,
                                  "attestation_event_id": att.event_id})
            k["reaches"] |= subtree(att.vault_uid)
    for e in edges:
        if e.nested and e.signer_key_id:
            k = entry(e.signer_key_id)
            k["attested"].append({"vault_uid": e.child_uid, "void": False, "nested": True,
                                  "attestation_event_id": e.attested.get(
                                      "attestation_event_id")})
            k["reaches"] |= subtree(e.child_uid)
        for kid in e.keys:
            k = entry(kid)
            k["wrote_in"].add(e.child_uid)
            k["reaches"].add(e.child_uid)
    return [{**k, "wrote_in": sorted(k["wrote_in"]), "reaches": sorted(k["reaches"])}
            for _, k in sorted(keys.items())]

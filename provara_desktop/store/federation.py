"""A federation contract applied to a vault (docs/FEDERATION.md): which contract is in force
here, which member this profile is, what may flow between two members (the contract's rule
plus the prefix rule: an author's chain flows up to its first excluded event, because a
chain with a hole does not verify), what a partial replica leaves out, and the revocation
ceremony's acknowledgements.

The contract travels in the vault itself, as an extension event
``com.provara.desktop.federation_contract`` that carries the whole signed document: every
replica can check it (its signatures are the members'), whoever recorded it. Federation
events (the contract, acknowledgements) go in the signer's own chain: a chain of their own
would be cut off by a revocation (a trust boundary vouches for one chain's ancestors), so
a member's federation key should be one whose chain flows whole to every other member
(docs/FEDERATION.md), or its acknowledgements stay behind with the rest of the chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core import federation_contract as fc
from provara_desktop.core.errors import InputError, UsageError, VaultError
from provara_desktop.core.event import build_event, utc_now_iso
from provara_desktop.store import vault_keys

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from provara_desktop.core.key_life import KeyLife
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.index_rows import IndexRow
    from provara_desktop.store.vault import Vault

CONTRACT_EVENT = "com.provara.desktop.federation_contract"
ACK_EVENT = "com.provara.desktop.federation_ack"
MEMBER_PREDICATE = "federation_member"


class OutOfContract(VaultError):
    """An event the contract in force does not let flow this way (exit 1)."""


@dataclass(frozen=True)
class Applied:
    contract: fc.Contract
    event_id: str  # the event that carries it here

    @property
    def digest(self) -> str:
        return self.contract.digest()


def _contract_of(payload: Any) -> fc.Contract | None:
    doc = payload.get("contract") if isinstance(payload, dict) else None
    if not isinstance(doc, dict):
        return None
    try:
        contract = fc.parse_contract(json.dumps(doc).encode())
    except (InputError, ValueError):
        return None
    return contract if fc.verify_signatures(contract).in_force else None


def in_force(vault: Vault) -> Applied | None:
    """The contract in force in this vault: among those recorded here, signed by every
    member and naming this vault, the highest revision (the last recorded, of equals)."""
    best: Applied | None = None
    for row in vault.index.query(type=CONTRACT_EVENT):
        contract = _contract_of(vault.read_row(row).get("payload"))
        if contract is None or contract.vault_uid != vault.uid:
            continue
        if best is None or contract.revision >= best.contract.revision:
            best = Applied(contract, row.event_id)
    return best


def identity_keys(life: KeyLife) -> dict[str, frozenset[str]]:
    """key id -> every key id of its identity (rotations both ways), so a contract naming
    a person's first key still covers the key that replaced it."""
    groups: dict[str, set[str]] = {}
    for old, new in life.successors.items():
        g = groups.get(old) or groups.get(new) or set()
        g.update((old, new))
        for k in g:
            groups[k] = g
    return {k: frozenset(g) for k, g in groups.items()}


def member_of(contract: fc.Contract, key_id: str, groups: Mapping[str, frozenset[str]]
              ) -> str | None:
    for kid in groups.get(key_id, frozenset({key_id})):
        member = fc.member_of_key(contract, kid)
        if member is not None:
            return member
    return None


class Flow:
    """What may go from one member's replica to another's, event by event, with the prefix
    rule: once an author's chain meets an excluded event, nothing after it goes either."""

    def __init__(self, applied: Applied, sender: str | None, receiver: str | None,
                 groups: Mapping[str, frozenset[str]]) -> None:
        self.applied, self.sender, self.receiver = applied, sender, receiver
        # A side that is no member (yet: a member's new key before its promotion has
        # reached this replica) exchanges key events only; they are self-authenticating
        # (core/key_life.py), and are how the new key becomes a member's here.
        self.rule = (applied.contract.direction(sender, receiver)
                     if sender is not None and receiver is not None else None)
        self.groups = groups

    def admits(self, event_type: str | None, key_id: str | None, namespace: str | None) -> bool:
        if self.rule is None:
            return fc.is_structural(event_type or "")
        keys = self.groups.get(key_id or "", frozenset({key_id} if key_id else ()))
        return self.rule.admits(event_type or "", keys, (namespace or "local").lower())

    def why_not(self, event_id: str, actor: str | None, event_type: str | None,
                namespace: str | None) -> str:
        c = self.applied.contract
        if self.rule is None:
            return (f"{event_id} ({event_type} by {actor}) is not a key event, and "
                    f"{'the sender' if self.sender is None else 'the receiver'} is no member "
                    f"of federation contract {c.contract_id} revision {c.revision}: only "
                    "key events flow")
        return (f"{event_id} ({event_type} by {actor}, namespace {namespace or 'local'}) may "
                f"not flow from {self.sender} to {self.receiver} under federation contract "
                f"{c.contract_id} revision {c.revision}")

    def outgoing(self, vault: Vault, rows: Sequence[IndexRow]) -> list[IndexRow]:
        """``rows`` (what the other side lacks) less what the contract keeps here: each
        excluded event, and every later event of its author's chain."""
        cut: dict[str, int] = {}  # actor -> the log position of its first excluded event
        for actor in {r.actor for r in rows if r.actor}:
            for r in vault.index.query(actor=actor):
                if not self.admits(r.type, r.actor_key_id, r.namespace):
                    cut[actor] = r.pos
                    break
        return [r for r in rows if r.actor is None or r.pos < cut.get(r.actor, 1 << 62)]

    def check_incoming(self, events: Iterable[Mapping[str, Any]]) -> None:
        for ev in events:
            if not self.admits(ev.get("type"), ev.get("actor_key_id"), ev.get("namespace")):
                raise OutOfContract(self.why_not(str(ev.get("event_id")), ev.get("actor"),
                                                 ev.get("type"), ev.get("namespace")))


def flows_for(vault: Vault, my_key_id: str, peer_key_id: str
              ) -> tuple[Flow, Flow] | None:
    """(what we may send the peer, what we may take from it) under the contract in force,
    or None when no contract is in force. With a side that is no member, key events only."""
    applied = in_force(vault)
    if applied is None:
        return None
    groups = identity_keys(vault_keys.key_life(vault))
    me = member_of(applied.contract, my_key_id, groups)
    peer = member_of(applied.contract, peer_key_id, groups)
    return Flow(applied, me, peer, groups), Flow(applied, peer, me, groups)


def apply(vault: Vault, data: bytes, *, key: SigningKey, actor: str, where: str) -> Applied:
    """Record a contract in force in the vault (``federation apply``)."""
    contract = fc.parse_contract(data)
    verdict = fc.verify_signatures(contract)
    if not verdict.in_force:
        raise UsageError(f"{where}: contract {contract.contract_id} is not in force (every "
                         "member must sign it: `federation verify` says who has not)")
    if contract.vault_uid != vault.uid:
        raise UsageError(f"{where}: the contract is about vault {contract.vault_uid}, not "
                         f"this one ({vault.uid})")
    groups = identity_keys(vault_keys.key_life(vault))
    me = member_of(contract, key.key_id, groups)
    if me is None:
        raise UsageError(f"{where}: your key {key.key_id} is no member's in contract "
                         f"{contract.contract_id}: only a member applies it")
    current = in_force(vault)
    if current is not None:
        if current.digest == contract.digest():
            return current
        if contract.contract_id != current.contract.contract_id or \
                contract.revision <= current.contract.revision:
            raise UsageError(
                f"{where}: this vault is under contract {current.contract.contract_id} "
                f"revision {current.contract.revision}; only a later revision of it "
                "replaces it")
    event = vault.new_event(key=key, actor=actor,
                            event_type=CONTRACT_EVENT, namespace="local",
                            payload={"contract": contract.to_json(),
                                     "digest": contract.digest(), "member": me,
                                     "contract_id": contract.contract_id,
                                     "revision": contract.revision,
                                     "applied_utc": utc_now_iso()})
    # Cross-organisation attestations: this member attests, in its own signed words, each
    # other member's federation key as the contract names it. They link trust between the
    # domains for anyone reading the vault (the reducer makes each a canonical belief
    # `key:<key id>:federation_member`); they trust nobody by themselves: who a user trusts
    # stays the user's decision (`trust add`, after comparing the fingerprint shown here).
    payloads = [{"subject": f"key:{m.key_id}", "predicate": MEMBER_PREDICATE,
                 "actor_key_id": key.key_id,
                 "value": {"member": m.member, "name": m.name, "fingerprint": m.fingerprint,
                           "public_key_b64": m.public_key_b64, "keys": list(m.keys),
                           "contract_id": contract.contract_id, "revision": contract.revision,
                           "contract_digest": contract.digest()}}
                for m in contract.members if m.member != me]
    # One atomic append: the record and the attestations chained one after the other.
    chain = [event]
    for payload in payloads:
        last = chain[-1]
        ts = last.get("ts_logical")
        chain.append(build_event(event_type="ATTESTATION", actor=actor, payload=payload,
                                 prev_event_hash=str(last["event_id"]), key=key,
                                 namespace="canonical",
                                 ts_logical=ts + 1 if isinstance(ts, int) else None))
    vault.append(chain, signer=key)
    return Applied(contract, str(event["event_id"]))


def member_attestations(vault: Vault) -> list[dict[str, Any]]:
    """Every cross-organisation attestation the vault holds: who (which key) attested which
    key as which member, under which contract."""
    out = []
    for row in vault.index.query(type="ATTESTATION", predicate=MEMBER_PREDICATE):
        payload = vault.read_row(row).get("payload")
        if not isinstance(payload, dict):
            continue
        value = payload.get("value")
        if isinstance(value, dict) and str(payload.get("subject", "")).startswith("key:"):
            out.append({"event_id": row.event_id, "attested_by": row.actor_key_id,
                        "key_id": str(payload["subject"])[4:],
                        **{k: value.get(k) for k in ("member", "fingerprint", "contract_id",
                                                     "revision", "contract_digest")}})
    return out


def statement(vault: Vault, applied: Applied, my_key_id: str) -> dict[str, Any]:
    """What this replica leaves out under the contract, so a partial state_hash is never
    taken for the whole (`state --json`, `verify --json`, the app)."""
    c = applied.contract
    groups = identity_keys(vault_keys.key_life(vault))
    me = member_of(c, my_key_id, groups)
    leaves_out: dict[str, list[str]] = {}
    if me is not None:
        for m in c.member_ids():
            if m == me:
                continue
            # A rule also "excludes" the receiver's own keys (nothing of ours comes back
            # from them): not something this replica lacks.
            lacked = [e.sentence() for e in c.direction(m, me).exclusions() if e.member != me]
            leaves_out[m] = [*lacked, fc.PREFIX_SENTENCE] if lacked else []
    return {"contract_id": c.contract_id, "revision": c.revision, "digest": c.digest(),
            "member": me, "partial": any(leaves_out.values()) or me is None,
            "leaves_out": leaves_out,
            "note": "this replica holds only what the contract lets flow to it: its "
                    "state_hash is of that part, not of the federation's whole vault"}


# -- the revocation ceremony -----------------------------------------------------------------

def _revocations(life: KeyLife) -> dict[str, tuple[str, str | None]]:
    """revoked key -> (its counting revocation event, boundary)."""
    return {k: r for k in life.revoked_keys() if (r := life.revocation(k)) is not None}


def _acks(vault: Vault) -> list[tuple[str, str | None, dict[str, Any]]]:
    out = []
    for row in vault.index.query(type=ACK_EVENT):
        payload = vault.read_row(row).get("payload")
        if isinstance(payload, dict):
            out.append((row.event_id, row.actor_key_id, payload))
    return out


def acknowledge(vault: Vault, *, key: SigningKey, actor: str) -> list[str]:
    """Record, signed, that this member applied every revocation the vault holds that it
    has not acknowledged yet; the acknowledgements travel back to the initiator by sync or
    bundle. Returns the revocation event ids acknowledged now."""
    applied = in_force(vault)
    if applied is None:
        return []
    life = vault_keys.key_life(vault)
    groups = identity_keys(life)
    me = member_of(applied.contract, key.key_id, groups)
    if me is None:
        return []
    done = {str(p.get("revocation_event_id")) for _, signer, p in _acks(vault)
            if signer is not None and member_of(applied.contract, signer, groups) == me}
    new = []
    for revoked, (rev_id, boundary) in sorted(_revocations(life).items()):
        if rev_id in done or revoked in groups.get(key.key_id, frozenset({key.key_id})):
            continue
        event = vault.new_event(
            key=key, actor=actor, event_type=ACK_EVENT,
            namespace="local",
            payload={"revocation_event_id": rev_id, "revoked_key_id": revoked,
                     "trust_boundary_event_id": boundary, "member": me,
                     "contract_id": applied.contract.contract_id,
                     "contract_digest": applied.digest, "applied_utc": utc_now_iso()})
        vault.append([event], signer=key)
        new.append(rev_id)
    return new


def status(vault: Vault) -> dict[str, Any]:
    """`federation status`: the contract, its members, and each revocation with who has
    acknowledged it (the ceremony is complete when every member has)."""
    applied = in_force(vault)
    if applied is None:
        return {"in_force": False, "contract": None, "members": [], "revocations": []}
    c = applied.contract
    life = vault_keys.key_life(vault)
    groups = identity_keys(life)
    acks = _acks(vault)
    revocations = []
    for revoked, (rev_id, boundary) in sorted(_revocations(life).items()):
        owner = member_of(c, revoked, groups)
        by: dict[str, dict[str, Any]] = {}
        for ack_id, signer, p in acks:
            m = member_of(c, signer, groups) if signer is not None else None
            if m is not None and p.get("revocation_event_id") == rev_id:
                by.setdefault(m, {"ack_event_id": ack_id, "key_id": signer,
                                  "applied_utc": p.get("applied_utc")})
        # The member whose key it is applied it by revoking (its recovery key signed it).
        expected = [m for m in c.member_ids() if m != owner]
        revocations.append({
            "revocation_event_id": rev_id, "revoked_key_id": revoked, "member": owner,
            "trust_boundary_event_id": boundary,
            "acknowledged": [{"member": m, **by[m]} for m in expected if m in by],
            "waiting_for": [m for m in expected if m not in by],
            "complete": all(m in by for m in expected)})
    return {"in_force": True, "member_attestations": member_attestations(vault),
            "contract": {"contract_id": c.contract_id,
                                           "revision": c.revision, "digest": c.digest(),
                                           "event_id": applied.event_id},
            "members": [{"member": m, "key_id": c.member(m).key_id} for m in c.member_ids()],
            "revocations": revocations}

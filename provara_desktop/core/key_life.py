"""The life of every key a vault knows, derived from the signed events alone: who may rotate
an identity (its recovery key), which rotations and revocations count, which devices belong
to which person, and which events a revoked key signed after its trust boundary.

Everything here is a function of the event set (events in the vault's total order, and chain
ancestry), so every replica holding the same events reaches the same verdicts whatever order
they arrived in. keys.json is the registry the reference reads; it only adds what a
reference-written vault records there (a key marked revoked with no event saying so).

The rules (docs/KEYS.md says them for people):

* An identity's **recovery key** is named by a ``com.provara.desktop.key_authority`` event
  the identity's key signs. A rotation counts only when its signer is the one recovery key
  named by the declarations *in the history the rotation vouches for* (the boundary event
  and its chain ancestors): a thief holding the current key can add a declaration of their
  own on a fork, but that fork is not the history the genuine recovery key vouches for, so it
  neither takes the identity over nor blocks its recovery. Two declarations naming different
  keys within one vouched history make the authority disputed: no rotation of it counts.
* **KEY_REVOCATION** (signed by the authority, naming ``revoked_key_id`` and a
  ``trust_boundary_event_id`` that is the revoked key's own event): the boundary and its
  ancestors stay valid, the key's other events are void.
* **KEY_PROMOTION** (signed by the signer of a counting revocation of ``replaces_key_id``,
  never by the new or the old key) makes the new key the identity's: its label, its
  authority, its devices.
* A **device** (``com.provara.desktop.device``, signed by a key of the person) gets its own
  key and chain; the person's recovery key may revoke it alone.
* A key whose identity declares no recovery key (reference vaults, our vaults from before
  recovery keys) keeps the reference's model: a surviving root or quorum key (genesis
  ``root_key_id``, or roles in keys.json) is the authority.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from provara_desktop.core.keys import PublicKey

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from provara_desktop.core.keyring import KeyRing

KEY_REVOCATION = "KEY_REVOCATION"
KEY_PROMOTION = "KEY_PROMOTION"
KEY_AUTHORITY = "com.provara.desktop.key_authority"
DEVICE_CERT = "com.provara.desktop.device"
KEY_LIFE_TYPES = frozenset({KEY_REVOCATION, KEY_PROMOTION, KEY_AUTHORITY, DEVICE_CERT})

# Why a key was revoked. The reference writes "key_compromise"; ours are the three below.
ROUTINE, COMPROMISE, DEVICE_LOST = "routine", "compromise", "device_lost"
REASONS = (ROUTINE, COMPROMISE, DEVICE_LOST)

ACTIVE, ROTATED, REVOKED = "active", "rotated", "revoked"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What key life needs of one key event (the four types above)."""

    event_id: str
    actor: str
    key_id: str | None
    prev: Any
    type: str
    payload: Any


class Ancestry(Protocol):
    """The vault's chains, as key life asks about them."""

    def lineage(self, event_id: str) -> frozenset[str]:
        """``event_id`` and every event its prev_event_hash chain reaches (empty when the
        event is not held)."""
        ...

    def signer(self, event_id: str) -> str | None:
        """The key that signed ``event_id`` (None when the event is not held)."""
        ...


@dataclass(frozen=True, slots=True)
class KeyProblem:
    """A key event that does not count, or counts with a doubt, and why."""

    code: str
    event_id: str
    actor: str
    message: str
    error: bool = True


@dataclass
class KeyStatus:
    key_id: str
    status: str = ACTIVE
    role: str = "identity"  # identity | recovery | device | registry (known, never placed)
    actor: str | None = None  # the label the key signs under (its identity's, or its own)
    person: str | None = None  # the identity's label (a device's person; an identity: itself)
    device_name: str | None = None
    recovery_key_id: str | None = None  # the authority that may rotate or revoke it
    reason: str | None = None
    revocation_event_id: str | None = None
    trust_boundary_event_id: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    certified_by_event_id: str | None = None
    # the person's key that certified this device, or that named this recovery key
    certified_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class _Revocation:
    event_id: str
    signer: str
    boundary: str | None
    reason: str
    lineage: frozenset[str]  # the events the boundary vouches for


@dataclass
class KeyLife:
    keys: dict[str, KeyStatus] = field(default_factory=dict)
    problems: list[KeyProblem] = field(default_factory=list)
    # old key -> the key a counting promotion made its successor
    successors: dict[str, str] = field(default_factory=dict)
    promotion_events: dict[str, str] = field(default_factory=dict)  # old key -> its promotion
    _revocations: dict[str, _Revocation] = field(default_factory=dict)

    def revocation(self, key_id: str) -> tuple[str, str | None] | None:
        """(revocation event id, boundary) of a revoked key, or None."""
        r = self._revocations.get(key_id)
        return None if r is None else (r.event_id, r.boundary)

    def void(self, event_id: str, key_id: str | None) -> bool:
        """Whether ``key_id`` signed ``event_id`` after its trust boundary (or was revoked
        with none): an event that counts for nothing, flagged wherever it shows."""
        if key_id is None:
            return False
        r = self._revocations.get(key_id)
        return r is not None and event_id not in r.lineage

    def revoked_keys(self) -> set[str]:
        return set(self._revocations)

    def promotions(self) -> dict[str, set[str]]:
        """old key -> {new key}, the shape core/actor_labels.py takes."""
        return {old: {new} for old, new in self.successors.items()}

    def vouched_through(self, key_id: str, trusted: Callable[[str], str | None]
                        ) -> str | None:
        """Why ``key_id`` counts as trusted through a key the user trusts (``trusted``: key
        id -> why, or None), or None: a device that key certified, or the successor a
        counting rotation made of it, in as many steps as it takes. (A certificate made after
        its signer's boundary certifies nothing, so a stolen key vouches for no device.)
        Derived from the user's own decision about the person's key: removing that trust
        removes this too."""
        seen: set[str] = set()
        steps: list[str] = []
        cur = key_id
        while cur not in seen:
            seen.add(cur)
            if cur != key_id:
                why = trusted(cur)
                if why is not None:
                    return f"{' of the '.join(steps)} of {cur}, which you trust ({why})"
            s = self.keys.get(cur)
            if s is not None and s.role == "device" and s.certified_by is not None:
                steps.append(f"device {s.device_name!r}" if s.device_name else "device")
                cur = s.certified_by
            elif s is not None and s.replaces is not None:
                steps.append("successor by rotation")
                cur = s.replaces
            elif s is not None and s.role == "recovery" and s.certified_by is not None:
                steps.append("recovery key")
                cur = s.certified_by
            else:
                return None
        return None


def derive(records: Sequence[KeyRecord], ancestry: Ancestry, keyring: KeyRing, *,
           root_key_id: str | None, first_signer: Mapping[str, str] | None = None) -> KeyLife:
    """Key life from the vault's key events (``records``, in the vault's total order).

    ``first_signer``: actor label -> the first key that signed under it, when the caller
    knows (it names the identity of a key that declared nothing)."""
    return _Deriver(records, ancestry, keyring, root_key_id, first_signer or {}).run()


class _Deriver:
    def __init__(self, records: Sequence[KeyRecord], ancestry: Ancestry, keyring: KeyRing,
                 root_key_id: str | None, first_signer: Mapping[str, str]) -> None:
        self.records = records
        self.ancestry = ancestry
        self.keyring = keyring
        self.root = root_key_id
        self.life = KeyLife()
        self.first_signer = first_signer
        # identity key -> [(declaration event, recovery key)], in log order
        self.declared: dict[str, list[tuple[str, str]]] = {}
        self.identity_of: dict[str, str] = {}  # any key -> the identity's inception key

    def problem(self, rec: KeyRecord, code: str, message: str, *, error: bool = True) -> None:
        self.life.problems.append(KeyProblem(code, rec.event_id, rec.actor,
                                             f"{rec.event_id}: {message}", error))

    def status(self, key_id: str) -> KeyStatus:
        s = self.life.keys.get(key_id)
        if s is None:
            s = self.life.keys[key_id] = KeyStatus(key_id, role="registry")
        return s

    def run(self) -> KeyLife:
        for kid in self.keyring.entries:
            self.status(kid)
        for actor, kid in self.first_signer.items():
            s = self.status(kid)
            if s.role == "registry":
                s.role, s.actor, s.person = "identity", actor, actor
            self.identity_of.setdefault(kid, kid)
        for rec in self.records:
            if rec.type == KEY_AUTHORITY:
                self._declaration(rec)
        # Devices are known before any revocation (one may revoke a device); whether a
        # certificate counts is settled after all of them, since its signer's revocation
        # may sort after it (a thief may backdate).
        devices = [r for r in self.records if r.type == DEVICE_CERT]
        for rec in devices:
            self._device(rec)
        # In log order: a promotion follows the revocation it completes, and the next
        # rotation's revocation follows the promotion that made its key the identity's.
        for rec in self.records:
            if rec.type == KEY_REVOCATION:
                self._revocation(rec)
            elif rec.type == KEY_PROMOTION:
                self._promotion(rec)
        self._devices_void_after_revocation(devices)
        self._registry_revocations()
        for kid, inception in self.identity_of.items():
            authority = self._authority(inception, None)
            if isinstance(authority, str):
                self.status(kid).recovery_key_id = authority
        return self.life

    # -- declarations ----------------------------------------------------------------------

    def _declaration(self, rec: KeyRecord) -> None:
        p = rec.payload if isinstance(rec.payload, dict) else {}
        kid, rid, rpub = p.get("key_id"), p.get("recovery_key_id"), p.get("recovery_public_key_b64")
        if rec.key_id is None or kid != rec.key_id:
            self.problem(rec, "KEY_EVENT_INVALID", "a recovery-key declaration must be signed "
                         f"by the key it declares for ({kid!r}), not by {rec.key_id}")
            return
        if not isinstance(rid, str) or rid == kid or _key_of(rpub) != rid:
            self.problem(rec, "KEY_EVENT_INVALID", "the declared recovery key is not a key "
                         "distinct from the identity's, or its public key does not match "
                         "its id")
            return
        self.declared.setdefault(kid, []).append((rec.event_id, rid))
        self.identity_of.setdefault(kid, kid)
        s = self.status(kid)
        s.role, s.actor, s.person = "identity", rec.actor, rec.actor
        r = self.status(rid)
        r.role, r.person = "recovery", rec.actor
        r.certified_by = r.certified_by or kid  # the identity key that named it

    def _authority(self, key_id: str, lineage: frozenset[str] | None) -> str | None | bool:
        """The one recovery key the identity of ``key_id`` declared within ``lineage`` (all
        its declarations when None); None when it declared none; False when disputed."""
        inception = self.identity_of.get(key_id, key_id)
        named = {rid for eid, rid in self.declared.get(inception, ())
                 if lineage is None or eid in lineage}
        if len(named) > 1:
            return False
        return next(iter(named), None)

    # -- devices ---------------------------------------------------------------------------

    def _device(self, rec: KeyRecord) -> None:
        p = rec.payload if isinstance(rec.payload, dict) else {}
        dev, pub = p.get("device_key_id"), p.get("device_public_key_b64")
        certifier = rec.key_id
        if certifier is None or not isinstance(dev, str) or _key_of(pub) != dev:
            self.problem(rec, "KEY_EVENT_INVALID", "a device certificate must name the "
                         "device's key id and its matching public key")
            return
        mine = self.life.keys.get(dev)
        if dev == certifier or dev in self.declared or (
                mine is not None and mine.role in ("recovery", "device")):
            self.problem(rec, "KEY_EVENT_INVALID", f"key {dev} already belongs to an "
                         "identity (or is a recovery key or another's device); it cannot be "
                         "certified as a device")
            return
        if self.status(certifier).role in ("device", "recovery"):
            self.problem(rec, "KEY_EVENT_INVALID", f"{certifier} is not a person's own key: "
                         "only a person's key certifies their devices")
            return
        person = self.status(certifier).person or rec.actor
        self.identity_of[dev] = self.identity_of.get(certifier, certifier)
        s = self.status(dev)
        s.role, s.person = "device", person
        s.actor = p.get("device_actor") if isinstance(p.get("device_actor"), str) else None
        s.device_name = p.get("device_name") if isinstance(p.get("device_name"), str) else None
        s.certified_by_event_id = rec.event_id
        s.certified_by = certifier

    def _devices_void_after_revocation(self, devices: Iterable[KeyRecord]) -> None:
        """A certificate its signer made after its own trust boundary certifies nothing."""
        for rec in devices:
            p = rec.payload if isinstance(rec.payload, dict) else {}
            dev = p.get("device_key_id")
            s = self.life.keys.get(dev) if isinstance(dev, str) else None
            if s is None or not isinstance(dev, str) or s.certified_by_event_id != rec.event_id:
                continue
            if self.life.void(rec.event_id, rec.key_id):
                s.role, s.person, s.certified_by = "registry", None, None
                self.identity_of.pop(dev, None)
                self.problem(rec, "KEY_EVENT_INVALID", f"the device certificate for {dev} "
                             f"was signed by {rec.key_id} after its trust boundary: the "
                             "device is not the person's")

    # -- revocations and promotions --------------------------------------------------------

    def _revocation(self, rec: KeyRecord) -> None:
        p = rec.payload if isinstance(rec.payload, dict) else {}
        target, boundary = p.get("revoked_key_id"), p.get("trust_boundary_event_id")
        signer = rec.key_id
        if not isinstance(target, str) or target not in self.life.keys:
            self.problem(rec, "KEY_EVENT_INVALID",
                         f"the revocation names key {target!r}, which this vault does not know")
            return
        if signer is None or signer == target:
            self.problem(rec, "KEY_EVENT_INVALID", f"key {target} cannot revoke itself: a "
                         "revocation is signed by a surviving authority")
            return
        if signer in self.life._revocations:
            self.problem(rec, "KEY_EVENT_INVALID",
                         f"the revocation is signed by {signer}, which is itself revoked")
            return
        if target in self.life._revocations:
            self.problem(rec, "KEY_REVOKED_AGAIN", f"key {target} is already revoked (by "
                         f"{self.life._revocations[target].event_id}); this one changes "
                         "nothing", error=False)
            return
        if boundary is not None and not isinstance(boundary, str):
            self.problem(rec, "KEY_EVENT_INVALID", "trust_boundary_event_id is not an id")
            return
        lineage: frozenset[str] = frozenset()
        if boundary is not None:
            boundary_signer = self.ancestry.signer(boundary)
            if boundary_signer is None:
                # Not judged yet rather than "every event void": a replica that holds the
                # boundary counts it, and this one would otherwise refuse the very history
                # the revocation vouches for when it arrives.
                self.problem(rec, "KEY_BOUNDARY_MISSING", f"its trust boundary {boundary} "
                             "is not in this vault: the revocation counts once it is",
                             error=False)
                return
            if boundary_signer != target:
                self.problem(rec, "KEY_EVENT_INVALID", f"its trust boundary {boundary} is an "
                             f"event of {boundary_signer}, not of the revoked key {target}")
                return
            lineage = self.ancestry.lineage(boundary)
        if not self._may_revoke(rec, signer, target, lineage if boundary else None):
            return
        reason = p.get("reason")
        self.life._revocations[target] = _Revocation(
            rec.event_id, signer, boundary if isinstance(boundary, str) else None,
            reason if isinstance(reason, str) else COMPROMISE, lineage)
        s = self.status(target)
        s.status = REVOKED
        s.reason = reason if isinstance(reason, str) else None
        s.revocation_event_id = rec.event_id
        s.trust_boundary_event_id = boundary if isinstance(boundary, str) else None

    def _may_revoke(self, rec: KeyRecord, signer: str, target: str,
                    lineage: frozenset[str] | None) -> bool:
        s = self.status(target)
        if s.role == "device" and s.certified_by_event_id is not None:
            # A device's history holds no declaration; its person's does, up to the
            # certificate that made it theirs.
            lineage = self.ancestry.lineage(s.certified_by_event_id) or None
        authority = self._authority(target, lineage)
        if authority is False:
            self.problem(rec, "KEY_AUTHORITY_DISPUTED", f"the identity of {target} declared "
                         "two different recovery keys in the history this revocation vouches "
                         "for: no rotation of it counts until the dispute is settled")
            return False
        if authority is None:
            if self._vault_authority(signer):
                return True  # the reference's model: a surviving root or quorum key
            self.problem(rec, "KEY_EVENT_INVALID", f"{signer} may not revoke {target}: the "
                         "identity declares no recovery key and the signer is neither the "
                         "vault's root key nor a root or quorum key in identity/keys.json")
            return False
        if signer != authority:
            self.problem(rec, "KEY_EVENT_INVALID", f"{signer} may not revoke {target}: its "
                         f"recovery key is {authority}")
            return False
        return True

    def _declares_same(self, new: str, old: str) -> bool:
        """``new`` declared itself an identity naming the recovery key ``old``'s identity
        has (a promoted key that wrote a declaration of its own): one identity, not two."""
        mine = {rid for _, rid in self.declared.get(new, ())}
        theirs = self._authority(old, None)
        return bool(mine) and isinstance(theirs, str) and mine == {theirs}

    def _vault_authority(self, signer: str) -> bool:
        entry = self.keyring.get(signer)
        return signer == self.root or (entry is not None and entry.status != REVOKED and
                                       bool({"root", "quorum"} & set(entry.roles)))

    def _promotion(self, rec: KeyRecord) -> None:
        p: dict[str, Any] = rec.payload if isinstance(rec.payload, dict) else {}
        old, new, pub = p.get("replaces_key_id"), p.get("new_key_id"), p.get("new_public_key_b64")
        signer = rec.key_id
        if not isinstance(new, str) or _key_of(pub) != new:
            self.problem(rec, "KEY_EVENT_INVALID", "the promotion's new_key_id does not match "
                         "its new_public_key_b64")
            return
        if signer == new:
            self.problem(rec, "KEY_EVENT_INVALID", f"{new} promotes itself: a promotion is "
                         "signed by the authority that revoked the key it replaces")
            return
        revocation = self.life._revocations.get(old) if isinstance(old, str) else None
        if revocation is None or revocation.signer != signer or not isinstance(old, str):
            self.problem(rec, "KEY_EVENT_INVALID", f"the promotion replaces {old!r}, which no "
                         f"counting revocation signed by {signer} revoked")
            return
        if old in self.life.successors:
            self.problem(rec, "ROTATION_CONFLICT", f"key {old} was already replaced by "
                         f"{self.life.successors[old]}; this second successor ({new}) does "
                         "not count")
            return
        known = self.life.keys.get(new)
        if known is not None and known.role != "registry" and \
                self.identity_of.get(new) != self.identity_of.get(old) and \
                not self._declares_same(new, old):
            self.problem(rec, "KEY_EVENT_INVALID", f"key {new} already belongs to another "
                         "identity (or is a recovery key)")
            return
        self.life.successors[old] = new
        self.life.promotion_events[old] = rec.event_id
        before = self.status(old)
        if revocation.reason == ROUTINE:
            before.status = ROTATED
        before.replaced_by = new
        s = self.status(new)
        s.role = before.role if before.role != "registry" else "identity"
        s.actor, s.person, s.device_name = before.actor, before.person, before.device_name
        s.replaces = old
        self.identity_of[new] = self.identity_of.get(old, old)

    def _registry_revocations(self) -> None:
        """keys.json marks a key revoked with no event of ours saying so (a reference vault,
        or one written by its rekey): it is revoked, with the boundary its KEY_REVOCATION
        names if there is one (as the reference writes it, unsigned by our rules)."""
        boundaries: dict[str, str] = {}
        for rec in self.records:
            p = rec.payload if isinstance(rec.payload, dict) else {}
            if rec.type == KEY_REVOCATION and isinstance(p.get("revoked_key_id"), str) \
                    and isinstance(p.get("trust_boundary_event_id"), str):
                boundaries.setdefault(p["revoked_key_id"], p["trust_boundary_event_id"])
        for kid, entry in self.keyring.entries.items():
            if entry.status != REVOKED or kid in self.life._revocations:
                continue
            boundary = boundaries.get(kid)
            lineage = self.ancestry.lineage(boundary) if boundary else frozenset()
            self.life._revocations[kid] = _Revocation(
                entry.revocation_event_id or "", "", boundary, COMPROMISE, lineage)
            s = self.status(kid)
            s.status = REVOKED
            s.revocation_event_id = entry.revocation_event_id
            s.trust_boundary_event_id = boundary

    # (for mypy: KeyLife's private map is shared with the deriver on purpose)


def _key_of(public_b64: Any) -> str | None:
    if not isinstance(public_b64, str):
        return None
    try:
        return PublicKey.from_b64(public_b64).key_id
    except ValueError:
        return None


def is_key_event(ev: Mapping[str, Any]) -> bool:
    """Whether a parsed event (any JSON, a hostile one included) is one of the four types."""
    etype = ev.get("type")
    return isinstance(etype, str) and etype in KEY_LIFE_TYPES


def records_from_events(events: Iterable[Mapping[str, Any]]) -> list[KeyRecord]:
    """The key records among parsed events (in the order given)."""
    out = []
    for ev in events:
        if is_key_event(ev) and isinstance(ev.get("event_id"), str):
            kid = ev.get("actor_key_id")
            out.append(KeyRecord(ev["event_id"], str(ev.get("actor", "")),
                                 kid if isinstance(kid, str) else None,
                                 ev.get("prev_event_hash"), str(ev["type"]),
                                 ev.get("payload")))
    return out


class MemoryAncestry:
    """Ancestry over events held in memory: id -> (prev, signer)."""

    def __init__(self, links: Mapping[str, tuple[Any, str | None]]) -> None:
        self.links = links
        self._cache: dict[str, frozenset[str]] = {}

    def signer(self, event_id: str) -> str | None:
        link = self.links.get(event_id)
        return None if link is None else link[1]

    def lineage(self, event_id: str) -> frozenset[str]:
        got = self._cache.get(event_id)
        if got is None:
            out: set[str] = set()
            cur: Any = event_id
            while isinstance(cur, str) and cur in self.links and cur not in out:
                out.add(cur)
                cur = self.links[cur][0]
            got = self._cache[event_id] = frozenset(out)
        return got

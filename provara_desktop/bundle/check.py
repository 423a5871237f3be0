"""Checking a loaded bundle: every event (id, signature, chain), who signed what and whether
the user trusts them, and, given a receiving vault, what an import would do to it.

This is the whole of ``bundle verify`` and the first half of ``import`` (the preview). It
never writes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle.selection import attachment_refs
from provara_desktop.core.errors import InputError
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.logline import fast_load
from provara_desktop.core.order import Fork
from provara_desktop.core.verify import ERROR, WARNING, Problem
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store.merge import present_ids
from provara_desktop.store.parallel_verify import verify_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from provara_desktop.bundle.load import LoadedBundle
    from provara_desktop.core.keys import PublicKey
    from provara_desktop.store.vault import Vault

EVENTS_PATH = "events.ndjson"


@dataclass
class KeyInfo:
    key_id: str
    fingerprint: str | None
    public_key_b64: str | None
    actors: list[str]
    event_count: int
    trusted: bool
    vouched_by: str  # why it is trusted, or "nobody"
    in_vault: bool

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "fingerprint": self.fingerprint,
                "public_key_b64": self.public_key_b64, "actors": self.actors,
                "event_count": self.event_count, "trusted": self.trusted,
                "vouched_by": self.vouched_by, "in_vault": self.in_vault}


@dataclass
class Trust:
    """Where trust comes from: the trust store, the user's own key, the vault's keys.json."""

    store: dict[str, str] = field(default_factory=dict)  # key_id -> name
    own_key_id: str | None = None
    vault_key_ids: set[str] = field(default_factory=set)

    def why(self, key_id: str) -> str | None:
        if key_id == self.own_key_id:
            return "your identity"
        if key_id in self.store:
            name = self.store[key_id]
            return f"your trust store ({name})" if name else "your trust store"
        if key_id in self.vault_key_ids:
            return "the receiving vault (accepted before)"
        return None


@dataclass
class BundleCheck:
    bundle: LoadedBundle
    events: list[dict[str, Any]]
    problems: list[Problem]
    forks: list[Fork]
    legacy_ids: list[str]
    keys: list[KeyInfo]
    signer_trusted: bool
    signer_vouched_by: str | None
    prerequisites: list[str]
    missing_prerequisites: list[str] = field(default_factory=list)
    vault_checked: bool = False
    present: set[str] = field(default_factory=set)  # event ids the vault already holds
    lines_by_id: dict[str, bytes] = field(default_factory=dict)  # canonical lines

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def intact(self) -> bool:
        """Every event verifies and, given a vault, its prerequisites are there."""
        return not self.errors and not self.missing_prerequisites

    @property
    def ok(self) -> bool:
        return self.intact and (self.signer_trusted or not self.bundle.signed)

    @property
    def untrusted_keys(self) -> list[KeyInfo]:
        return [k for k in self.keys if not k.trusted]

    def to_json(self) -> dict[str, Any]:
        b = self.bundle
        signer = None
        if b.signer is not None:
            signer = {"key_id": b.signer.key_id, "fingerprint": b.signer.fingerprint,
                      "actor": b.signer.actor, "public_key_b64": b.signer.public_key_b64,
                      "trusted": self.signer_trusted, "vouched_by": self.signer_vouched_by}
        return {
            "ok": self.ok, "bundle": str(b.path), "format": b.kind, "signed": b.signed,
            "signature_valid": True if b.signed else None, "signer": signer,
            "scope": b.scope, "created_at_utc": b.manifest.get("created_at_utc"),
            "source_vault": b.manifest.get("source_vault"),
            "event_count": len(self.events),
            "attachment_count": len(b.carried_attachments()),
            "keys": [k.to_json() for k in self.keys],
            "untrusted_keys": [k.to_json() for k in self.untrusted_keys],
            "prerequisites": self.prerequisites,
            "missing_prerequisites": self.missing_prerequisites,
            "vault_checked": self.vault_checked,
            "problems": [p.to_json() for p in self.problems],
            "forks": [f.to_json() for f in self.forks],
            "legacy_ids": self.legacy_ids,
        }

    def summary(self) -> str:
        """One line saying why the bundle is not ok (for stderr)."""
        if self.errors:
            return self.errors[0].message
        if self.missing_prerequisites:
            return (f"{len(self.missing_prerequisites)} prerequisite event(s) are not in the "
                    f"vault (e.g. {self.missing_prerequisites[0]}): import the earlier bundle "
                    "first, or ask for a bundle made against this vault's frontier")
        if self.bundle.signed and not self.signer_trusted and self.bundle.signer:
            s = self.bundle.signer
            return (f"the bundle is signed by an untrusted key {s.key_id} (fingerprint "
                    f"{s.fingerprint}, actor {s.actor}); compare the fingerprint with the "
                    "sender and `trust add` it, or pass --accept-untrusted")
        return "ok"


def _keyring(bundle_keys: list[dict[str, Any]], vault: Vault | None) -> KeyRing:
    ring = dict(KeyRing.from_keys_json({"keys": bundle_keys}).entries)
    if vault is not None:  # the vault's entry wins: a bundle cannot change a known key
        ring.update(KeyRing.from_keys_json(vault.keys_doc).entries)
    return KeyRing(ring)


@gc_paused()
def check(bundle: LoadedBundle, trust: Trust, *, vault: Vault | None = None,
          workers: int = 2, cancelled: Callable[[], bool] | None = None,
          progress: Callable[[int], None] | None = None) -> BundleCheck:
    keyring = _keyring(bundle.key_entries, vault)
    report = verify_lines(((i, raw) for i, raw in enumerate(bundle.lines, start=1)),
                          keyring, path=EVENTS_PATH, workers=workers, cancelled=cancelled,
                          progress=progress, size_hint=len(bundle.lines))
    events, raw_by_id = _parse_events(bundle.lines, {
        p.line for p in report.problems
        if p.line is not None and p.code in ("NON_CANONICAL_LINE", "MALFORMED_EVENT")})
    ids = {ev.get("event_id") for ev in events if isinstance(ev.get("event_id"), str)}
    outside = {p for ev in events if isinstance(p := ev.get("prev_event_hash"), str)} - ids
    declared = bundle.declared_prerequisites | bundle.declared_dangling
    prev_of = {ev.get("event_id"): ev.get("prev_event_hash") for ev in events
               if isinstance(ev.get("event_id"), str)}
    problems: list[Problem] = []
    for p in report.problems:
        ev_prev = prev_of.get(p.event_id) if p.code == "CHAIN_BROKEN" else None
        if p.code == "CHAIN_BROKEN" and ev_prev in outside:
            if ev_prev in declared or not bundle.signed:
                continue  # checked against the vault below (or reported as dangling)
            p = Problem("UNDECLARED_PREREQUISITE",
                        f"{p.event_id} chains to {ev_prev}, which is neither in the bundle "
                        "nor listed among its prerequisites", event_id=p.event_id,
                        actor=p.actor, line=p.line, path=EVENTS_PATH)
        problems.append(p)
    for d in sorted(bundle.declared_dangling & outside):
        problems.append(Problem("DANGLING_PREV", f"events chain to {d}, which the sender's "
                                "vault did not hold either (its chain was already broken)",
                                path=EVENTS_PATH, severity=WARNING))
    prereqs = sorted(outside - bundle.declared_dangling)
    keys = _key_infos(events, keyring, trust, vault)
    signer_why = trust.why(bundle.signer.key_id) if bundle.signer else None
    result = BundleCheck(bundle, events, problems, list(report.forks), report.legacy_ids,
                         keys, signer_why is not None, signer_why, prereqs)
    result.lines_by_id = raw_by_id
    if vault is not None:
        _check_against_vault(result, vault)
    _check_attachments(result, vault)
    return result


# Fields whose values repeat from event to event (a few actors, keys, types, subjects):
# parsed once per distinct value instead of once per event.
_SHARED_FIELDS = ("actor", "actor_key_id", "namespace", "type")
_SHARED_PAYLOAD_FIELDS = ("subject", "predicate", "note", "value")


def _parse_events(lines: Sequence[bytes], non_canonical: set[int]
                  ) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The bundle's events as objects, and the line of each event whose line is canonical
    (the import writes those bytes as they are).

    Parsed after the verification, not while its workers run: the verification's
    per-event records are freed when it ends, and objects that outlive them (these events
    stay alive until the import is done) would otherwise be scattered among them, keeping
    their memory from being reused (about 80-100 MB more at the peak of a 100k-event
    import). Repeated strings are shared for the same reason: the events of a 100k-event
    bundle are ~140 MB of objects while the import runs. (The loop is written out: as
    helper calls it took 0.7 s per 100k events instead of 0.5 s.)"""
    shared: dict[str, str] = {}
    share = shared.setdefault
    events: list[dict[str, Any]] = []
    raw_by_id: dict[str, bytes] = {}
    for lineno, raw in enumerate(lines, start=1):
        # fast_load, not orjson directly: orjson turns an integer beyond 64 bits into a
        # float without complaint, which would alter the evidence of a re-encoded line.
        ev = fast_load(raw)
        if ev is None:
            try:
                ev = json.loads(raw)
            except (ValueError, RecursionError):
                continue  # reported by verify_lines (MALFORMED_EVENT)
            if type(ev) is not dict:
                continue
        for name in _SHARED_FIELDS:
            value = ev.get(name)
            if type(value) is str:
                ev[name] = share(value, value)
        payload = ev.get("payload")
        if type(payload) is dict:
            for name in _SHARED_PAYLOAD_FIELDS:
                value = payload.get(name)
                if type(value) is str:
                    payload[name] = share(value, value)
        events.append(ev)
        eid = ev.get("event_id")
        if type(eid) is str and lineno not in non_canonical:
            raw_by_id[eid] = raw
    return events, raw_by_id


def _key_infos(events: list[dict[str, Any]], keyring: KeyRing, trust: Trust,
               vault: Vault | None) -> list[KeyInfo]:
    actors: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for ev in events:
        kid = ev.get("actor_key_id")
        if isinstance(kid, str):
            actors.setdefault(kid, set()).add(str(ev.get("actor")))
            counts[kid] = counts.get(kid, 0) + 1
    vault_ids = set(KeyRing.from_keys_json(vault.keys_doc).entries) if vault else set()
    out = []
    for kid in sorted(actors):
        entry = keyring.get(kid)
        public: PublicKey | None = entry.public if entry and not entry.entry_error else None
        why = trust.why(kid)
        out.append(KeyInfo(kid, public.fingerprint if public else None,
                           public.b64 if public else None, sorted(actors[kid]), counts[kid],
                           why is not None, why or "nobody (only the bundle names it)",
                           kid in vault_ids))
    return out


def _check_against_vault(result: BundleCheck, vault: Vault) -> None:
    """Prerequisites present, chains that continue the vault's, labels bound to one key."""
    result.vault_checked = True
    index = vault.index
    result.present = present_ids(vault, {str(ev.get("event_id")) for ev in result.events})
    for eid in result.prerequisites:
        row = index.get(eid)
        if row is None:
            result.missing_prerequisites.append(eid)
    # A legacy (rule B) id does not cover actor_key_id: the same id can name two different
    # events. Rule-A ids are content hashes, so a held one is the same event.
    legacy = result.present & set(result.legacy_ids)
    by_id = {ev.get("event_id"): ev for ev in result.events
             if ev.get("event_id") in legacy} if legacy else {}
    for eid in sorted(legacy):
        row = index.get(eid)
        mine = by_id.get(eid)
        if row is not None and mine is not None and vault.read_row(row) != mine:
            result.problems.append(Problem(
                "EVENT_ID_CONFLICT", f"{eid} is already in the vault with different content: "
                "it conflicts with the vault's chains", event_id=eid, path=EVENTS_PATH))
    first_key: dict[str, str | None] = {}
    has_events: dict[str, bool] = {}
    for ev in result.events:
        actor, kid = str(ev.get("actor")), ev.get("actor_key_id")
        eid = str(ev.get("event_id"))
        if eid in result.present:
            continue  # already held: nothing to add, nothing to check against
        if actor not in first_key:
            rows = index.query(actor=actor, limit=1)
            first_key[actor] = rows[0].actor_key_id if rows else None
            has_events[actor] = bool(rows)
        owner = first_key[actor]
        if owner is not None and isinstance(kid, str) and kid != owner and not _promoted(
                result.events, owner, kid):
            result.problems.append(Problem(
                "ACTOR_KEY_CONFLICT",
                f"{eid} claims actor {actor!r}, which belongs to key {owner} in the vault, but "
                f"is signed by {kid}: it conflicts with the vault's chains",
                event_id=eid, actor=actor, path=EVENTS_PATH))
        prev = ev.get("prev_event_hash")
        held_prev = isinstance(prev, str) and (prev in result.prerequisites
                                               or prev in result.present)
        if held_prev and isinstance(prev, str):
            row = index.get(prev)
            if row is not None and row.actor != actor:
                result.problems.append(Problem(
                    "CHAIN_BROKEN", f"{eid} (actor {actor}) chains to {prev}, an event of "
                    f"another actor ({row.actor}) in the vault", event_id=eid, actor=actor,
                    path=EVENTS_PATH))
            elif row is not None:
                # The vault already continues the chain after prev with another event of
                # this actor: equivocation. Asked of prev's own successors, not of the
                # actor's latest event, which is wrong when the vault already holds a fork.
                other = next((r.event_id for r in index.successors(prev)
                              if r.actor == actor and r.event_id != eid), None)
                if other is not None:
                    result.forks.append(Fork(actor, prev, (other, eid)))
        elif prev is None and has_events[actor]:
            first = index.query(actor=actor, limit=1)
            if first and first[0].prev_event_hash is None:
                result.forks.append(Fork(actor, None, (first[0].event_id, eid)))


def _promoted(events: list[dict[str, Any]], old: str, new: str) -> bool:
    for ev in events:
        p = ev.get("payload")
        if (ev.get("type") == "KEY_PROMOTION" and isinstance(p, dict)
                and p.get("replaces_key_id") == old and p.get("new_key_id") == new):
            return True
    return False


def _check_attachments(result: BundleCheck, vault: Vault | None) -> None:
    b = result.bundle
    carried = b.carried_attachments()
    if b.reader is None and b.directory is None:
        refs = {r["sha256"] for ev in result.events for r in attachment_refs(ev)}
        if refs:
            result.problems.append(Problem(
                "ATTACHMENTS_NOT_CARRIED",
                f"{len(refs)} attachment(s) are referenced but a provara_delta_v1 file cannot "
                "carry them", path=EVENTS_PATH, severity=WARNING))
        return
    if b.reader is not None:  # every member's hash, not only the ones read so far
        for sha in sorted(carried):
            try:
                b.reader.check_member(f"artifacts/cas/{sha}")
            except InputError as exc:
                result.problems.append(Problem("MEMBER_DAMAGED", str(exc),
                                               path=f"artifacts/cas/{sha}"))
    missing_ok = {s for s in b.manifest.get("missing_attachments", []) if isinstance(s, str)}
    if b.directory is not None:
        missing_ok = {r["sha256"] for ev in result.events for r in attachment_refs(ev)}
    for ev in result.events:
        for ref in attachment_refs(ev):
            sha = ref["sha256"]
            if sha in carried:
                if carried[sha] != ref.get("size"):
                    result.problems.append(Problem(
                        "ATTACHMENT_SIZE", f"attachment {sha[:12]}… of {ev.get('event_id')} "
                        "is not the size its event records", event_id=ev.get("event_id"),
                        path=EVENTS_PATH))
                continue
            in_vault = vault is not None and (vault.root / "artifacts/cas" / sha).is_file()
            if not in_vault and sha not in missing_ok:
                result.problems.append(Problem(
                    "ATTACHMENT_MISSING", f"attachment {sha[:12]}… of {ev.get('event_id')} "
                    "is neither in the bundle nor in the vault", event_id=ev.get("event_id"),
                    path=EVENTS_PATH))

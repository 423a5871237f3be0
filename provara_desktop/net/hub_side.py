"""Both ends of a hub's accountability (capability ``receipts``, docs/TOPOLOGIES.md).

The hub (:class:`HubDuty`) answers a spoke's ``audit`` with its signed checkpoint and the
proofs asked for, and signs a receipt for every batch it commits. The spoke
(:class:`SpokeAudit`) checks the answer against everything the hub signed for it before,
keeps the new statements, and turns what does not hold into alerts with both signed notes
as their proof. The session (net/sync_session.py) calls these; they do no I/O on the
connection themselves.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core import hub_notes
from provara_desktop.core.checkpoint import (
    COSIGNATURE_V1_TYPE,
    NoteVerifier,
    SignedNote,
    cosign,
    verify_cosignatures,
)
from provara_desktop.core.errors import InputError, PeerRejected, StoreError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keys import PublicKey
from provara_desktop.core.tlog import verify_consistency, verify_inclusion
from provara_desktop.net.hub_messages import (
    MAX_PROVE,
    MAX_WITNESSED,
    Audit,
    Checkpoint,
    Inclusion,
    Receipt,
    Witness,
    WitnessedNote,
)
from provara_desktop.store.hub_log import HubLog, event_leaf
from provara_desktop.store.hub_receipts import Alert, HubReceipts, KeptNote
from provara_desktop.store.profile_files import profile_lock, read_profile_doc, replace_file

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

log = logging.getLogger(__name__)
ALERT_EVENT = "com.provara.desktop.hub_alert"


class HubDuty:
    """The hub's side, for one session."""

    def __init__(self, vault: Vault, key: SigningKey) -> None:
        self.vault, self.key = vault, key
        self.log = HubLog.for_vault(vault)

    def close(self) -> None:
        self.log.close()

    def answer(self, audit: Audit, frontier: Mapping[str, Any]) -> Checkpoint:
        """The signed checkpoint of the log as it now covers the vault, with the proofs the
        spoke asked for (none for a leaf the log does not hold where the spoke says: the
        spoke draws its conclusion)."""
        self.log.cover(self.vault)
        size = self.log.size
        note = hub_notes.sign(self.key, vault_uid=self.vault.uid, size=size,
                              root=self.log.root(), frontier=frontier, time=utc_now_iso())
        consistency = (self.log.consistency_proof(audit.known_size)
                       if audit.known_size <= size else [])
        also = tuple((n, tuple(self.log.consistency_proof(n)))
                     for n in dict.fromkeys(audit.also) if n <= size)
        proofs = [Inclusion(eid, idx, tuple(self.log.inclusion_proof(idx)))
                  for eid, idx in audit.prove[:MAX_PROVE]
                  if idx < size and self.log.event_at(idx) == eid]
        return Checkpoint(note, tuple(consistency), tuple(proofs), also)

    def receipt(self, event_ids: Iterable[str]) -> Receipt:
        """After a batch's commit: where each of its events is in the log, signed."""
        where = self.log.append(event_ids)
        accepted = tuple(sorted(where.items(), key=lambda p: p[1]))
        note = hub_notes.sign(self.key, vault_uid=self.vault.uid, size=self.log.size,
                              root=self.log.root(), time=utc_now_iso(), accepted=accepted)
        return Receipt(note, accepted)


@dataclass
class AuditOutcome:
    """What one audit found: the hub's checked checkpoint and the alerts raised."""

    size: int = 0
    proven: int = 0
    alerts: list[Alert] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "proven": self.proven,
                "alerts": [a.to_json() for a in self.alerts]}


def _raise(kept: HubReceipts, hub_key: PublicKey, code: str, message: str,
           proof: dict[str, Any]) -> Alert | None:
    """Keep an alert, once per wrong: a hub still behind the statement it broke is the same
    violation at every session, and its proof is already kept (and recorded)."""
    same = _same_wrong(code, proof)
    if any(_same_wrong(a.code, a.proof) == same for a in kept.alerts()):
        return None
    log.warning("hub %s: %s: %s", hub_key.key_id, code, message)
    return kept.raise_alert(code, message, {"hub_key_id": hub_key.key_id,
                                            "hub_public_key_b64": hub_key.b64, **proof})


def _same_wrong(code: str, proof: dict[str, Any]) -> tuple[str, str]:
    """What makes two alerts one wrong: the statement broken (an earlier note), or the
    events gone."""
    events = proof.get("events")
    return code, str(proof.get("earlier") or sorted(map(str, events or [])))


class SpokeAudit:
    """The spoke's side, for one session with the hub whose key is ``hub_key``."""

    def __init__(self, home: Any, vault_uid: str, hub_key: PublicKey) -> None:
        self.kept = HubReceipts(home, hub_key.key_id)
        self.kept.remember_key(hub_key.b64)
        self.hub_key, self.vault_uid = hub_key, vault_uid
        self.witnessed: list[KeptNote] = []
        self.outcome = AuditOutcome()
        self.asked: tuple[tuple[str, int], ...] = ()
        self.note: hub_notes.HubNote | None = None
        self.dropped: list[str] = []

    def close(self) -> None:
        self.kept.close()

    def request(self) -> Audit:
        largest = self.kept.largest()
        self.asked = tuple(self.kept.unproven(MAX_PROVE))
        self.witnessed = self.kept.unchecked_witnessed(MAX_WITNESSED)
        return Audit(largest.size if largest else 0, self.asked,
                     tuple(w.size for w in self.witnessed))

    def _read(self, text: str, what: str) -> hub_notes.HubNote:
        try:
            note = hub_notes.read(text, self.hub_key)
        except ValueError as exc:
            raise PeerRejected(f"the hub's {what}: {exc}", code="BAD_CHECKPOINT") from None
        if note.vault_uid != self.vault_uid:
            raise PeerRejected(f"the hub's {what} is of vault {note.vault_uid[:64]}, not "
                               f"{self.vault_uid}", code="BAD_CHECKPOINT")
        return note

    def _alert(self, code: str, message: str, **proof: Any) -> None:
        alert = _raise(self.kept, self.hub_key, code, message, proof)
        if alert is not None:
            self.outcome.alerts.append(alert)

    def check(self, answer: Checkpoint, frontier: Mapping[str, Any]) -> None:
        """Check the hub's checkpoint against what it signed before; keep it."""
        note = self._read(answer.note, "checkpoint")
        self.note = note
        self.outcome.size = note.size
        if note.frontier_digest != hub_notes.digest(dict(frontier)):
            self._alert("FRONTIER_MISMATCH", "the hub signed a frontier other than the one "
                        "it sent", checkpoint=note.text, frontier=dict(frontier))
        largest = self.kept.largest()
        if largest is not None:
            old_root = bytes.fromhex(largest.root)
            if largest.size > note.size:
                self._alert("ROLLBACK", f"the hub signed a log of {largest.size} events "
                            f"before and now signs one of {note.size}: its log went back",
                            earlier=largest.note, later=note.text)
            elif not verify_consistency(largest.size, note.size, old_root, note.root,
                                        answer.consistency):
                self._alert("INCONSISTENT", f"the hub's log of {note.size} events is not "
                            f"an extension of the one of {largest.size} it signed before",
                            earlier=largest.note, later=note.text,
                            consistency=[h.hex() for h in answer.consistency])
        self._check_witnessed(note, answer, largest.id if largest else None)
        proofs = {(p.event_id, p.index): p for p in answer.inclusion}
        proven, dropped = [], []
        for eid, idx in self.asked:
            p = proofs.get((eid, idx))
            if p is not None and verify_inclusion(event_leaf(eid), idx, note.size, p.path,
                                                  note.root):
                proven.append(eid)
            else:
                dropped.append((eid, idx))
        if dropped:
            self._alert("DROPPED", f"{len(dropped)} event(s) the hub signed receipts for are "
                        f"not in its log any more (first: {dropped[0][0]} at {dropped[0][1]})",
                        events=[list(d) for d in dropped], later=note.text,
                        receipts=self._receipts_of(e for e, _ in dropped))
        self.dropped = [e for e, _ in dropped]
        self.kept.mark_proven(proven, note.size)
        self.outcome.proven = len(proven)
        self.kept.keep_note("checkpoint", note.size, note.root, note.text, self.vault_uid)

    def _check_witnessed(self, note: hub_notes.HubNote, answer: Checkpoint,
                         largest_id: int | None) -> None:
        """Checkpoints other replicas passed on (witnessed) against the hub's current one:
        the hub must have shown everyone one growing log."""
        proofs = dict(answer.also)
        for w in self.witnessed:
            if w.id == largest_id:
                continue  # checked above, as the largest
            old_root = bytes.fromhex(w.root)
            if w.size > note.size:
                self._alert("ROLLBACK", f"another replica holds this hub's checkpoint of "
                            f"{w.size} events; it now shows {note.size}",
                            earlier=w.note, later=note.text)
            elif not verify_consistency(w.size, note.size, old_root, note.root,
                                        proofs.get(w.size, ())):
                self._alert("SPLIT_VIEW", f"the hub showed another replica a log of {w.size} "
                            f"events that the one it shows you ({note.size}) does not extend",
                            earlier=w.note, later=note.text)
        self.kept.mark_checked(w.id for w in self.witnessed)

    def _receipts_of(self, event_ids: Iterable[str]) -> list[str]:
        """The signed receipts that named these events: the proof the hub took them."""
        by_event = {e: n for e, _i, n, _p in self.kept.receipted()}
        ids = sorted({by_event[e] for e in event_ids if e in by_event})
        return [kept.note for n in ids if (kept := self.kept.note(n)) is not None]

    def withheld(self, lacking: Iterable[str]) -> None:
        """``lacking``: the events the hub's signed frontier does not cover (what we would
        send it): any of them receipted is an event the hub took and no longer holds."""
        receipted = {e for e, _i, _n, _p in self.kept.receipted()}
        gone = [e for e in lacking if e in receipted]
        if gone and self.note is not None:
            self._alert("WITHHELD", f"{len(gone)} event(s) the hub signed receipts for are "
                        f"missing from the frontier it signed (first: {gone[0]})",
                        events=gone, later=self.note.text, receipts=self._receipts_of(gone))
        # The alerts hold the broken receipts; the events are the spoke's to push again,
        # and the hub's next receipt for them is a new statement, checked from scratch.
        self.kept.settle([*self.dropped, *gone])

    def keep_receipt(self, receipt: Receipt) -> None:
        note = self._read(receipt.note, "receipt")
        if note.receipt_digest != hub_notes.receipt_digest(receipt.accepted):
            raise PeerRejected("the hub's receipt does not sign the list it came with",
                               code="BAD_CHECKPOINT")
        self.kept.keep_receipt(note.size, note.root, note.text, self.vault_uid,
                               receipt.accepted)


WITNESS_NAME = "provara-witness"  # the key name of a replica's cosignatures
MAX_RELAYED = 256  # spokes whose latest cosigned checkpoint a hub keeps to pass on


def witness_message(home: Path, vault_uid: str, key: SigningKey, now: int, *,
                    hub_key_id: str | None = None, with_key: bool = False) -> Witness:
    """The latest checkpoint this profile holds of each of its hubs for the vault (or only
    of ``hub_key_id``), each cosigned by ``key`` (tlog-cosignature: "I checked this") at
    ``now`` (POSIX seconds). ``with_key``: name the cosigner in each note, for a note that
    travels on without us (relayed by a hub, inside a bundle)."""
    out: list[WitnessedNote] = []
    hubs = HubReceipts.known_hubs(home) if hub_key_id is None else [hub_key_id]
    for kid in hubs[:MAX_WITNESSED]:
        with HubReceipts(home, kid) as kept:
            hub_b64 = kept.public_key_b64()
            mine = [n for n in kept.notes() if n.kind != "witnessed"
                    and n.note.startswith(hub_notes.ORIGIN_PREFIX + vault_uid + "\n")]
        if hub_b64 is None or not mine:
            continue
        latest = max(mine, key=lambda n: (n.size, n.id))
        signed = SignedNote.parse(latest.note)
        line = cosign(signed.body, WITNESS_NAME, key, now)
        out.append(WitnessedNote(hub_b64, signed.with_signatures(line).to_text(),
                                 key.public.b64 if with_key else None))
    return Witness(tuple(out))


def take_witness(home: Path, vault_uid: str, message: Witness, peer: PublicKey | None,
                 *, me: str | None = None) -> list[Alert]:
    """What another replica passed on: checkpoints of our hubs, each cosigned by its witness
    (the note's ``witness_public_key_b64``, else ``peer``: the key the TLS session proved).
    The same size with another root is a split view at once (both notes signed by the
    hub); anything else is kept as witnessed and checked against the hub's next checkpoint
    (SpokeAudit). ``me``: our own key id (our own note relayed back is not news)."""
    ours = set(HubReceipts.known_hubs(home))
    alerts: list[Alert] = []
    for item in message.notes:
        try:
            hub_key = PublicKey.from_b64(item.hub_public_key_b64)
            if hub_key.key_id not in ours:
                continue  # not a hub of ours: nothing to compare
            witness_key = (PublicKey.from_b64(item.witness_public_key_b64)
                           if item.witness_public_key_b64 is not None else peer)
            if witness_key is None or witness_key.key_id == me:
                continue
            witness = NoteVerifier(WITNESS_NAME, witness_key.raw, COSIGNATURE_V1_TYPE)
            note = hub_notes.read(item.note, hub_key)
            cosigned = verify_cosignatures(SignedNote.parse(item.note), [witness])
        except ValueError as exc:
            log.warning("a checkpoint passed on is unusable: %s", exc)
            continue
        if note.vault_uid != vault_uid or not cosigned:
            continue
        with HubReceipts(home, hub_key.key_id) as kept:
            split = next((mine for mine in kept.of_size(note.size) if mine.kind != "witnessed"
                          and bytes.fromhex(mine.root) != note.root), None)
            if split is None:
                kept.keep_note("witnessed", note.size, note.root, note.text, vault_uid)
                continue
            alert = _raise(kept, hub_key, "SPLIT_VIEW", f"the hub signed two different logs "
                           f"of {note.size} events: one for you, one for {witness_key.key_id}",
                           {"earlier": split.note, "later": note.text,
                            "witness_key_id": witness_key.key_id})
            if alert is not None:
                alerts.append(alert)
    return alerts


# -- witnessed checkpoints inside bundles (the manifest's "witnessed_checkpoints") -----------

def bundle_witness(home: Path, vault_uid: str, key: SigningKey) -> list[dict[str, Any]]:
    """For a bundle's manifest: the latest checkpoint of each of our hubs, cosigned by the
    exporter (who signs the manifest too, so the notes are bound to them)."""
    return [n.to_json() for n in witness_message(home, vault_uid, key, int(time.time()),
                                                 with_key=True).notes]


def take_bundle_witness(home: Path, vault_uid: str, manifest: Mapping[str, Any],
                        signer_b64: str | None) -> list[Alert]:
    """The checkpoints a bundle's exporter witnessed, weighed as a direct peer's would be
    (take_witness); only notes cosigned by the key that signed the manifest count."""
    raw = manifest.get("witnessed_checkpoints")
    if not raw or signer_b64 is None:
        return []
    try:
        message = Witness.from_json({"notes": raw})
    except PeerRejected as exc:
        log.warning("a bundle's witnessed checkpoints are unusable: %s", exc)
        return []
    notes = tuple(n for n in message.notes if n.witness_public_key_b64 == signer_b64)
    return take_witness(home, vault_uid, Witness(notes), None)


# -- the hub's relay of its spokes' cosigned checkpoints (capability "witness-relay") --------

RELAY_FILE_DIR = "hub-witnessed"
RELAY_FORMAT = "provara-desktop-hub-witnessed"


def _relay_path(home: Path, vault_uid: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in vault_uid)[:128]
    return home / RELAY_FILE_DIR / f"{safe}.json"


def relay_keep(home: Path, vault_uid: str, hub_key: PublicKey, message: Witness,
               spoke: PublicKey) -> int:
    """The hub keeps, per spoke, the latest checkpoint of its own that the spoke cosigned
    (and only that: signed by this hub, of this vault, cosigned by the spoke the session
    proved), to pass on to its other spokes. Returns how many it kept."""
    witness = NoteVerifier(WITNESS_NAME, spoke.raw, COSIGNATURE_V1_TYPE)
    best: WitnessedNote | None = None
    for item in message.notes:
        try:
            if PublicKey.from_b64(item.hub_public_key_b64).key_id != hub_key.key_id:
                continue
            note = hub_notes.read(item.note, hub_key)
            if note.vault_uid != vault_uid or not verify_cosignatures(
                    SignedNote.parse(item.note), [witness]):
                continue
        except ValueError:
            continue
        best = WitnessedNote(hub_key.b64, item.note, spoke.b64)
    if best is None:
        return 0
    with profile_lock(home):
        kept = relay_notes(home, vault_uid)
        kept[spoke.key_id] = best
        newest = sorted(kept.items())[-MAX_RELAYED:]
        path = _relay_path(home, vault_uid)
        doc = {"format": RELAY_FORMAT, "version": 1,
               "notes": {k: n.to_json() for k, n in newest}}
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    return 1


def relay_notes(home: Path, vault_uid: str) -> dict[str, WitnessedNote]:
    """spoke key id -> the cosigned checkpoint it left with this hub."""
    try:
        doc = read_profile_doc(_relay_path(home, vault_uid), fmt=RELAY_FORMAT,
                               what="relayed checkpoints file")
    except (StoreError, InputError) as exc:
        log.warning("the relayed checkpoints cannot be read: %s", exc)
        return {}
    notes = doc.get("notes") if doc is not None else None
    out: dict[str, WitnessedNote] = {}
    if isinstance(notes, dict):
        for kid, item in notes.items():
            try:
                out[str(kid)] = WitnessedNote.from_json(item, "relayed", 0)
            except ValueError:
                continue
    return out


def relay_message(home: Path, vault_uid: str, spoke: PublicKey) -> Witness:
    """What the hub passes on to ``spoke``: the other spokes' cosigned checkpoints."""
    others = [n for kid, n in sorted(relay_notes(home, vault_uid).items())
              if kid != spoke.key_id]
    return Witness(tuple(others[-MAX_WITNESSED:]))


def record_alerts(vault: Vault, key: SigningKey, actor: str, alerts: list[Alert]) -> None:
    """Each alert as an extension event of ours in ``vault`` (it does not change the
    beliefs): the proof, the hub's own signed notes, travels with the evidence."""
    for a in alerts:
        event = vault.new_event(key=key, actor=actor, event_type=ALERT_EVENT,
                                namespace="local",
                                payload={"code": a.code, "message": a.message,
                                         "proof": a.proof, "raised_utc": a.raised_utc})
        vault.append([event], signer=key)
        with HubReceipts(vault.home, str(a.proof.get("hub_key_id"))) as kept:
            kept.recorded(a.id, str(event["event_id"]))

"""The sync protocol's hub messages (capability ``receipts``; docs/TOPOLOGIES.md): a spoke's
``audit`` request, the hub's signed ``checkpoint`` answer with its proofs, and the receipt
an ``ack`` carries. Parsed as strictly as every other message (net/messages.py): a hostile
hub gets a PeerRejected naming the field, never a KeyError; whether the proofs hold is the
spoke's check after parsing (net/hub_audit.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from provara_desktop.core.errors import PeerRejected

_EVT = re.compile(r"evt_[0-9a-f]{24}")
_HASH = re.compile(r"[0-9a-f]{64}")
MAX_NOTE = 64 * 1024  # a checkpoint note: a few lines and signatures
MAX_PROOF = 64  # hashes in one proof: a tree of 2^64 leaves needs fewer
MAX_PROVE = 512  # receipted leaves one audit asks proofs for
MAX_RECEIPTED = 100_000  # events one receipt names (a batch is far smaller)
MAX_WITNESSED = 16  # checkpoints one side passes on, and sizes one audit asks about


def _fail(msg: str, name: str, problem: str) -> PeerRejected:
    return PeerRejected(f"{msg} message: {name} {problem}", code="BAD_MESSAGE")


def _size(doc: dict[str, Any], msg: str, name: str) -> int:
    v = doc.get(name)
    if type(v) is not int or not 0 <= v <= 1 << 53:
        raise _fail(msg, name, "must be an integer from 0 to 2^53")
    return v


def _leaves(raw: Any, msg: str, name: str, limit: int) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, list) or len(raw) > limit:
        raise _fail(msg, name, f"must be a list of at most {limit} [event_id, index] pairs")
    out = []
    for item in raw:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not _EVT.fullmatch(item[0]) or type(item[1]) is not int
                or not 0 <= item[1] <= 1 << 53):
            raise _fail(msg, name, "must hold [event_id, leaf index] pairs")
        out.append((item[0], item[1]))
    return tuple(out)


def _hashes(raw: Any, msg: str, name: str) -> tuple[bytes, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_PROOF or not all(
            isinstance(h, str) and _HASH.fullmatch(h) for h in raw):
        raise _fail(msg, name, f"must be a list of at most {MAX_PROOF} sha256 hex digests")
    return tuple(bytes.fromhex(h) for h in raw)


def _note(doc: dict[str, Any], msg: str) -> str:
    v = doc.get("note")
    if not isinstance(v, str) or not v or len(v) > MAX_NOTE:
        raise _fail(msg, "note", f"must be a signed note of 1 to {MAX_NOTE} characters")
    return v


@dataclass(frozen=True)
class Audit:
    """Spoke to hub, right after the frontiers: the largest tree size the spoke has seen
    signed by this hub, and receipted leaves it wants proven."""

    TYPE: ClassVar[str] = "audit"
    known_size: int
    prove: tuple[tuple[str, int], ...] = ()
    # sizes of checkpoints other replicas passed on (witnessed), to be proven consistent too
    also: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "known_size": self.known_size,
                "prove": [list(p) for p in self.prove], "also": list(self.also)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Audit:
        also = doc.get("also", [])
        if not isinstance(also, list) or len(also) > MAX_WITNESSED or not all(
                type(x) is int and 0 <= x <= 1 << 53 for x in also):
            raise _fail(cls.TYPE, "also", f"must be at most {MAX_WITNESSED} tree sizes")
        return cls(_size(doc, cls.TYPE, "known_size"),
                   _leaves(doc.get("prove", []), cls.TYPE, "prove", MAX_PROVE), tuple(also))


@dataclass(frozen=True)
class Inclusion:
    event_id: str
    index: int
    path: tuple[bytes, ...]


@dataclass(frozen=True)
class Checkpoint:
    """Hub to spoke: its signed checkpoint, the consistency proof from the spoke's
    ``known_size``, and an inclusion proof per asked leaf (or none where it has none)."""

    TYPE: ClassVar[str] = "checkpoint"
    note: str
    consistency: tuple[bytes, ...] = ()
    inclusion: tuple[Inclusion, ...] = ()
    also: tuple[tuple[int, tuple[bytes, ...]], ...] = ()  # (size, consistency proof)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "note": self.note,
                "also": [[n, [h.hex() for h in proof]] for n, proof in self.also],
                "consistency": [h.hex() for h in self.consistency],
                "inclusion": [{"event_id": i.event_id, "index": i.index,
                               "path": [h.hex() for h in i.path]} for i in self.inclusion]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Checkpoint:
        m = cls.TYPE
        raw = doc.get("inclusion", [])
        if not isinstance(raw, list) or len(raw) > MAX_PROVE:
            raise _fail(m, "inclusion", f"must be a list of at most {MAX_PROVE} proofs")
        proofs = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise _fail(m, f"inclusion[{i}]", "must be an object")
            pair = _leaves([[item.get("event_id"), item.get("index")]], m,
                           f"inclusion[{i}]", 1)[0]
            proofs.append(Inclusion(pair[0], pair[1],
                                    _hashes(item.get("path"), m, f"inclusion[{i}].path")))
        also = doc.get("also", [])
        if not isinstance(also, list) or len(also) > MAX_WITNESSED:
            raise _fail(m, "also", f"must be at most {MAX_WITNESSED} proofs")
        pairs = []
        for i, item in enumerate(also):
            if not isinstance(item, list) or len(item) != 2 or type(item[0]) is not int:
                raise _fail(m, f"also[{i}]", "must be [tree size, proof]")
            pairs.append((item[0], _hashes(item[1], m, f"also[{i}]")))
        return cls(_note(doc, m), _hashes(doc.get("consistency", []), m, "consistency"),
                   tuple(proofs), tuple(pairs))


@dataclass(frozen=True)
class Receipt:
    """In an ``ack``: the hub's signed checkpoint right after the batch's commit (its
    ``receipt`` line is the digest of ``accepted``) and where each event now is."""

    note: str
    accepted: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {"note": self.note, "accepted": [list(p) for p in self.accepted]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Receipt:
        return cls(_note(doc, "ack.receipt"),
                   _leaves(doc.get("accepted"), "ack.receipt", "accepted", MAX_RECEIPTED))



@dataclass(frozen=True)
class WitnessedNote:
    hub_public_key_b64: str
    note: str  # the hub's signed checkpoint, cosigned by the witness
    # The witness's key, when it is not the side passing the note on: a note a hub relays
    # from another spoke, or one inside a bundle (None: the session's peer cosigned it)
    witness_public_key_b64: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {"hub_public_key_b64": self.hub_public_key_b64, "note": self.note}
        if self.witness_public_key_b64 is not None:
            doc["witness_public_key_b64"] = self.witness_public_key_b64
        return doc

    @classmethod
    def from_json(cls, item: Any, where: str, i: int) -> WitnessedNote:
        key = item.get("hub_public_key_b64") if isinstance(item, dict) else None
        if not isinstance(key, str) or not 1 <= len(key) <= 64:
            raise _fail(where, f"notes[{i}].hub_public_key_b64", "must be a key")
        assert isinstance(item, dict)
        witness = item.get("witness_public_key_b64")
        if witness is not None and (not isinstance(witness, str) or not 1 <= len(witness) <= 64):
            raise _fail(where, f"notes[{i}].witness_public_key_b64", "must be a key")
        return cls(key, _note(item, where), witness)


@dataclass(frozen=True)
class Witness:
    """Capability ``witness``, between two replicas of one vault: the latest checkpoint each
    holds of each of its hubs, so a hub that shows them different logs is caught."""

    TYPE: ClassVar[str] = "witness"
    notes: tuple[WitnessedNote, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "notes": [n.to_json() for n in self.notes]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Witness:
        raw = doc.get("notes", [])
        if not isinstance(raw, list) or len(raw) > MAX_WITNESSED:
            raise _fail(cls.TYPE, "notes", f"must be a list of at most {MAX_WITNESSED} notes")
        return cls(tuple(WitnessedNote.from_json(item, cls.TYPE, i)
                         for i, item in enumerate(raw)))

"""The sync protocol's messages (docs/SYNC_PROTOCOL.md): one frozen dataclass each, to and
from the JSON object a MESSAGE frame carries.

Parsing is strict about what v1 needs (every required field present, of its type, within its
limits: a hostile peer gets a :class:`PeerRejected` naming the message and the field, never a
KeyError) and lenient about what it does not know: an unknown field is ignored, so a later
minor revision can add one without breaking v1 peers. Whatever must not be ignored comes with
a capability named in ``hello`` or a new protocol version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from provara_desktop.core.errors import PeerRejected
from provara_desktop.net.hub_messages import Audit, Checkpoint, Witness

PROTOCOL = "provara-sync"
VERSIONS: tuple[int, ...] = (1,)  # every version this program speaks
ROLES = ("peer", "hub", "spoke")  # docs: roles; v1 behaves the same for all three
# What this program offers in v1. "vouch": a side may send one ``vouch`` message before its
# first batch, naming the keys it trusts among those that sign its batches (docs: "Vouching").
# "receipts": a hub signs a checkpoint of its log and a receipt per batch, and a spoke audits
# it before pushing (net/hub_messages.py, docs/TOPOLOGIES.md).
# "witness": two replicas pass on their hubs' latest checkpoints to each other.
CAPABILITIES: tuple[str, ...] = ("attachments", "receipts", "vouch", "window", "witness",
                                 "witness-relay")

_EVT = re.compile(r"evt_[0-9a-f]{24}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")

MAX_TEXT = 1024  # a vault uid, an actor, a capability, a reason
MAX_ACTORS = 100_000
MAX_HEADS = 256  # per actor (more than two is already a badly forked chain)
MAX_SAMPLES = 64  # per actor in ``lacking``
MAX_LIST = 100_000  # keys, prerequisites, attachments of one batch


def _fail(msg: str, name: str, problem: str) -> PeerRejected:
    return PeerRejected(f"{msg} message: {name} {problem}", code="BAD_MESSAGE")


def _text(doc: dict[str, Any], msg: str, name: str, *, optional: bool = False) -> str:
    v = doc.get(name)
    if v is None and optional:
        return ""
    if not isinstance(v, str) or not v or len(v) > MAX_TEXT:
        raise _fail(msg, name, f"must be a text of 1 to {MAX_TEXT} characters")
    return v


def _int(doc: dict[str, Any], msg: str, name: str, *, low: int = 0,
         high: int = 1 << 53) -> int:
    v = doc.get(name)
    if type(v) is not int or not low <= v <= high:
        raise _fail(msg, name, f"must be an integer from {low} to {high}")
    return v


def _list(doc: dict[str, Any], msg: str, name: str, limit: int = MAX_LIST) -> list[Any]:
    v = doc.get(name, [])
    if not isinstance(v, list) or len(v) > limit:
        raise _fail(msg, name, f"must be a list of at most {limit} items")
    return v


def _ids(values: Any, msg: str, name: str, limit: int) -> tuple[str, ...]:
    if not isinstance(values, list) or len(values) > limit or not all(
            isinstance(e, str) and _EVT.fullmatch(e) for e in values):
        raise _fail(msg, name, f"must be a list of at most {limit} event ids")
    return tuple(values)


def _actor_map(doc: dict[str, Any], msg: str, name: str) -> dict[str, Any]:
    v = doc.get(name)
    if not isinstance(v, dict) or len(v) > MAX_ACTORS:
        raise _fail(msg, name, f"must be an object of at most {MAX_ACTORS} actors")
    for actor, entry in v.items():
        if not actor or len(actor) > MAX_TEXT or not isinstance(entry, dict):
            raise _fail(msg, f"{name}[{actor[:40]!r}]", "must be an object")
    return v


@dataclass(frozen=True)
class Hello:
    """First message of each side: what it speaks and what it offers."""

    TYPE: ClassVar[str] = "hello"
    versions: tuple[int, ...]
    vault_uid: str
    role: str = "peer"
    capabilities: tuple[str, ...] = ()
    max_frame: int = 0  # the largest frame this side accepts (0: the protocol default)
    max_batch: int = 0  # the most events per batch this side wants (0: the default)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "protocol": PROTOCOL, "versions": list(self.versions),
                "vault_uid": self.vault_uid, "role": self.role,
                "capabilities": list(self.capabilities), "max_frame": self.max_frame,
                "max_batch": self.max_batch}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Hello:
        m = cls.TYPE
        if doc.get("protocol") != PROTOCOL:
            raise PeerRejected(f"hello: not the {PROTOCOL} protocol "
                               f"({str(doc.get('protocol'))[:40]!r})", code="VERSION")
        versions = _list(doc, m, "versions", 64)
        if not versions or not all(type(v) is int and 0 < v < 1 << 16 for v in versions):
            raise _fail(m, "versions", "must list protocol versions (1 to 65535)")
        role = _text(doc, m, "role")
        if role not in ROLES:
            raise _fail(m, "role", f"must be one of {', '.join(ROLES)}")
        caps = _list(doc, m, "capabilities", 256)
        if not all(isinstance(c, str) and 0 < len(c) <= 64 for c in caps):
            raise _fail(m, "capabilities", "must be a list of short texts")
        return cls(tuple(versions), _text(doc, m, "vault_uid"), role, tuple(caps),
                   _int(doc, m, "max_frame", high=1 << 31),
                   _int(doc, m, "max_batch", high=1 << 31))


@dataclass(frozen=True)
class ActorHeads:
    count: int  # events of this actor the side holds
    heads: tuple[str, ...]  # events of this actor no other of its events builds on


@dataclass(frozen=True)
class Frontier:
    """Per actor: how many events, and the chain heads (two or more: a fork)."""

    TYPE: ClassVar[str] = "frontier"
    actors: dict[str, ActorHeads]
    scope: dict[str, Any] | None = None  # reserved (scopes: docs); v1 sends none

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.TYPE, "actors": {
            a: {"count": h.count, "heads": list(h.heads)} for a, h in self.actors.items()}}
        if self.scope is not None:
            doc["scope"] = self.scope
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Frontier:
        m = cls.TYPE
        out: dict[str, ActorHeads] = {}
        for actor, entry in _actor_map(doc, m, "actors").items():
            where = f"actors[{actor[:40]!r}]"
            heads = _ids(entry.get("heads"), m, f"{where}.heads", MAX_HEADS)
            count = _int(entry, m, "count")
            if count < len(heads) or not heads:
                raise _fail(m, where, "must list at least one head and count them all")
            out[actor] = ActorHeads(count, heads)
        scope = doc.get("scope")
        if scope is not None and not isinstance(scope, dict):
            raise _fail(m, "scope", "must be an object")
        return cls(out, scope)


@dataclass(frozen=True)
class Lack:
    lacking: tuple[str, ...]  # the other side's heads this side does not hold
    samples: tuple[str, ...]  # this side's own events of the actor, 1, 2, 4... before its heads


@dataclass(frozen=True)
class Lacking:
    """Sent when the two frontiers differ: per actor where the other side lists a head this
    side lacks, which heads, and samples of this side's own chain (docs: "what I lack")."""

    TYPE: ClassVar[str] = "lacking"
    actors: dict[str, Lack]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "actors": {
            a: {"lacking": list(x.lacking), "samples": list(x.samples)}
            for a, x in self.actors.items()}}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Lacking:
        m = cls.TYPE
        out = {}
        for actor, entry in _actor_map(doc, m, "actors").items():
            where = f"actors[{actor[:40]!r}]"
            out[actor] = Lack(_ids(entry.get("lacking"), m, f"{where}.lacking", MAX_HEADS),
                              _ids(entry.get("samples", []), m, f"{where}.samples",
                                   MAX_SAMPLES))
        return cls(out)


@dataclass(frozen=True)
class AttachmentRef:
    sha256: str
    size: int


def _att_refs(values: list[Any], m: str, name: str) -> tuple[AttachmentRef, ...]:
    out = []
    for a in values:
        if not isinstance(a, dict) or not isinstance(a.get("sha256"), str) or not \
                _SHA256.fullmatch(a["sha256"]):
            raise _fail(m, name, "must list {sha256, size} objects")
        out.append(AttachmentRef(a["sha256"], _int(a, m, "size", high=1 << 40)))
    return tuple(out)


@dataclass(frozen=True)
class Events:
    """A batch: this header, one DATA frame with ``count`` NDJSON lines (``size`` bytes, in
    the sender's log order), then each carried attachment (an ``attachment`` message and
    its DATA chunks). The receiver answers with ``ack`` once it committed, or ``error``."""

    TYPE: ClassVar[str] = "events"
    batch: int  # 1, 2, 3... within the session
    count: int
    size: int
    keys: tuple[dict[str, Any], ...] = ()  # keys.json entries of the keys that sign them
    prerequisites: tuple[str, ...] = ()  # ids outside the batch its events chain to
    dangling: tuple[str, ...] = ()  # ids they chain to that the sender does not hold either
    attachments: tuple[AttachmentRef, ...] = ()  # carried after the lines, in this order
    missing_attachments: tuple[str, ...] = ()  # referenced, but the sender lacks the bytes

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "batch": self.batch, "count": self.count,
                "size": self.size, "keys": list(self.keys),
                "prerequisites": list(self.prerequisites), "dangling": list(self.dangling),
                "attachments": [{"sha256": a.sha256, "size": a.size}
                                for a in self.attachments],
                "missing_attachments": list(self.missing_attachments)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Events:
        m = cls.TYPE
        keys = _list(doc, m, "keys")
        if not all(isinstance(k, dict) for k in keys):
            raise _fail(m, "keys", "must be a list of keys.json entries")
        missing = _list(doc, m, "missing_attachments")
        if not all(isinstance(s, str) and _SHA256.fullmatch(s) for s in missing):
            raise _fail(m, "missing_attachments", "must be a list of sha256 digests")
        return cls(_int(doc, m, "batch", low=1), _int(doc, m, "count", low=1),
                   _int(doc, m, "size", low=1), tuple(keys),
                   _ids(doc.get("prerequisites", []), m, "prerequisites", MAX_LIST),
                   _ids(doc.get("dangling", []), m, "dangling", MAX_LIST),
                   _att_refs(_list(doc, m, "attachments"), m, "attachments"),
                   tuple(missing))


@dataclass(frozen=True)
class Attachment:
    """One attachment's bytes follow, in DATA frames of at most the chunk size."""

    TYPE: ClassVar[str] = "attachment"
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Attachment:
        (ref,) = _att_refs([doc], cls.TYPE, "sha256")
        return cls(ref.sha256, ref.size)


@dataclass(frozen=True)
class Ack:
    """The receiver committed the batch (atomically) or held it back: nothing is pending."""

    TYPE: ClassVar[str] = "ack"
    batch: int
    accepted: int  # written to the receiver's log
    held_back: int  # by keys the receiver's user does not trust
    already_present: int
    forks: int = 0
    # reserved for receipts (docs: extension points): a signed statement of what was
    # accepted, sent when both sides offered the "receipts" capability
    receipt: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.TYPE, "batch": self.batch,
                               "accepted": self.accepted, "held_back": self.held_back,
                               "already_present": self.already_present, "forks": self.forks}
        if self.receipt is not None:
            doc["receipt"] = self.receipt
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Ack:
        m = cls.TYPE
        receipt = doc.get("receipt")
        return cls(_int(doc, m, "batch", low=1), _int(doc, m, "accepted"),
                   _int(doc, m, "held_back"), _int(doc, m, "already_present"),
                   _int(doc, m, "forks"), receipt if isinstance(receipt, dict) else None)


@dataclass(frozen=True)
class Done:
    """The sender has nothing more to send in this session."""

    TYPE: ClassVar[str] = "done"
    sent: int  # events sent in this session
    batches: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "sent": self.sent, "batches": self.batches}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Done:
        return cls(_int(doc, cls.TYPE, "sent"), _int(doc, cls.TYPE, "batches"))


@dataclass(frozen=True)
class Error:
    """The session ends: ``code`` (docs: "Errors") and a one-line reason for people."""

    TYPE: ClassVar[str] = "error"
    code: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "code": self.code, "reason": self.reason[:MAX_TEXT]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Error:
        code = doc.get("code")
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise _fail(cls.TYPE, "code", "must be an upper-case error code")
        return cls(code, _text(doc, cls.TYPE, "reason"))


MAX_VOUCHES = 10_000
_KEY_ID = re.compile(r"bp1_[0-9a-f]{16}")


@dataclass(frozen=True)
class VouchedKey:
    """A key the sender trusts, with whether it trusts it directly (a decision of its own:
    added by hand, paired, accepted at an import) or only through someone's vouching."""

    key_id: str
    public_key_b64: str
    name: str = ""
    direct: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "public_key_b64": self.public_key_b64,
                "name": self.name, "direct": self.direct}


@dataclass(frozen=True)
class Vouch:
    """Capability ``vouch``: sent at most once, before the sender's first ``events`` (or its
    ``done``), naming the keys the sender trusts among those that sign what it sends."""

    TYPE: ClassVar[str] = "vouch"
    keys: tuple[VouchedKey, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "keys": [k.to_json() for k in self.keys]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Vouch:
        out = []
        for i, raw in enumerate(_list(doc, cls.TYPE, "keys", MAX_VOUCHES)):
            where = f"keys[{i}]"
            if not isinstance(raw, dict):
                raise _fail(cls.TYPE, where, "must be an object")
            kid = raw.get("key_id")
            if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
                raise _fail(cls.TYPE, f"{where}.key_id", "must be a key id (bp1_ + 16 hex)")
            b64 = _text(raw, cls.TYPE, "public_key_b64")
            name = raw.get("name", "")
            if not isinstance(name, str) or len(name) > MAX_TEXT:
                raise _fail(cls.TYPE, f"{where}.name", f"must be a text of at most {MAX_TEXT}")
            direct = raw.get("direct", True)
            if not isinstance(direct, bool):
                raise _fail(cls.TYPE, f"{where}.direct", "must be true or false")
            out.append(VouchedKey(kid, b64, name, direct))
        return cls(tuple(out))


Message = (Hello | Frontier | Lacking | Events | Attachment | Ack | Done | Error | Vouch | Audit
           | Checkpoint | Witness)
_BY_TYPE: dict[str, Any] = {c.TYPE: c for c in
                            (Hello, Frontier, Lacking, Events, Attachment, Ack, Done, Error,
                             Vouch, Audit, Checkpoint, Witness)}


def parse(doc: dict[str, Any]) -> Message:
    """The message a frame's JSON object holds; PeerRejected for an unknown type."""
    kind = doc.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise PeerRejected(f"unknown message type {str(kind)[:40]!r}", code="BAD_MESSAGE")
    result: Message = cls.from_json(doc)
    return result

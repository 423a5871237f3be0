"""Federation contracts (docs/FEDERATION.md): the signed document by which several
organisations ("members") replicating one case vault agree what flows between them.

This module is the contract's whole meaning, with no I/O: parsing (strict: an unknown field
is refused, since it might be a rule a newer version enforces and this one would ignore),
signing and verifying the members' signatures, and the rule of each direction, which sync
and bundles consult per event. The rule of a direction is precomputed into sets once, so
that asking it about one event is a few set look-ups (it runs for every event of a vault).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from provara_desktop.core.canonical import canonical_bytes, strict_loads
from provara_desktop.core.errors import InputError
from provara_desktop.core.key_life import KEY_LIFE_TYPES
from provara_desktop.core.keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    b64decode_strict,
    b64encode,
    fingerprint_for,
    key_id_for,
    verify_raw,
)
from provara_desktop.core.reducer import NAMESPACES

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from provara_desktop.core.keys import SigningKey

FORMAT = "provara-federation-contract"
FORMAT_VERSION = 1
# Prepended to what a member signs, so that a contract signature can never be taken for the
# signature of an event, a bundle manifest or a checkpoint made with the same key.
SIGNING_DOMAIN = b"provara-federation-contract/v1\n"

# Events that cross every direction whatever the flows say: without them a replica cannot
# verify what it holds (GENESIS, the key life) nor learn of a revocation; federation
# events (acknowledgements and the like) carry the contract's own business.
STRUCTURAL_TYPES = frozenset({"GENESIS", *KEY_LIFE_TYPES})
FEDERATION_TYPE_PREFIX = "com.provara.desktop.federation_"

ANY_ACTOR = "*"
MEMBER_PREFIX = "member:"

_ID = re.compile(r"[a-z0-9._-]{1,64}")
_KEY_ID = re.compile(r"bp1_[0-9a-f]{16}")
_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|\+00:00)")
_MAX_TEXT = 200
_MAX_UID = 128

_TOP_REQUIRED = ("format", "format_version", "contract_id", "revision", "vault_uid",
                 "members", "flows")
_TOP_OPTIONAL = ("title", "signatures")
_MEMBER_REQUIRED = ("member", "key_id", "public_key_b64", "keys")
_MEMBER_OPTIONAL = ("name",)
_FLOW_FIELDS = ("from", "to", "actors", "namespaces")
_SIGNATURE_FIELDS = ("key_id", "signed_at_utc", "sig")

_VALID_NS = frozenset(NAMESPACES)
_NS_SAME: dict[str | None, str] = {ns: ns for ns in NAMESPACES}  # the usual spellings

SignatureStatus = Literal["valid", "missing", "bad"]


class ContractError(InputError):
    """A contract that is not a valid version-1 document. ``where`` is the field's path
    (``members[1].key_id``, ``flows[0].to``, ``document`` for the whole text)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message, where=where)


# -- the document ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    member: str
    name: str | None
    key_id: str  # the member's federation key: signs the contract (and, later, its acks)
    public_key_b64: str  # kept as written: the signed bytes are the text, not the key
    keys: tuple[str, ...]  # key ids of its people and devices

    @property
    def public_key(self) -> bytes:
        return b64decode_strict(self.public_key_b64, expected_len=PUBLIC_KEY_BYTES)

    @property
    def fingerprint(self) -> str:
        return fingerprint_for(self.public_key)

    def all_keys(self) -> tuple[str, ...]:
        """What ``member:<id>`` stands for: the federation key and every listed key."""
        return (self.key_id, *self.keys)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"member": self.member, "key_id": self.key_id,
                               "public_key_b64": self.public_key_b64, "keys": list(self.keys)}
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class FlowEntry:
    """One entry of ``flows``. Several entries of one direction add up."""

    from_member: str
    to_member: str
    actors: tuple[str, ...]
    namespaces: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"from": self.from_member, "to": self.to_member, "actors": list(self.actors),
                "namespaces": list(self.namespaces)}


@dataclass(frozen=True)
class Signature:
    member: str
    key_id: str
    signed_at_utc: str  # the signer's own note: not covered by any signature
    sig: str  # base64, kept as written (a bad one is reported, not refused)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "signed_at_utc": self.signed_at_utc, "sig": self.sig}


@dataclass(frozen=True)
class Contract:
    contract_id: str
    revision: int
    vault_uid: str
    title: str | None
    members: tuple[Member, ...]
    flows: tuple[FlowEntry, ...]
    signatures: tuple[Signature, ...] = ()

    # What every member signs: everything but the signatures, so all sign one same text.
    def body_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "contract_id": self.contract_id, "revision": self.revision,
            "vault_uid": self.vault_uid,
            "members": [m.to_json() for m in self.members],
            "flows": [f.to_json() for f in self.flows]}
        if self.title is not None:
            out["title"] = self.title
        return out

    def to_json(self) -> dict[str, Any]:
        """The whole document, signatures included (a JSON-ready dict)."""
        return {**self.body_json(),
                "signatures": {s.member: s.to_json() for s in self.signatures}}

    def signing_bytes(self) -> bytes:
        return SIGNING_DOMAIN + canonical_bytes(self.body_json())

    def digest(self) -> str:
        """SHA-256 hex of the signing bytes: what members compare, like a fingerprint."""
        return self._digest

    @cached_property
    def _digest(self) -> str:
        return hashlib.sha256(self.signing_bytes()).hexdigest()

    def member_ids(self) -> tuple[str, ...]:
        return tuple(m.member for m in self.members)

    def member(self, member_id: str) -> Member:
        found = self._members.get(member_id)
        if found is None:
            raise ContractError("members", f'no member "{member_id}" in contract '
                                f"{self.contract_id}")
        return found

    def signature_of(self, member_id: str) -> Signature | None:
        return next((s for s in self.signatures if s.member == member_id), None)

    def member_of_key(self, key_id: str) -> str | None:
        return self._key_owner.get(key_id)

    def direction(self, from_member: str, to_member: str) -> FlowRule:
        """The rule of what may go from ``from_member``'s replica to ``to_member``'s."""
        for who in (from_member, to_member):
            self.member(who)
        if from_member == to_member:
            raise ContractError("flows", f'"{from_member}" to itself is no direction')
        rules = self._rules
        rule = rules.get((from_member, to_member))
        if rule is None:
            rule = rules[(from_member, to_member)] = FlowRule(self, from_member, to_member)
        return rule

    @cached_property
    def _members(self) -> dict[str, Member]:
        return {m.member: m for m in self.members}

    @cached_property
    def _key_owner(self) -> dict[str, str]:
        return {k: m.member for m in self.members for k in m.all_keys()}

    @cached_property
    def _rules(self) -> dict[tuple[str, str], FlowRule]:
        return {}  # filled per direction as asked (n members make n*(n-1) of them)


# -- parsing ---------------------------------------------------------------------------------

def parse_contract(data: bytes | str) -> Contract:
    """A contract from its JSON text. Raises :class:`ContractError` naming the field."""
    try:
        doc = strict_loads(data, where="document")
    except InputError as exc:
        raise ContractError("document", exc.detail) from None
    return contract_from_json(doc)


def contract_from_json(doc: Any) -> Contract:
    """A contract from an already parsed JSON value (checked as :func:`parse_contract`)."""
    if not isinstance(doc, dict):
        raise ContractError("document", f"a contract is a JSON object, not {_kind(doc)}")
    # The format first: a newer version's document is "unknown version", not a list of
    # fields this version has never heard of.
    if "format" not in doc:
        raise ContractError("format", f'missing (a contract says "format": "{FORMAT}")')
    if doc["format"] != FORMAT:
        raise ContractError("format", f'{_show(doc["format"])} is not "{FORMAT}"')
    version = doc.get("format_version")
    if type(version) is not int:
        raise ContractError("format_version", "missing or not an integer")
    if version != FORMAT_VERSION:
        raise ContractError("format_version", f"version {version} is not known here (this "
                            f"version of provara-desktop reads version {FORMAT_VERSION})")
    _fields(doc, "", _TOP_REQUIRED, _TOP_OPTIONAL)

    contract_id = _id(doc["contract_id"], "contract_id")
    revision = doc["revision"]
    if type(revision) is not int or revision < 1:
        raise ContractError("revision", f"{_show(revision)} is not an integer >= 1")
    vault_uid = _text(doc["vault_uid"], "vault_uid", _MAX_UID)
    if not vault_uid or any(c.isspace() for c in vault_uid):
        raise ContractError("vault_uid", "empty, or holds white space")
    title = _text(doc["title"], "title", _MAX_TEXT) if "title" in doc else None

    members = _members(doc["members"])
    flows = _flows(doc["flows"], members)
    signatures = _signatures(doc.get("signatures", {}))
    return Contract(contract_id=contract_id, revision=revision, vault_uid=vault_uid,
                    title=title, members=members, flows=flows, signatures=signatures)


def _members(raw: Any) -> tuple[Member, ...]:
    if not isinstance(raw, list):
        raise ContractError("members", f"a list, not {_kind(raw)}")
    if len(raw) < 2:
        raise ContractError("members", f"{len(raw)} member(s): a federation has at least 2")
    out: list[Member] = []
    seen_ids: dict[str, int] = {}
    owner: dict[str, str] = {}  # key id -> where it was first given
    for i, m in enumerate(raw):
        at = f"members[{i}]"
        if not isinstance(m, dict):
            raise ContractError(at, f"a member is an object, not {_kind(m)}")
        _fields(m, at, _MEMBER_REQUIRED, _MEMBER_OPTIONAL)
        mid = _id(m["member"], f"{at}.member")
        if mid in seen_ids:
            raise ContractError(f"{at}.member", f'"{mid}" is members[{seen_ids[mid]}] '
                                "already (member ids are unique)")
        seen_ids[mid] = i
        name = _text(m["name"], f"{at}.name", _MAX_TEXT) if "name" in m else None
        key_id = _key_id(m["key_id"], f"{at}.key_id")
        pub_text = m["public_key_b64"]
        if not isinstance(pub_text, str):
            raise ContractError(f"{at}.public_key_b64", f"a string, not {_kind(pub_text)}")
        try:
            pub = b64decode_strict(pub_text, expected_len=PUBLIC_KEY_BYTES)
        except ValueError as exc:
            raise ContractError(f"{at}.public_key_b64", f"not an Ed25519 public key "
                                f"({exc})") from None
        if key_id_for(pub) != key_id:
            raise ContractError(f"{at}.key_id", f"{key_id} is not the key id of "
                                f"public_key_b64 ({key_id_for(pub)})")
        _own(owner, key_id, mid, f"{at}.key_id")
        keys = m["keys"]
        if not isinstance(keys, list):
            raise ContractError(f"{at}.keys", f"a list of key ids, not {_kind(keys)}")
        for j, k in enumerate(keys):
            kat = f"{at}.keys[{j}]"
            _key_id(k, kat)
            if k == key_id:
                raise ContractError(kat, f"{k} is this member's key_id already "
                                    f'("member:{mid}" covers it)')
            _own(owner, k, mid, kat)
        out.append(Member(member=mid, name=name, key_id=key_id, public_key_b64=pub_text,
                          keys=tuple(keys)))
    return tuple(out)


def _own(owner: dict[str, str], key_id: str, member: str, at: str) -> None:
    """A key belongs to one member only: otherwise whose events it signs is ambiguous."""
    if key_id in owner:
        raise ContractError(at, f"{key_id} is given already at {owner[key_id]} (a key "
                            "belongs to one member only)")
    owner[key_id] = at


def _flows(raw: Any, members: tuple[Member, ...]) -> tuple[FlowEntry, ...]:
    if not isinstance(raw, list):
        raise ContractError("flows", f"a list, not {_kind(raw)}")
    ids = {m.member for m in members}
    keys = {k for m in members for k in m.all_keys()}
    out: list[FlowEntry] = []
    for i, f in enumerate(raw):
        at = f"flows[{i}]"
        if not isinstance(f, dict):
            raise ContractError(at, f"a flow is an object, not {_kind(f)}")
        _fields(f, at, _FLOW_FIELDS, ())
        ends = []
        for end in ("from", "to"):
            who = f[end]
            if not isinstance(who, str):
                raise ContractError(f"{at}.{end}", f"a member id, not {_kind(who)}")
            if who not in ids:
                raise ContractError(f"{at}.{end}", f"no member {_show(who)}")
            ends.append(who)
        if ends[0] == ends[1]:
            raise ContractError(f"{at}.to", f'the same member as "from" ("{ends[0]}"): a '
                                "flow goes between two members")
        actors = _list(f["actors"], f"{at}.actors", "an actor")
        for j, a in enumerate(actors):
            aat = f"{at}.actors[{j}]"
            if not isinstance(a, str):
                raise ContractError(aat, f"a string, not {_kind(a)}")
            if a == ANY_ACTOR:
                continue
            if a.startswith(MEMBER_PREFIX):
                if a[len(MEMBER_PREFIX):] not in ids:
                    raise ContractError(aat, f'no member "{a[len(MEMBER_PREFIX):]}"')
            elif _KEY_ID.fullmatch(a):
                if a not in keys:
                    raise ContractError(aat, f"{a} is no member's key (list it in a "
                                        f'member\'s "keys", or use "{ANY_ACTOR}")')
            else:
                raise ContractError(aat, f'{_show(a)} is none of "member:<id>", a key id '
                                    f'(bp1_ and 16 hex digits) or "{ANY_ACTOR}"')
        namespaces = _list(f["namespaces"], f"{at}.namespaces", "a namespace")
        for j, ns in enumerate(namespaces):
            if ns not in _VALID_NS:
                raise ContractError(f"{at}.namespaces[{j}]", f"{_show(ns)} is not one of "
                                    f"{', '.join(NAMESPACES)}")
        out.append(FlowEntry(ends[0], ends[1], tuple(actors), tuple(namespaces)))
    return tuple(out)


def _list(raw: Any, at: str, what: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ContractError(at, f"a list, not {_kind(raw)}")
    if not raw:
        raise ContractError(at, f"empty: name at least {what} (or leave the flow out, and "
                            "nothing but structural events goes that way)")
    seen: set[Any] = set()
    for j, v in enumerate(raw):
        if isinstance(v, str) and v in seen:
            raise ContractError(f"{at}[{j}]", f"{_show(v)} is listed twice")
        if isinstance(v, str):
            seen.add(v)
    return raw


def _signatures(raw: Any) -> tuple[Signature, ...]:
    if not isinstance(raw, dict):
        raise ContractError("signatures", f"an object (member id -> signature), not "
                            f"{_kind(raw)}")
    out = []
    for member, s in raw.items():
        at = f"signatures.{member}"
        if not _ID.fullmatch(member):
            raise ContractError("signatures", f"{_show(member)} is not a member id")
        if not isinstance(s, dict):
            raise ContractError(at, f"a signature is an object, not {_kind(s)}")
        _fields(s, at, _SIGNATURE_FIELDS, ())
        for name in _SIGNATURE_FIELDS:
            if not isinstance(s[name], str):
                raise ContractError(f"{at}.{name}", f"a string, not {_kind(s[name])}")
        _utc(s["signed_at_utc"], f"{at}.signed_at_utc")
        # The key id and the signature are checked by verify_signatures: a wrong one makes
        # that member's signature bad, which the other members need to see, not a document
        # that cannot be read at all.
        out.append(Signature(member=member, key_id=s["key_id"],
                             signed_at_utc=s["signed_at_utc"], sig=s["sig"]))
    return tuple(out)


def _fields(obj: dict[str, Any], at: str, required: tuple[str, ...],
            optional: tuple[str, ...]) -> None:
    prefix = f"{at}." if at else ""
    for name in required:
        if name not in obj:
            raise ContractError(f"{prefix}{name}", "missing")
    known = set(required) | set(optional)
    for name in obj:
        if name not in known:
            raise ContractError(f"{prefix}{name}", "unknown field (refused: it may be a rule "
                                "a newer version enforces, which this one would ignore)")


def _id(raw: Any, at: str) -> str:
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        raise ContractError(at, f"{_show(raw)} is not 1 to 64 characters of a-z 0-9 . _ -")
    return raw


def _key_id(raw: Any, at: str) -> str:
    if not isinstance(raw, str) or not _KEY_ID.fullmatch(raw):
        raise ContractError(at, f"{_show(raw)} is not a key id (bp1_ and 16 hex digits)")
    return raw


def _text(raw: Any, at: str, limit: int) -> str:
    if not isinstance(raw, str):
        raise ContractError(at, f"a string, not {_kind(raw)}")
    if len(raw) > limit:
        raise ContractError(at, f"{len(raw)} characters (at most {limit})")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise ContractError(at, "holds a control character (a line break, say)")
    return raw


def _utc(raw: str, at: str) -> None:
    ok = _UTC.fullmatch(raw) is not None
    if ok:
        try:
            datetime.fromisoformat(raw)
        except ValueError:
            ok = False
    if not ok:
        raise ContractError(at, f"{_show(raw)} is not a UTC time like 2026-12-03T10:00:00Z")


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(v), "a value")


def _show(v: Any) -> str:
    """A value quoted for a message, cut short (it came from the file, whatever its size)."""
    if isinstance(v, str):
        text = v if len(v) <= 40 else v[:37] + "..."
        return '"' + "".join(c if c.isprintable() else "?" for c in text) + '"'
    return _kind(v)


# -- signatures ------------------------------------------------------------------------------

def sign_contract(contract: Contract, member_id: str, signing_key: SigningKey,
                  signed_at_utc: str) -> Contract:
    """``contract`` with ``member_id``'s signature made (or made again) with
    ``signing_key``, which must be that member's key_id; the others' are kept."""
    member = contract.member(member_id)
    if signing_key.key_id != member.key_id:
        i = contract.member_ids().index(member_id)
        raise ContractError(f"members[{i}].key_id", f"{signing_key.key_id} is not the key "
                            f'of member "{member_id}" ({member.key_id})')
    _utc(signed_at_utc, "signed_at_utc")
    sig = Signature(member=member_id, key_id=signing_key.key_id, signed_at_utc=signed_at_utc,
                    sig=b64encode(signing_key.sign(contract.signing_bytes())))
    kept = tuple(s for s in contract.signatures if s.member != member_id)
    return replace(contract, signatures=(*kept, sig))


def member_of_key(contract: Contract, key_id: str) -> str | None:
    """The member a key id belongs to (its federation key or one of its keys), or None."""
    return contract.member_of_key(key_id)


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class MemberVerdict:
    member: str
    status: SignatureStatus
    reason: str | None = None  # why a signature is bad


@dataclass(frozen=True)
class ContractVerdict:
    members: tuple[MemberVerdict, ...]
    problems: tuple[Problem, ...]

    @property
    def in_force(self) -> bool:
        """Every member signed this very text with its own key."""
        return all(m.status == "valid" for m in self.members)

    def status(self, member_id: str) -> SignatureStatus:
        return next(m.status for m in self.members if m.member == member_id)

    def with_status(self, status: SignatureStatus) -> list[str]:
        return [m.member for m in self.members if m.status == status]


def verify_signatures(contract: Contract) -> ContractVerdict:
    message = contract.signing_bytes()
    verdicts: list[MemberVerdict] = []
    problems: list[Problem] = []
    for member in contract.members:
        at = f"signatures.{member.member}"
        sig = contract.signature_of(member.member)
        if sig is None:
            verdicts.append(MemberVerdict(member.member, "missing"))
            problems.append(Problem(at, "missing: this member has not signed"))
            continue
        reason = _bad_signature(sig, member, message)
        verdicts.append(MemberVerdict(member.member, "bad" if reason else "valid", reason))
        if reason:
            problems.append(Problem(at, f"bad: {reason}"))
    ids = set(contract.member_ids())
    for sig in contract.signatures:
        if sig.member not in ids:
            problems.append(Problem(f"signatures.{sig.member}", f'no member "{sig.member}" '
                                    "in this contract: the signature counts for nothing"))
    return ContractVerdict(tuple(verdicts), tuple(problems))


def _bad_signature(sig: Signature, member: Member, message: bytes) -> str | None:
    if sig.key_id != member.key_id:
        return (f"signed with {sig.key_id}, not the member's key_id {member.key_id}")
    try:
        raw = b64decode_strict(sig.sig, expected_len=SIGNATURE_BYTES)
    except ValueError as exc:
        return f"sig is not a base64 Ed25519 signature ({exc})"
    if not verify_raw(member.public_key, message, raw):
        return ("does not verify: the contract was changed after this member signed it, "
                "or the signature is of another text")
    return None


# -- what flows ------------------------------------------------------------------------------

def is_structural(event_type: str) -> bool:
    """An event that flows in every direction whatever the contract says."""
    return event_type in STRUCTURAL_TYPES or event_type.startswith(FEDERATION_TYPE_PREFIX)


def normal_namespace(namespace: str | None) -> str:
    """The namespace as the reducer reads an event's field: trimmed, lower case, and
    ``local`` when absent or unknown. The contract judges an event by the namespace it
    lands in, so an odd spelling cannot slip an event past it, nor hold one back."""
    if type(namespace) is str and namespace in _VALID_NS:
        return namespace
    ns = str(namespace or "").strip().lower()
    return ns if ns in _VALID_NS else "local"


@dataclass(frozen=True)
class Exclusion:
    """One thing a direction leaves out: events of some actors in some namespaces.

    scope: ``member`` (every key of ``member``), ``key`` (the one key in ``key_ids``, of
    ``member``), ``unlisted`` (actors the contract does not list), ``everything`` (no flow
    at all: every event but the structural ones)."""

    scope: Literal["member", "key", "unlisted", "everything"]
    member: str | None
    key_ids: tuple[str, ...]
    namespaces: tuple[str, ...]

    def sentence(self) -> str:
        everywhere = len(self.namespaces) == len(NAMESPACES)
        where = "" if everywhere else (
            f" in namespace{'s' if len(self.namespaces) > 1 else ''} "
            f"{', '.join(self.namespaces)}")
        lead = "every event by" if everywhere else "events by"
        if self.scope == "everything":
            return "every event but the structural ones (the contract lists no flow this way)"
        if self.scope == "member":
            n = len(self.key_ids)
            return f"{lead} member {self.member} ({n} key{'s' if n > 1 else ''}){where}"
        if self.scope == "key":
            return f"{lead} {self.key_ids[0]} ({self.member}){where}"
        if everywhere:
            return "every event by an actor the contract does not list"
        return f"events by actors the contract does not list,{where}"

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "member": self.member, "key_ids": list(self.key_ids),
                "namespaces": list(self.namespaces)}


PREFIX_SENTENCE = ("every later event of a chain that meets an excluded event (a chain "
                   "flows as a prefix)")


class FlowRule:
    """What may go from one member's replica to another's: the contract's entries for that
    direction, added up, as sets by namespace."""

    __slots__ = ("_anyone", "_by_ns", "_excluded", "_members", "entries", "from_member",
                 "to_member")

    def __init__(self, contract: Contract, from_member: str, to_member: str) -> None:
        self.from_member, self.to_member = from_member, to_member
        self.entries = tuple(f for f in contract.flows
                             if (f.from_member, f.to_member) == (from_member, to_member))
        self._members = tuple((m.member, m.all_keys()) for m in contract.members)
        anyone: set[str] = set()
        by_ns: dict[str, set[str]] = {ns: set() for ns in NAMESPACES}
        for entry in self.entries:
            keys: set[str] = set()
            for actor in entry.actors:
                if actor == ANY_ACTOR:
                    anyone.update(entry.namespaces)
                elif actor.startswith(MEMBER_PREFIX):
                    keys.update(contract.member(actor[len(MEMBER_PREFIX):]).all_keys())
                else:
                    keys.add(actor)
            for ns in entry.namespaces:
                by_ns[ns] |= keys
        self._anyone = frozenset(anyone)
        self._by_ns = {ns: frozenset(k) for ns, k in by_ns.items()}
        self._excluded: tuple[Exclusion, ...] | None = None

    def admits(self, event_type: str, actor_key_ids: Collection[str],
               namespace: str | None) -> bool:
        """May an event of this type, signed by an identity with these key ids (every key
        of it: the caller resolves rotations), in this namespace, go this way?"""
        if event_type in STRUCTURAL_TYPES or event_type.startswith(FEDERATION_TYPE_PREFIX):
            return True
        if isinstance(actor_key_ids, str):  # one key id given bare would be its letters
            raise TypeError("actor_key_ids is a collection of key ids, not one string")
        try:
            ns = _NS_SAME[namespace]
        except (KeyError, TypeError):  # another spelling, or not a string at all
            ns = normal_namespace(namespace)
        if ns in self._anyone:
            return True
        return not self._by_ns[ns].isdisjoint(actor_key_ids)

    def admits_everything(self) -> bool:
        return not self._exclusions

    def exclusions(self) -> tuple[Exclusion, ...]:
        return self._exclusions

    def describe_exclusions(self) -> list[str]:
        """What this direction leaves out, one sentence each (empty: nothing)."""
        if not self._exclusions:
            return []
        return [e.sentence() for e in self._exclusions] + [PREFIX_SENTENCE]

    def exclusions_json(self) -> dict[str, Any]:
        """The same as JSON, for a partial replica's statement of what it lacks."""
        return {"from": self.from_member, "to": self.to_member,
                "excluded": [e.to_json() for e in self._exclusions],
                "structural_events_flow": True,
                "chains_flow_as_prefix": bool(self._exclusions)}

    @property
    def _exclusions(self) -> tuple[Exclusion, ...]:
        if self._excluded is None:
            self._excluded = self._compute_exclusions()
        return self._excluded

    def _compute_exclusions(self) -> tuple[Exclusion, ...]:
        # From the same sets admits() reads, so what is said to be left out is exactly
        # what is held back (tests check one against the other).
        if not self.entries:
            return (Exclusion("everything", None, (), NAMESPACES),)
        out: list[Exclusion] = []
        for member, keys in self._members:
            per_key = [(k, self._excluded_ns(k)) for k in keys]
            if all(ns == per_key[0][1] for _, ns in per_key):
                if per_key[0][1]:
                    out.append(Exclusion("member", member, keys, per_key[0][1]))
                continue
            out.extend(Exclusion("key", member, (k,), ns) for k, ns in per_key if ns)
        unlisted = self._excluded_ns(None)
        if unlisted:
            out.append(Exclusion("unlisted", None, (), unlisted))
        return tuple(out)

    def _excluded_ns(self, key_id: str | None) -> tuple[str, ...]:
        return tuple(ns for ns in NAMESPACES if ns not in self._anyone
                     and (key_id is None or key_id not in self._by_ns[ns]))

    def __repr__(self) -> str:
        return f"FlowRule({self.from_member} -> {self.to_member}, {len(self.entries)} entries)"


def directions(contract: Contract) -> Iterator[tuple[str, str]]:
    """Every ordered pair of two members, in the members' order."""
    ids = contract.member_ids()
    return ((a, b) for a in ids for b in ids if a != b)


"""The keys this user has decided to trust, and why: the profile's ``trust.json``.

Trust is a decision of the user, recorded here and nowhere else. A bundle, a delta file or a
LAN peer never adds trust by itself, and neither does a vault: the keys a vault lists in
``identity/keys.json`` are the registry the protocol needs to verify signatures, not a trust
decision. Each entry says where its trust came from (a :class:`TrustSource`, newest last):

- ``manual``: added by hand (``trust add``, after comparing the fingerprint out of band);
- ``paired``: LAN pairing (method, date, both fingerprints);
- ``import``: accepted at the import of a named bundle (file name, the sha256 of its signed
  manifest or of the file, the vault) on a date, with ``import --accept-untrusted``;
- ``vouched``: introduced by a trusted peer (who, when): a LAN peer relayed events by the
  key and trusts it itself (docs/SYNC_PROTOCOL.md, "Vouching"); it counts only while that
  peer is itself trusted directly (not only through vouching).

``trust list`` shows every entry with its source; ``trust remove`` undoes the decision, after
which later imports hold that key's new events back again (events already imported stay in
the vault: evidence is never deleted).

Room for what LAN sync and the topologies add, kept on every rewrite: ``policy`` (per-peer
direction and scope: ``{"direction": "both"|"send"|"receive", "actors": [...],
"namespaces": [...], "relayed": "accept"|"direct-only"|"chained"}``, see
:func:`make_policy`) and ``roles`` (peer, hub, spoke, parent, child, federation member).

Version 2 of the file; a version 1 file (no sources) is read with every entry "added by hand"
and written as version 2 on the next change. Every change is a read-modify-write under the
profile lock, written through a unique temporary file (store/profile_files.py): the app and a
headless peer share one profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UsageError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keys import PublicKey
from provara_desktop.store.profile_files import profile_lock, replace_file

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

TRUST_FILE = "trust.json"
TRUST_FORMAT = "provara-desktop-trust"
TRUST_VERSION = 2
_MAX_BYTES = 16 << 20

MANUAL, PAIRED, IMPORT, VOUCHED = "manual", "paired", "import", "vouched"
SOURCE_KINDS = (MANUAL, PAIRED, IMPORT, VOUCHED)
DIRECTIONS = ("both", "send", "receive")
# policy "relayed": what of a peer's vouching we take. "accept" (the default): the keys the
# peer trusts directly (one hop); "direct-only": none, only events by keys I trust directly;
# "chained": also the keys the peer trusts only through someone else's vouching.
RELAYED = ("accept", "direct-only", "chained")


def _day(utc: str) -> str:
    return utc[:10] if len(utc) >= 10 else (utc or "an unknown date")


@dataclass(frozen=True)
class TrustSource:
    """One trust decision: its kind, when, and the kind's own facts (``detail``)."""

    kind: str
    at_utc: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def manual(cls) -> TrustSource:
        return cls(MANUAL, utc_now_iso())

    @classmethod
    def imported(cls, *, bundle: str, vault: str, manifest_sha256: str | None = None,
                 file_sha256: str | None = None) -> TrustSource:
        detail: dict[str, Any] = {"bundle": bundle, "vault": vault}
        if manifest_sha256:
            detail["manifest_sha256"] = manifest_sha256
        if file_sha256:
            detail["file_sha256"] = file_sha256
        return cls(IMPORT, utc_now_iso(), detail)

    @classmethod
    def paired(cls, *, method: str, fingerprints: Mapping[str, str],
               peer: str | None = None) -> TrustSource:
        detail: dict[str, Any] = {"method": method, "fingerprints": dict(fingerprints)}
        if peer:
            detail["peer"] = peer
        return cls(PAIRED, utc_now_iso(), detail)

    @classmethod
    def vouched(cls, *, by_key_id: str, by_name: str = "") -> TrustSource:
        return cls(VOUCHED, utc_now_iso(), {"by_key_id": by_key_id, "by_name": by_name})

    def describe(self) -> str:
        """One line for people: where this trust came from."""
        d, day = self.detail, _day(self.at_utc)
        if self.kind == IMPORT:
            ident = d.get("manifest_sha256") or d.get("file_sha256")
            what = f"{d.get('bundle')}" + (f" (sha256 {str(ident)[:16]}…)" if ident else "")
            return f"accepted at the import of {what} on {day}"
        if self.kind == PAIRED:
            return f"paired ({d.get('method')}) on {day}"
        if self.kind == VOUCHED:
            who = d.get("by_name") or d.get("by_key_id")
            return f"vouched for by {who} ({d.get('by_key_id')}) on {day}"
        return f"added by hand on {day}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "at_utc": self.at_utc, **self.detail,
                "text": self.describe()}

    def _doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "at_utc": self.at_utc, **self.detail}


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key_b64: str
    name: str
    added_at_utc: str
    sources: tuple[TrustSource, ...] = ()  # every decision, oldest first
    policy: Mapping[str, Any] = field(default_factory=dict)  # per-peer, for sync (issue 11)
    roles: tuple[str, ...] = ()  # topology roles (issue 13)

    @property
    def fingerprint(self) -> str:
        return PublicKey.from_b64(self.public_key_b64).fingerprint

    @property
    def source(self) -> TrustSource:
        """The latest decision (a v1 entry: added by hand)."""
        return self.sources[-1] if self.sources else TrustSource(MANUAL, self.added_at_utc)

    @property
    def direct(self) -> bool:
        """Trusted by a decision of the user's own, not only through someone's vouching."""
        return any(s.kind != VOUCHED for s in self.sources) or not self.sources

    def describe(self) -> str:
        return self.source.describe()

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name,
                "public_key_b64": self.public_key_b64, "fingerprint": self.fingerprint,
                "added_at_utc": self.added_at_utc, "source": self.source.to_json(),
                "sources": [s.to_json() for s in self.sources or (self.source,)],
                "policy": dict(self.policy), "roles": list(self.roles)}

    def _doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"key_id": self.key_id, "public_key_b64": self.public_key_b64,
                               "name": self.name, "added_at_utc": self.added_at_utc,
                               "sources": [s._doc() for s in self.sources or (self.source,)]}
        if self.policy:
            doc["policy"] = dict(self.policy)
        if self.roles:
            doc["roles"] = list(self.roles)
        return doc


def checked_public_key(key_id: str, public_key_b64: str, *, where: str) -> PublicKey:
    """The public key, after checking that ``key_id`` really is its protocol id."""
    try:
        public = PublicKey.from_b64(public_key_b64)
    except ValueError as exc:
        raise InputError(f"not an Ed25519 public key in base64 ({exc})", where=where) from None
    if public.key_id != key_id:
        raise InputError(f"key id {key_id} does not belong to this public key (its id is "
                         f"{public.key_id}); check both with the key's owner", where=where)
    return public


def _parse_source(raw: Any, where: str) -> TrustSource:
    if not isinstance(raw, dict) or raw.get("kind") not in SOURCE_KINDS:
        raise InputError(f"a source must be an object whose kind is one of "
                         f"{', '.join(SOURCE_KINDS)}", where=where)
    at = raw.get("at_utc")
    if not isinstance(at, str):
        raise InputError("a source needs at_utc (text)", where=where)
    if raw["kind"] == VOUCHED and not isinstance(raw.get("by_key_id"), str):
        raise InputError("a vouched source must name by_key_id", where=where)
    detail = {k: v for k, v in raw.items() if k not in ("kind", "at_utc", "text")}
    return TrustSource(raw["kind"], at, detail)


def _parse_policy(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError("policy must be an object", where=where)
    direction = raw.get("direction", "both")
    if direction not in DIRECTIONS:
        raise InputError(f"policy direction must be one of {', '.join(DIRECTIONS)}",
                         where=where)
    for name in ("actors", "namespaces"):
        value = raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"policy {name} must be a list of text", where=where)
    if raw.get("relayed", "accept") not in RELAYED:
        raise InputError(f"policy relayed must be one of {', '.join(RELAYED)}", where=where)
    return dict(raw)


def make_policy(*, direction: str = "both", only_direct: bool = False,
                chained: bool = False, actors: Sequence[str] = (),
                namespaces: Sequence[str] = ()) -> dict[str, Any]:
    """A per-peer policy document (for :meth:`TrustStore.set_policy`); only what differs
    from the defaults is written."""
    if direction not in DIRECTIONS:
        raise UsageError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction}")
    if only_direct and chained:
        raise UsageError("--only-direct and --chained contradict each other")
    doc: dict[str, Any] = {}
    if direction != "both":
        doc["direction"] = direction
    if only_direct:
        doc["relayed"] = "direct-only"
    elif chained:
        doc["relayed"] = "chained"
    if actors:
        doc["actors"] = sorted(set(actors))
    if namespaces:
        doc["namespaces"] = sorted(set(namespaces))
    return doc


def describe_policy(policy: Mapping[str, Any]) -> str:
    """One line for people: what sync does with this peer."""
    if not policy:
        return "sync both ways; accept what it vouches for (one hop)"
    direction = {"both": "sync both ways", "send": "send only (nothing accepted from it)",
                 "receive": "receive only (nothing sent to it)"}[
                     str(policy.get("direction", "both"))]
    relayed = {"accept": "accept what it vouches for (one hop)",
               "direct-only": "only events by keys you trust directly",
               "chained": "accept what it vouches for, also beyond one hop"}[
                   str(policy.get("relayed", "accept"))]
    parts = [direction, relayed]
    if policy.get("actors"):
        parts.append("actors " + ", ".join(policy["actors"]))
    if policy.get("namespaces"):
        parts.append("namespaces " + ", ".join(policy["namespaces"]))
    return "; ".join(parts)


class TrustStore:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / TRUST_FILE

    def load(self) -> dict[str, TrustedKey]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read ({exc.strerror})") from None
        doc = strict_loads(data, where=str(self.path), max_bytes=_MAX_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != TRUST_FORMAT:
            raise InputError("not a provara-desktop trust store", where=str(self.path))
        version = doc.get("version")
        if not isinstance(version, int) or version > TRUST_VERSION:
            raise InputError(f"trust store version {version!r} is newer than this program "
                             f"reads ({TRUST_VERSION})", where=str(self.path))
        out: dict[str, TrustedKey] = {}
        keys = doc.get("keys")
        for i, raw in enumerate(keys if isinstance(keys, list) else []):
            where = f"{self.path} keys[{i}]"
            if not isinstance(raw, dict):
                raise InputError("a key entry must be an object", where=where)
            kid, b64 = raw.get("key_id"), raw.get("public_key_b64")
            if not isinstance(kid, str) or not isinstance(b64, str):
                raise InputError("key_id and public_key_b64 must be text", where=where)
            # A hand-edited entry whose id does not match its key must not make anything
            # trusted: refuse the whole file rather than guess which half is right.
            checked_public_key(kid, b64, where=where)
            added = str(raw.get("added_at_utc") or "")
            if version < 2:  # v1 had no sources: every entry was a `trust add`
                sources: tuple[TrustSource, ...] = (TrustSource(MANUAL, added),)
            else:
                listed = raw.get("sources")
                if not isinstance(listed, list) or not listed:
                    raise InputError("sources must be a non-empty list", where=where)
                sources = tuple(_parse_source(s, f"{where} sources[{j}]")
                                for j, s in enumerate(listed))
            roles = raw.get("roles", [])
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise InputError("roles must be a list of text", where=where)
            out[kid] = TrustedKey(kid, b64, str(raw.get("name") or ""), added, sources,
                                  _parse_policy(raw.get("policy"), where), tuple(roles))
        return out

    def trusted(self) -> dict[str, TrustedKey]:
        """The entries that confer trust now: a key trusted only because a peer vouched
        for it stops counting when that peer is no longer trusted directly."""
        keys = self.load()
        return {kid: k for kid, k in keys.items()
                if k.direct or any(s.kind == VOUCHED and (v := keys.get(
                    str(s.detail.get("by_key_id")))) is not None and v.direct
                    for s in k.sources)}

    def trusted_ids(self) -> set[str]:
        return set(self.trusted())

    def add(self, key_id: str, public_key_b64: str, name: str | None = None,
            source: TrustSource | None = None, *, where: str = "--public-key") -> TrustedKey:
        """Record a trust decision (``source``, by default added by hand now). A key already
        trusted keeps its earlier decisions; this one is added after them."""
        checked_public_key(key_id, public_key_b64, where=where)
        src = source or TrustSource.manual()
        made: list[TrustedKey] = []

        def change(keys: dict[str, TrustedKey]) -> None:
            old = keys.get(key_id)
            entry = TrustedKey(
                key_id, public_key_b64,
                name if name is not None else (old.name if old else ""),
                old.added_at_utc if old else src.at_utc,
                (*(old.sources or (old.source,)), src) if old else (src,),
                old.policy if old else {}, old.roles if old else ())
            keys[key_id] = entry
            made.append(entry)

        self._update(change)
        return made[0]

    def set_policy(self, key_id: str, policy: Mapping[str, Any] | None = None, *,
                   roles: Sequence[str] | None = None) -> TrustedKey:
        """Replace a trusted key's per-peer policy (and, if given, its roles): what sync
        sends to and takes from that peer (direction, actors, namespaces, relayed events)."""
        checked = _parse_policy(dict(policy) if policy is not None else None,
                                f"{self.path}: policy of {key_id}")
        if roles is not None and not all(isinstance(r, str) for r in roles):
            raise UsageError("roles must be text")
        made: list[TrustedKey] = []

        def change(keys: dict[str, TrustedKey]) -> None:
            old = keys.get(key_id)
            if old is None:
                raise UsageError(f"{key_id} is not in the trust store ({self.path})")
            keys[key_id] = replace(old, policy=checked if policy is not None else old.policy,
                                   roles=tuple(roles) if roles is not None else old.roles)
            made.append(keys[key_id])

        self._update(change)
        return made[0]

    def remove(self, key_id: str) -> TrustedKey:
        gone: list[TrustedKey] = []

        def change(keys: dict[str, TrustedKey]) -> None:
            entry = keys.pop(key_id, None)
            if entry is None:
                raise UsageError(f"{key_id} is not in the trust store ({self.path})")
            gone.append(entry)

        self._update(change)
        return gone[0]

    def _update(self, change: Callable[[dict[str, TrustedKey]], None]) -> None:
        """Read, change and write the store under the profile lock: two programs sharing the
        profile each see the other's change, and neither loses it."""
        with profile_lock(self.home):
            keys = self.load()
            change(keys)
            self._write(keys)

    def _write(self, keys: dict[str, TrustedKey]) -> None:
        doc: dict[str, Any] = {
            "format": TRUST_FORMAT, "version": TRUST_VERSION,
            "keys": [k._doc() for k in sorted(keys.values(), key=lambda k: k.key_id)],
        }
        try:
            replace_file(self.path, (json.dumps(doc, indent=2, ensure_ascii=False)
                                     + "\n").encode())
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write ({exc.strerror})") from None

"""Frontiers: what a receiver already holds, carried to the sender so it can make a delta.

Like ``git bundle`` prerequisites, but per author chain: for every actor the frontier lists
the chain heads (events no later event of that actor builds on; two or more when the actor
forked) and, for each head, a few ancestors at distances 1, 2, 4, 8... The sender marks as
known every event it holds that is one of these or an ancestor of one. The extra ancestors
matter when the receiver is *ahead* of the sender on some chain: the sender does not know the
receiver's newest head, but it does know one of its ancestors, so it still sends nothing the
receiver already has (give or take a factor of two of that chain's unknown tail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle import format as fmt
from provara_desktop.core.canonical import canonical_bytes, strict_loads
from provara_desktop.core.errors import InputError, StoreError, UnsupportedVersionError
from provara_desktop.core.event import utc_now_iso

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

_EVT = re.compile(r"evt_[0-9a-f]{24}")
_MAX_FRONTIER_BYTES = 64 << 20


@dataclass(frozen=True)
class Frontier:
    vault_uid: str | None
    event_count: int
    heads: dict[str, list[str]]
    known: list[str]

    def all_ids(self) -> set[str]:
        return {e for ids in self.heads.values() for e in ids} | set(self.known)

    def to_json(self) -> dict[str, Any]:
        return {"format": fmt.FRONTIER_FORMAT, "format_version": fmt.FRONTIER_VERSION,
                "vault_uid": self.vault_uid, "event_count": self.event_count,
                "heads": self.heads, "known": self.known}


def compute(chain: Mapping[str, tuple[str, Any]], vault_uid: str | None) -> Frontier:
    """``chain`` maps event_id -> (actor, prev_event_hash), for every event of a vault."""
    builds_on: set[str] = set()
    for actor, prev in chain.values():
        if isinstance(prev, str):
            target = chain.get(prev)
            if target is not None and target[0] == actor:
                builds_on.add(prev)
    heads: dict[str, list[str]] = {}
    known: set[str] = set()
    for eid, (actor, _) in chain.items():
        if eid in builds_on:
            continue
        heads.setdefault(actor, []).append(eid)
        distance, next_mark, cur = 0, 1, chain[eid][1]
        seen = {eid}
        while isinstance(cur, str) and cur in chain and cur not in seen:
            seen.add(cur)
            distance += 1
            if distance == next_mark:
                known.add(cur)
                next_mark *= 2
            cur = chain[cur][1]
    return Frontier(vault_uid, len(chain), {a: sorted(ids) for a, ids in sorted(heads.items())},
                    sorted(known))


def known_events(frontier: Frontier, chain: Mapping[str, tuple[str, Any]]) -> set[str]:
    """Every event of ``chain`` the frontier's owner holds: its ids and their ancestors."""
    known: set[str] = set()
    for start in frontier.all_ids():
        cur: Any = start
        while isinstance(cur, str) and cur in chain and cur not in known:
            known.add(cur)
            cur = chain[cur][1]
    return known


def write(frontier: Frontier, out: Path) -> None:
    doc = {**frontier.to_json(), "created_at_utc": utc_now_iso()}
    if out.exists():
        raise StoreError(f"{out}: already exists; not overwritten")
    try:
        out.write_bytes(canonical_bytes(doc) + b"\n")
    except OSError as exc:
        raise StoreError(f"{out}: cannot write ({exc.strerror})") from None


def read(path: Path) -> Frontier:
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{path}: no such frontier file") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    doc = strict_loads(data, where=where, max_bytes=_MAX_FRONTIER_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != fmt.FRONTIER_FORMAT:
        raise InputError("not a frontier file (write one with `frontier VAULT OUT`)",
                         where=where)
    version = doc.get("format_version")
    if not isinstance(version, int) or version > fmt.FRONTIER_VERSION:
        raise UnsupportedVersionError(f"{where}: frontier format {version!r} is newer than "
                                      f"this program reads ({fmt.FRONTIER_VERSION})")
    heads, known = doc.get("heads"), doc.get("known")
    if not isinstance(heads, dict) or not isinstance(known, list):
        raise InputError("heads must be an object and known a list", where=where)
    out_heads: dict[str, list[str]] = {}
    for actor, ids in heads.items():
        out_heads[actor] = _ids(ids, where, f"heads[{actor!r}]")
    uid, count = doc.get("vault_uid"), doc.get("event_count")
    return Frontier(uid if isinstance(uid, str) else None,
                    count if isinstance(count, int) else 0, out_heads,
                    _ids(known, where, "known"))


def _ids(ids: Any, where: str, what: str) -> list[str]:
    if not isinstance(ids, list) or not all(isinstance(e, str) and _EVT.fullmatch(e)
                                            for e in ids):
        raise InputError(f"{what} must be a list of event ids", where=where)
    return list(ids)


def chain_of(events: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for ev in events:
        eid = ev.get("event_id")
        if isinstance(eid, str):
            out.setdefault(eid, (str(ev.get("actor")), ev.get("prev_event_hash")))
    return out

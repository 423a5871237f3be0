"""What this replica knows of each peer's copy of a vault, from the last sync with it: the
picture of a mesh partition (docs/TOPOLOGIES.md, "Mesh"). Kept in the profile,
``mesh/<vault uid>.json``; nothing decides on it, the picture only shows it.

A session's frontiers say how many events of each author the peer held when it began; if
everything we had to send went in (no scope left anything out, the peer held nothing
back), it held at the end at least what we held at the start. Counts per author are enough
to say what a peer lacks: an author's chain is ordered, so "our 12 events of alice, it holds
9" names the 3 it lacks (a forked chain makes that an estimate; verify names the fork).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import InputError, StoreError
from provara_desktop.store.profile_files import profile_lock, read_profile_doc, replace_file

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

log = logging.getLogger(__name__)
MESH_FORMAT = "provara-desktop-mesh-memory"


@dataclass(frozen=True)
class PeerCopy:
    """A peer's copy of the vault as the last sync with it left it."""

    key_id: str
    address: str
    synced_utc: str
    had: dict[str, int]  # author -> events the peer held when the session began
    holds: dict[str, int]  # author -> events it held at least when the session ended
    complete: bool  # both ways everything went (the two copies were equal at the end)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "address": self.address,
                "synced_utc": self.synced_utc, "had": self.had, "holds": self.holds,
                "complete": self.complete}

    @classmethod
    def from_json(cls, doc: Any) -> PeerCopy | None:
        try:
            return cls(str(doc["key_id"]), str(doc["address"]), str(doc["synced_utc"]),
                       {str(a): int(n) for a, n in dict(doc["had"]).items()},
                       {str(a): int(n) for a, n in dict(doc["holds"]).items()},
                       bool(doc["complete"]))
        except (KeyError, TypeError, ValueError):
            return None


def _path(home: Path, vault_uid: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in vault_uid)[:128]
    return home / "mesh" / f"{safe}.json"


def load(home: Path, vault_uid: str) -> dict[str, PeerCopy]:
    """key id -> the peer's copy. A damaged file reads as empty (with a log line)."""
    path = _path(home, vault_uid)
    try:
        doc = read_profile_doc(path, fmt=MESH_FORMAT, what="mesh memory file")
    except (StoreError, InputError) as exc:
        log.warning("the mesh memory cannot be read: %s", exc)
        return {}
    if doc is None or not isinstance(doc.get("peers"), dict):
        return {}
    out = {}
    for kid, entry in doc["peers"].items():
        copy = PeerCopy.from_json(entry)
        if copy is not None and copy.key_id == kid:
            out[kid] = copy
    return out


def remember(home: Path, vault_uid: str, copy: PeerCopy) -> None:
    with profile_lock(home):
        peers = load(home, vault_uid)
        peers[copy.key_id] = copy
        doc = {"format": MESH_FORMAT, "version": 1, "vault_uid": vault_uid,
               "peers": {k: p.to_json() for k, p in sorted(peers.items())}}
        path = _path(home, vault_uid)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
        except OSError as exc:
            raise StoreError(f"{path}: cannot write ({exc.strerror})") from None


def after_session(*, key_id: str, address: str, synced_utc: str, mine: Mapping[str, int],
                  theirs: Mapping[str, int], sent_all: bool, received_all: bool) -> PeerCopy:
    """The peer's copy after a session that began with frontiers ``mine`` and ``theirs``
    (author -> count)."""
    holds = dict(theirs)
    if sent_all:
        for actor, n in mine.items():
            holds[actor] = max(n, holds.get(actor, 0))
    complete = sent_all and received_all
    return PeerCopy(key_id, address, synced_utc, dict(sorted(theirs.items())),
                    dict(sorted(holds.items())), complete)

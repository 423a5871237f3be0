"""The history of sync sessions per peer, kept in the profile (``sync_history.json``): when,
which way, how much, and why it stopped. The app's peers panel shows it; nothing decides on
it. Bounded: the last :data:`KEEP` sessions per peer."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import InputError, StoreError
from provara_desktop.store.profile_files import profile_lock, read_profile_doc, replace_file

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)
HISTORY_FILE = "sync_history.json"
HISTORY_FORMAT = "provara-desktop-sync-history"
KEEP = 50


@dataclass(frozen=True)
class SyncRecord:
    peer: str  # key id when known, else the address
    address: str
    at_utc: str
    initiated: bool  # we connected (True) or the peer did
    ok: bool
    sent: int = 0
    received: int = 0
    held_back: int = 0
    forks: int = 0
    duration_ms: int = 0
    error: str | None = None
    error_code: str | None = None
    gap: dict[str, Any] | None = None  # FrontierGap.to_json() before the session moved
    name: str = ""  # the peer's name in the trust store when the session ended

    def describe(self) -> str:
        way = "you synced" if self.initiated else "they synced"
        if self.ok:
            return (f"{self.at_utc[:19].replace('T', ' ')}  {way}: received {self.received}, "
                    f"sent {self.sent}, held back {self.held_back}, {self.forks} fork(s), "
                    f"{self.duration_ms} ms")
        return f"{self.at_utc[:19].replace('T', ' ')}  {way}: stopped: {self.error}"

    @classmethod
    def from_json(cls, doc: Any) -> SyncRecord | None:
        if not isinstance(doc, dict):
            return None
        try:
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})
        except TypeError:
            return None


def _read(home: Path) -> dict[str, list[dict[str, Any]]]:
    path = home / HISTORY_FILE
    doc = read_profile_doc(path, fmt=HISTORY_FORMAT, what="sync history file")
    if doc is None:
        return {}
    if not isinstance(doc.get("peers"), dict):
        raise InputError("not a provara-desktop sync history file", where=str(path))
    return {k: v for k, v in doc["peers"].items() if isinstance(k, str) and isinstance(v, list)}


def load(home: Path) -> dict[str, list[SyncRecord]]:
    """peer -> its sessions, newest first. A damaged file reads as empty (with a log line):
    the history is a convenience, never a reason to stop."""
    try:
        raw = _read(home)
    except (StoreError, InputError) as exc:
        log.warning("the sync history cannot be read: %s", exc)
        return {}
    out = {}
    for peer, items in raw.items():
        records = [r for d in items if (r := SyncRecord.from_json(d)) is not None]
        out[peer] = records
    return out


def append(home: Path, record: SyncRecord) -> None:
    with profile_lock(home):
        try:
            peers = _read(home)
        except (StoreError, InputError) as exc:
            log.warning("the sync history cannot be read, starting a new one: %s", exc)
            peers = {}
        items = [asdict(record), *peers.get(record.peer, [])][:KEEP]
        peers[record.peer] = items
        doc = {"format": HISTORY_FORMAT, "version": 1, "peers": dict(sorted(peers.items()))}
        path = home / HISTORY_FILE
        try:
            replace_file(path, (json.dumps(doc, indent=1) + "\n").encode())
        except OSError as exc:
            raise StoreError(f"{path}: cannot write ({exc.strerror})") from None

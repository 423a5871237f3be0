"""What a spoke keeps of a hub (docs/TOPOLOGIES.md): every signed statement the hub gave it
(receipts and checkpoints, as the notes were received, signatures and all), which events each
receipt names and where, which of those a later checkpoint proved included, and the alerts
its audits raised. In the profile, one SQLite file per hub key
(``<profile>/hub-receipts/<hub key id>.sqlite``): the hub's word, kept by the side that may
need it as proof against the hub.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.event import utc_now_iso

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL,
    note TEXT NOT NULL UNIQUE, received_utc TEXT NOT NULL, vault_uid TEXT NOT NULL,
    checked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS hub (public_key_b64 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipted (
    event_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, note_id INTEGER NOT NULL,
    proven_size INTEGER);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL, proof TEXT NOT NULL,
    raised_utc TEXT NOT NULL, recorded_event_id TEXT);
"""


@dataclass(frozen=True)
class KeptNote:
    id: int
    kind: str  # "receipt" | "checkpoint" | "witnessed" (passed on by another replica)
    size: int
    root: str  # hex
    note: str
    received_utc: str


@dataclass(frozen=True)
class Alert:
    id: int
    code: str  # ROLLBACK | INCONSISTENT | DROPPED | WITHHELD | SPLIT_VIEW
    message: str
    proof: dict[str, Any]
    raised_utc: str
    recorded_event_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "message": self.message,
                "proof": self.proof, "raised_utc": self.raised_utc,
                "recorded_event_id": self.recorded_event_id}


def receipts_dir(home: Path) -> Path:
    return home / "hub-receipts"


class HubReceipts:
    """The statements of one hub key, kept by this profile."""

    def __init__(self, home: Path, hub_key_id: str) -> None:
        d = receipts_dir(home)
        d.mkdir(parents=True, exist_ok=True)
        self.hub_key_id = hub_key_id
        self.path = d / f"{hub_key_id}.sqlite"
        self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False)
        self._db.executescript(_SCHEMA)

    @classmethod
    def known_hubs(cls, home: Path) -> list[str]:
        d = receipts_dir(home)
        return sorted(p.stem for p in d.glob("bp1_*.sqlite")) if d.is_dir() else []

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HubReceipts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- keeping -------------------------------------------------------------------------

    def keep_note(self, kind: str, size: int, root: bytes, note: str, vault_uid: str) -> int:
        """Keep a checked note (once: the same note again is the same statement)."""
        self._db.execute("INSERT OR IGNORE INTO notes (kind, size, root, note, received_utc, "
                         "vault_uid) VALUES (?, ?, ?, ?, ?, ?)",
                         (kind, size, root.hex(), note, utc_now_iso(), vault_uid))
        row = self._db.execute("SELECT id FROM notes WHERE note = ?", (note,)).fetchone()
        return int(row[0])

    def remember_key(self, public_key_b64: str) -> None:
        """The hub's public key, so its notes can be passed on and checked by others."""
        if self.public_key_b64() is None:
            self._db.execute("INSERT INTO hub VALUES (?)", (public_key_b64,))

    def public_key_b64(self) -> str | None:
        row = self._db.execute("SELECT public_key_b64 FROM hub LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def unchecked_witnessed(self, limit: int) -> list[KeptNote]:
        return [KeptNote(*r) for r in self._db.execute(
            "SELECT id, kind, size, root, note, received_utc FROM notes WHERE kind = "
            "'witnessed' AND checked = 0 ORDER BY id LIMIT ?", (limit,))]

    def mark_checked(self, note_ids: Iterable[int]) -> None:
        self._db.executemany("UPDATE notes SET checked = 1 WHERE id = ?",
                             [(i,) for i in note_ids])

    def of_size(self, size: int) -> list[KeptNote]:
        return [KeptNote(*r) for r in self._db.execute(
            "SELECT id, kind, size, root, note, received_utc FROM notes WHERE size = ? "
            "ORDER BY id", (size,))]

    def keep_receipt(self, size: int, root: bytes, note: str, vault_uid: str,
                     accepted: Iterable[tuple[str, int]]) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            note_id = self.keep_note("receipt", size, root, note, vault_uid)
            # The first receipt of an event is the one that counts: a later one naming
            # another index is the hub contradicting itself, which the audit proves.
            db.executemany("INSERT OR IGNORE INTO receipted (event_id, idx, note_id) "
                           "VALUES (?, ?, ?)", [(e, i, note_id) for e, i in accepted])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return note_id

    def mark_proven(self, event_ids: Iterable[str], size: int) -> None:
        self._db.executemany("UPDATE receipted SET proven_size = ? WHERE event_id = ?",
                             [(size, e) for e in event_ids])

    def settle(self, event_ids: Iterable[str]) -> None:
        """Forget the receipts of events an alert now accounts for (it keeps their notes as
        proof): a later receipt for them is kept anew."""
        self._db.executemany("DELETE FROM receipted WHERE event_id = ?",
                             [(e,) for e in event_ids])

    def raise_alert(self, code: str, message: str, proof: dict[str, Any]) -> Alert:
        now = utc_now_iso()
        cur = self._db.execute("INSERT INTO alerts (code, message, proof, raised_utc) VALUES "
                               "(?, ?, ?, ?)",
                               (code, message, json.dumps(proof, sort_keys=True), now))
        assert cur.lastrowid is not None
        return Alert(cur.lastrowid, code, message, proof, now, None)

    def recorded(self, alert_id: int, event_id: str) -> None:
        self._db.execute("UPDATE alerts SET recorded_event_id = ? WHERE id = ?",
                         (event_id, alert_id))

    # -- reading -------------------------------------------------------------------------

    def notes(self) -> list[KeptNote]:
        return [KeptNote(*r) for r in self._db.execute(
            "SELECT id, kind, size, root, note, received_utc FROM notes ORDER BY id")]

    def largest(self) -> KeptNote | None:
        """The note of the largest tree this hub signed for us (the first such)."""
        row = self._db.execute("SELECT id, kind, size, root, note, received_utc FROM notes "
                               "ORDER BY size DESC, id LIMIT 1").fetchone()
        return KeptNote(*row) if row else None

    def unproven(self, limit: int) -> list[tuple[str, int]]:
        return [(str(e), int(i)) for e, i in self._db.execute(
            "SELECT event_id, idx FROM receipted WHERE proven_size IS NULL ORDER BY idx "
            "LIMIT ?", (limit,))]

    def receipted(self) -> list[tuple[str, int, int, int | None]]:
        """(event id, leaf index, note id, proven at size) of every receipted event."""
        return [(str(e), int(i), int(n), p) for e, i, n, p in self._db.execute(
            "SELECT event_id, idx, note_id, proven_size FROM receipted ORDER BY idx")]

    def note(self, note_id: int) -> KeptNote | None:
        row = self._db.execute("SELECT id, kind, size, root, note, received_utc FROM notes "
                               "WHERE id = ?", (note_id,)).fetchone()
        return KeptNote(*row) if row else None

    def alerts(self) -> list[Alert]:
        return [Alert(i, c, m, json.loads(p), t, r) for i, c, m, p, t, r in self._db.execute(
            "SELECT id, code, message, proof, raised_utc, recorded_event_id FROM alerts "
            "ORDER BY id")]

"""What this replica last saw of a vault: the newest event of every actor, and how many
events the log held, kept in the profile beside the vault's index (never in the vault).

The manifest protects a vault only against someone who cannot re-seal it, and anyone who
can edit events.ndjson can also regenerate manifest.json with any Provara tool. What such a
person cannot change is this replica's memory: if an event this profile once saw as an
actor's newest is gone from the log, or the log holds fewer events than it did, evidence was
removed since, and the user is told what is missing (by event id, actor and type) on every
open until they acknowledge it. Nothing in an append-only vault ever legitimately removes an
event; restoring an older backup does, and is exactly what the user should be told about.

The memory is a small JSON file rewritten whole under the profile's lock
(store/profile_files.py: a unique temporary name, then a rename). Losing it is
safe (the next open starts remembering again); a damaged or hand-edited file is ignored
with a log line rather than raising false alarms or blocking the vault.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from provara_desktop.core.event import utc_now_iso
from provara_desktop.store.index_paths import index_path_for
from provara_desktop.store.profile_files import profile_lock, replace_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

log = logging.getLogger(__name__)

FORMAT = "provara-desktop-seen-heads"
VERSION = 1
_MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class SeenEvent:
    """An event this replica once saw as its actor's newest."""

    event_id: str
    actor: str
    type: str | None
    timestamp_utc: str | None
    seen_at_utc: str

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "actor": self.actor, "type": self.type,
                "timestamp_utc": self.timestamp_utc, "seen_at_utc": self.seen_at_utc}

    def describe(self) -> str:
        what = self.type or "event"
        when = f" of {self.timestamp_utc}" if self.timestamp_utc else ""
        return (f"{self.event_id} ({what}{when} by {self.actor}, "
                f"seen here {self.seen_at_utc})")


if TYPE_CHECKING:
    # The vault's actors' newest events now, given the ones remembered (so an actor whose
    # head has not moved keeps the time it was first seen).
    HeadsNow: TypeAlias = Callable[[Mapping[str, SeenEvent]], Mapping[str, SeenEvent]]


@dataclass
class Loss:
    """Evidence this replica saw that the vault no longer holds."""

    missing: list[SeenEvent] = field(default_factory=list)
    event_count_seen: int = 0
    event_count_now: int = 0
    detected_at_utc: str = ""

    @property
    def fewer_events(self) -> int:
        return max(0, self.event_count_seen - self.event_count_now)

    def message(self, vault: str) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} event(s) this replica saw are gone from the "
                         "log: " + "; ".join(e.describe() for e in self.missing))
        if self.fewer_events:
            parts.append(f"the log holds {self.event_count_now} events, {self.fewer_events} "
                         f"fewer than the {self.event_count_seen} seen here before")
        return (f"{vault}: evidence was removed since this vault was last opened here: "
                + "; ".join(parts))

    def to_json(self) -> dict[str, Any]:
        return {"missing": [e.to_json() for e in self.missing],
                "event_count_seen": self.event_count_seen,
                "event_count_now": self.event_count_now,
                "detected_at_utc": self.detected_at_utc}


@dataclass
class Memory:
    vault_uid: str
    event_count: int = 0
    heads: dict[str, SeenEvent] = field(default_factory=dict)  # actor -> newest seen
    # Losses already found and not yet acknowledged by the user: kept (with the heads they
    # name) so the alert repeats on every open instead of being forgotten after one.
    pending: Loss | None = None
    acknowledged: list[dict[str, Any]] = field(default_factory=list)


class SeenHeads:
    """The memory of one vault (by uid) in one profile, at ``path``."""

    def __init__(self, path: Path, vault_uid: str, *, home: Path | None = None) -> None:
        self.path = path
        self.vault_uid = vault_uid
        # The profile whose lock guards the read-modify-write (the app and a CLI sharing a
        # profile would otherwise lose each other's updates).
        self.home = home if home is not None else path.parent

    # -- reading and writing ---------------------------------------------------------------

    def load(self) -> Memory:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Memory(self.vault_uid)
        except OSError as exc:
            log.warning("%s: cannot read (%s); starting a new memory", self.path, exc.strerror)
            return Memory(self.vault_uid)
        try:
            return _parse(data, self.vault_uid)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: not a memory of seen events (%s); starting a new one",
                        self.path, exc)
            return Memory(self.vault_uid)

    def save(self, memory: Memory) -> None:
        doc = {"format": FORMAT, "version": VERSION, "vault_uid": memory.vault_uid,
               "event_count": memory.event_count,
               "heads": [h.to_json() for _a, h in sorted(memory.heads.items())],
               "pending": memory.pending.to_json() if memory.pending else None,
               "acknowledged": memory.acknowledged}
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
        try:
            replace_file(self.path, data)
        except OSError as exc:
            # Memory is a safeguard, not evidence: failing to keep it must not fail a write.
            log.warning("%s: cannot write (%s)", self.path, exc.strerror)

    # -- the check -------------------------------------------------------------------------

    def check(self, *, present: Callable[[str], bool], count: Callable[[], int],
              heads: HeadsNow | None) -> Loss | None:
        """Compare the vault as it is (``present`` answers whether an event id is in its
        log, ``count`` how many events it holds, ``heads`` its actors' newest events given
        the ones remembered) with what was seen before; remember the new state (not when
        ``heads`` is None: a look that changes nothing, as verify makes); return what was
        lost (also any loss found earlier and not yet acknowledged), or None.

        The vault is looked at under the profile's lock, after the memory is read: a writer
        sharing the profile advances the memory only after its events are indexed, so what
        is read here is never older than what is remembered (no false alarm from a race)."""
        with profile_lock(self.home):
            memory = self.load()
            return self._check(memory, present, count(),
                               None if heads is None else heads(memory.heads))

    def _check(self, memory: Memory, present: Callable[[str], bool], event_count: int,
               heads: Mapping[str, SeenEvent] | None) -> Loss | None:
        now = utc_now_iso()
        pending = memory.pending
        missing = {e.event_id: e for e in (pending.missing if pending else [])}
        for seen in memory.heads.values():
            if seen.event_id not in missing and not present(seen.event_id):
                missing[seen.event_id] = seen
        # Missing events stay "missing" only while they really are: a restored log (or a
        # sync that brought them back) clears the alert by itself.
        missing = {eid: e for eid, e in missing.items() if not present(eid)}
        seen_count = max(memory.event_count, pending.event_count_seen if pending else 0)
        loss: Loss | None = None
        if missing or event_count < seen_count:
            loss = Loss(sorted(missing.values(), key=lambda e: (e.actor, e.event_id)),
                        seen_count, event_count,
                        pending.detected_at_utc if pending else now)
        if heads is None:
            return loss
        new = Memory(self.vault_uid, max(event_count, seen_count) if loss else event_count,
                     dict(heads), loss, memory.acknowledged)
        for actor, seen in memory.heads.items():
            if seen.event_id in missing:
                new.heads.setdefault(actor, seen)
        if _changed(memory, new):
            self.save(new)
        return loss

    def advance(self, heads: Mapping[str, SeenEvent], event_count: int) -> None:
        """After this replica's own write: the written actors' newest events and the new
        count (cheaper than check(), which looks at every actor). Never while a loss is
        pending (its memory must stay as it was until the user acknowledges)."""
        with profile_lock(self.home):
            memory = self.load()
            if memory.pending is not None:
                return
            memory.heads.update(heads)
            memory.event_count = max(memory.event_count, event_count)
            self.save(memory)

    def acknowledge(self, *, count: Callable[[], int], heads: HeadsNow,
                    reason: str) -> Loss | None:
        """The user has seen the loss and accepts the vault as it is now: the pending loss
        moves to the acknowledged list (with the reason and date) and the memory restarts
        from the vault's present state. Returns the loss acknowledged, if any."""
        with profile_lock(self.home):
            memory = self.load()
            loss = memory.pending
            acknowledged = list(memory.acknowledged)
            if loss is not None:
                acknowledged.append({"acknowledged_at_utc": utc_now_iso(), "reason": reason,
                                     **loss.to_json()})
            self.save(Memory(self.vault_uid, count(), dict(heads(memory.heads)), None,
                             acknowledged))
            return loss


def for_vault(home: Path, root: Path, vault_uid: str) -> SeenHeads:
    """The memory of the vault at ``root`` in the profile ``home``: beside its index, keyed
    the same way (path and uid), so a copy of the vault elsewhere has a memory of its own."""
    index = index_path_for(home, root, vault_uid)
    return SeenHeads(index.with_name(index.stem + ".seen.json"), vault_uid, home=home)


def seen_event(event_id: str, actor: str, type_: str | None,
               timestamp_utc: str | None) -> SeenEvent:
    return SeenEvent(event_id, actor, type_, timestamp_utc, utc_now_iso())


def heads_from_rows(rows: Iterable[tuple[str, str, str | None, str | None]],
                    previous: Mapping[str, SeenEvent] | None = None) -> dict[str, SeenEvent]:
    """SeenEvents from (event_id, actor, type, timestamp_utc) rows, one per actor; an actor
    whose head has not moved keeps the time it was first seen."""
    out: dict[str, SeenEvent] = {}
    for event_id, actor, type_, ts in rows:
        old = (previous or {}).get(actor)
        out[actor] = (old if old is not None and old.event_id == event_id
                      else seen_event(event_id, actor, type_, ts))
    return out


def _changed(old: Memory, new: Memory) -> bool:
    return (old.event_count != new.event_count
            or {a: h.event_id for a, h in old.heads.items()}
            != {a: h.event_id for a, h in new.heads.items()}
            or (old.pending is None) != (new.pending is None)
            or (old.pending is not None and new.pending is not None
                and old.pending.to_json() != new.pending.to_json()))


def _seen_from(raw: Any) -> SeenEvent:
    if not isinstance(raw, dict):
        raise TypeError("an entry must be an object")
    eid, actor = raw["event_id"], raw["actor"]
    if not isinstance(eid, str) or not isinstance(actor, str):
        raise TypeError("event_id and actor must be text")
    type_, ts, at = raw.get("type"), raw.get("timestamp_utc"), raw.get("seen_at_utc")
    return SeenEvent(eid, actor, type_ if isinstance(type_, str) else None,
                     ts if isinstance(ts, str) else None, at if isinstance(at, str) else "")


def _parse(data: bytes, vault_uid: str) -> Memory:
    if len(data) > _MAX_BYTES:
        raise ValueError("file too large")
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("wrong format")
    if doc.get("version") != VERSION or doc.get("vault_uid") != vault_uid:
        raise ValueError("another version or another vault")
    count = doc.get("event_count")
    if not isinstance(count, int) or count < 0:
        raise ValueError("event_count must be a count")
    heads = {h.actor: h for h in map(_seen_from, doc.get("heads") or [])}
    pending = None
    raw = doc.get("pending")
    if isinstance(raw, dict):
        pending = Loss([_seen_from(e) for e in raw.get("missing") or []],
                       int(raw.get("event_count_seen") or 0),
                       int(raw.get("event_count_now") or 0),
                       str(raw.get("detected_at_utc") or ""))
    acknowledged = doc.get("acknowledged")
    return Memory(vault_uid, count, heads, pending,
                  acknowledged if isinstance(acknowledged, list) else [])

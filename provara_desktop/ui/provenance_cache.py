"""Provenance of single events, for the timeline, the inspector and the contested workbench,
cached for the views.

Whole-vault verification (store.verify_vault) answers "is this vault sound?" in one pass; the
views instead need "is THIS event sound, where does it sit in its chain, what did it change?"
for the few dozen events on screen, out of possibly a million. Everything here is therefore
per event, answered from the SQLite index plus one read of the event's log line
(store.event_check gives the verdict), and cached: a view that repaints asks again and again
for the same events. Only the views use these caches, so they live with the views; nothing
here is Qt (the timeline's background fetcher uses it too).

Thread-safety: a Provenance object may be used from the GUI thread and from one background
fetcher at once; its caches are guarded by a lock, and the index serialises its own reads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from provara_desktop.core.logline import parse_line
from provara_desktop.store import layout, vault_keys
from provara_desktop.store.event_check import EventCheck, IdStatus, SigStatus, check_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from provara_desktop.core.key_life import KeyLife
    from provara_desktop.core.keyring import KeyRing
    from provara_desktop.store.index import IndexRow
    from provara_desktop.store.vault import Vault

# Claimed time later than this replica's first sight by more than this is flagged: a signer
# cannot have signed in the future, so its clock runs ahead (or the time is forged).
DEFAULT_SKEW_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ChainPosition:
    rank: int  # 1-based position in the actor's chain (by log order)
    length: int  # events the actor has in the vault
    predecessor: str | None  # prev_event_hash as written
    predecessor_found: bool  # it names an event of the same actor present in the vault
    successors: tuple[str, ...]  # same-actor events naming this one as prev (2+ = a fork)


@dataclass(frozen=True, slots=True)
class AttachmentCheck:
    name: str
    size: Any
    sha256: str
    media_type: str
    status: str  # "ok", "missing", "corrupt", "invalid reference"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class ForkAlert:
    """One actor signed two (or more) events on the same predecessor: equivocation."""

    actor: str
    prev_event_hash: str | None
    rows: tuple[IndexRow, ...]


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 timestamp as an aware datetime (naive ones read as UTC), or None."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


@dataclass
class _Lru:
    size: int
    data: OrderedDict[Any, Any] = field(default_factory=OrderedDict)

    def get(self, key: Any) -> Any:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)


class Provenance:
    """Lazy, cached per-event checks over one open vault."""

    def __init__(self, vault: Vault, *, cache_size: int = 20_000,
                 skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE) -> None:
        self.vault = vault
        self.skew_tolerance = skew_tolerance
        self._lock = threading.Lock()
        self._checks = _Lru(cache_size)
        self._ranks = _Lru(cache_size)
        self._attachments: dict[tuple[str, int, int], str] = {}
        self._keyring: KeyRing | None = None
        self._life: KeyLife | None = None
        self._lengths: dict[str, int] = {}

    def invalidate(self) -> None:
        """Forget everything (the log was rewritten, keys changed, another vault...)."""
        with self._lock:
            self._checks = _Lru(self._checks.size)
            self._ranks = _Lru(self._ranks.size)
            self._attachments.clear()
            self._keyring = None
            self._life = None
            self._lengths.clear()

    def appended(self) -> None:
        """New events only: verdicts stand, but chain lengths and successors change."""
        with self._lock:
            self._lengths.clear()
            self._keyring = None
            self._life = None

    # -- reading ---------------------------------------------------------------------------

    def row(self, event_id: str) -> IndexRow | None:
        return self.vault.index.get(event_id)

    def event(self, row: IndexRow) -> dict[str, Any]:
        return self.vault.read_row(row)

    def raw_line(self, row: IndexRow) -> bytes:
        with self.vault.events_path.open("rb") as f:
            f.seek(row.offset)
            return f.read(row.length)

    def keyring(self) -> KeyRing:
        with self._lock:
            if self._keyring is None:
                self._keyring = self.vault.keyring()
            return self._keyring

    # -- signatures ------------------------------------------------------------------------

    def check(self, row: IndexRow) -> EventCheck:
        """The verdict on the event at ``row`` (cached by event id)."""
        with self._lock:
            cached = self._checks.get(row.event_id)
        if isinstance(cached, EventCheck):
            return cached
        try:
            event: dict[str, Any] | None = self.event(row)
            error = ""
        except Exception as exc:  # a line that no longer parses (edited under us)
            event, error = None, str(exc)
        return self._judge(row, event, error)

    def _judge(self, row: IndexRow, event: dict[str, Any] | None, error: str,
               canonical_line: bytes | None = None) -> EventCheck:
        if event is None:
            # Perhaps a tail being rewritten right now: not cached, asked again next time.
            return EventCheck(row.event_id, SigStatus.UNREADABLE, IdStatus.MISMATCH,
                              row.actor_key_id, None, f"cannot read the event: {error}")
        keyring = self.keyring()
        trusted = False
        entry = keyring.get(row.actor_key_id or "")
        if entry is not None and entry.status in ("revoked", "rotated"):
            trusted = self._within_trust_boundary(row)
        verdict = check_event(event, keyring, revoked_but_trusted=trusted,
                              canonical_line=canonical_line)
        with self._lock:
            self._checks.put(row.event_id, verdict)
        return verdict

    def check_rows(self, rows: Iterable[IndexRow],
                   cancelled: Callable[[], bool] | None = None) -> dict[str, EventCheck]:
        """Verdicts for many rows, reading the log through one open file in offset order
        (a screenful of marks is thousands of events). Stops early when ``cancelled``."""
        out: dict[str, EventCheck] = {}
        todo = []
        for row in rows:
            known = self.cached_check(row.event_id)
            if known is not None:
                out[row.event_id] = known
            else:
                todo.append(row)
        todo.sort(key=lambda r: r.offset)
        with self.vault.events_path.open("rb") as f:
            for i, row in enumerate(todo):
                if cancelled is not None and not i % 64 and cancelled():
                    break
                f.seek(row.offset)
                raw = f.read(row.length)
                parsed = parse_line(raw, where=f"{self.vault.events_path} line {row.pos + 1}")
                out[row.event_id] = self._judge(row, parsed.event, parsed.error or "",
                                                raw if parsed.canonical else None)
        return out

    def check_many(self, rows: Iterable[IndexRow]) -> dict[str, EventCheck]:
        return {r.event_id: self.check(r) for r in rows}

    def cached_check(self, event_id: str) -> EventCheck | None:
        """The verdict if already computed (never does I/O: safe in a paint handler)."""
        with self._lock:
            value = self._checks.get(event_id)
        return value if isinstance(value, EventCheck) else None

    def _within_trust_boundary(self, row: IndexRow) -> bool:
        """Events by a revoked key stay valid up to the boundary its revocation names (the
        boundary and its chain ancestors): the vault's key life says (store/vault_keys.py,
        computed once per change of the vault's keys)."""
        with self._lock:
            life = self._life
        if life is None:
            life = vault_keys.key_life(self.vault)
            with self._lock:
                self._life = life
        return not life.void(row.event_id, row.actor_key_id)

    def predecessor(self, row: IndexRow) -> IndexRow | None:
        """The event ``row`` chains to, when it is in the vault (of any actor: a cross-actor
        link is a broken chain, but the user should still be able to go and look)."""
        return self.vault.index.get(row.prev_event_hash) if row.prev_event_hash else None

    def successors(self, row: IndexRow) -> list[IndexRow]:
        return [r for r in self.vault.index.successors(row.event_id) if r.actor == row.actor]

    def chain_length(self, actor: str) -> int:
        with self._lock:
            n = self._lengths.get(actor)
        if n is None:
            n = self.vault.index.count(actor=actor)
            with self._lock:
                self._lengths[actor] = n
        return n

    def chain_rank(self, row: IndexRow) -> int:
        with self._lock:
            n = self._ranks.get(row.event_id)
        if n is None:
            n = self.vault.index.chain_rank(row.actor or "", row.pos) if row.actor else 0
            with self._lock:
                self._ranks.put(row.event_id, n)
        assert isinstance(n, int)
        return n

    def chain_position(self, row: IndexRow) -> ChainPosition:
        pred = self.predecessor(row)
        return ChainPosition(
            rank=self.chain_rank(row),
            length=self.chain_length(row.actor or "") if row.actor else 0,
            predecessor=row.prev_event_hash,
            predecessor_found=pred is not None and pred.actor == row.actor,
            successors=tuple(r.event_id for r in self.successors(row)),
        )

    def forks_among(self, rows: Iterable[IndexRow]) -> list[ForkAlert]:
        """The forks that ``rows`` (typically the events just appended) take part in:
        a few index lookups instead of grouping the whole index."""
        out: dict[tuple[str, str], ForkAlert] = {}
        for row in rows:
            if row.actor is None or row.prev_event_hash is None:
                continue
            siblings = tuple(r for r in self.vault.index.successors(row.prev_event_hash)
                             if r.actor == row.actor)
            if len(siblings) > 1:
                out[(row.actor, row.prev_event_hash)] = ForkAlert(row.actor,
                                                                  row.prev_event_hash, siblings)
        return list(out.values())

    def forks(self) -> list[ForkAlert]:
        out = []
        for actor, prev, ids in self.vault.index.fork_groups():
            rows = tuple(r for r in (self.vault.index.get(i) for i in ids) if r is not None)
            out.append(ForkAlert(actor, prev, rows))
        return out

    # -- time ------------------------------------------------------------------------------

    def skew_flags(self, row: IndexRow, predecessor: IndexRow | None = None) -> list[str]:
        """Why the claimed time of ``row`` is suspicious (empty when it is not)."""
        claimed = parse_time(row.timestamp_utc)
        if claimed is None:
            return ["no readable claimed time (timestamp_utc)"]
        flags = []
        seen = parse_time(row.first_seen_utc)
        if seen is not None and claimed - seen > self.skew_tolerance:
            flags.append(f"claimed time is {_span(claimed - seen)} after this replica first "
                         "saw the event: the signer's clock runs ahead (or the time is "
                         "forged)")
        if predecessor is not None and predecessor.actor == row.actor:
            before = parse_time(predecessor.timestamp_utc)
            if before is not None and before - claimed > self.skew_tolerance:
                flags.append(f"claimed time is {_span(before - claimed)} before its "
                             "predecessor's: the signer's clock went backwards")
        return flags

    # -- attachments and beliefs -------------------------------------------------------------

    def attachments(self, event: Mapping[str, Any]) -> list[AttachmentCheck]:
        payload = event.get("payload")
        atts = payload.get("attachments") if isinstance(payload, dict) else None
        if not isinstance(atts, list):
            return []
        out = []
        for att in atts:
            if not isinstance(att, dict) or not isinstance(att.get("sha256"), str):
                out.append(AttachmentCheck(str(att), None, "", "", "invalid reference"))
                continue
            sha = att["sha256"]
            out.append(AttachmentCheck(str(att.get("name", sha[:12])), att.get("size"), sha,
                                       str(att.get("media_type", "")),
                                       self._attachment_status(sha, att.get("size"))))
        return out

    def _attachment_status(self, sha: str, size: Any) -> str:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            return "invalid reference"
        path = self.vault.root / layout.CAS_DIR / sha
        try:
            st = path.stat()
        except OSError:
            return "missing"
        key = (sha, st.st_size, st.st_mtime_ns)
        with self._lock:
            known = self._attachments.get(key)
        if known is None:
            h = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            known = "ok" if h.hexdigest() == sha else "corrupt"
            with self._lock:
                self._attachments[key] = known
        if known == "ok" and size != st.st_size:
            return "corrupt"
        return known


def _span(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

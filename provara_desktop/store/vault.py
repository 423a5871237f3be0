"""A vault on disk: the reference layout, one writer at a time, every change atomic.

Reads go through the SQLite index (outside the vault directory) where they can; the log
itself is only scanned to (re)build the index, to verify, and to reduce.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes, strict_loads
from provara_desktop.core.errors import (
    InputError,
    StoreError,
    TamperedVaultError,
    UnsupportedVersionError,
    UsageError,
)
from provara_desktop.core.event import Event, build_event, order_key, utc_now_iso
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.logline import (
    fast_load,
    join_lines,
    load_event,
    load_or_none,
    parse_line_or_raise,
)
from provara_desktop.core.order import total_order
from provara_desktop.core.reducer import Reducer
from provara_desktop.store import key_declaration, layout, seen_heads, txn
from provara_desktop.store.index import EventIndex, IndexRow, index_path_for, row_from_event
from provara_desktop.store.index_build import IndexBuildProgress, index_log
from provara_desktop.store.log_hash_marks import LogHashMarks
from provara_desktop.store.manifest import (
    FileEntry,
    entry_for,
    manifest_bytes,
    manifest_doc,
    manifest_sig_bytes,
    merkle_bytes,
    merkle_root,
    walk_files,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.seen_heads import Loss, SeenEvent

log = logging.getLogger(__name__)

try:  # POSIX advisory locks keep two writers (the app and a CLI) from interleaving
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


# The fields of a keys.json entry carried over from another vault (nothing else: a bundle
# or a peer must not be able to plant arbitrary data in identity/keys.json).
_FOREIGN_KEY_FIELDS = ("key_id", "algorithm", "public_key_b64", "roles", "scopes", "status",
                       "created_at_utc", "revoked_at_utc", "revocation_event_id",
                       "promotion_event_id")
# Roles that make a key an authority over others (the reference's root and quorum keys): a
# foreign source never grants them; a key it brings signs evidence, nothing more.
_AUTHORITY_ROLES = frozenset({"root", "quorum"})


def _foreign_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: entry[k] for k in _FOREIGN_KEY_FIELDS if k in entry}
    roles = out.get("roles")
    if isinstance(roles, list):
        out["roles"] = [r for r in roles if r not in _AUTHORITY_ROLES] or ["attestation"]
    return out


@dataclass(frozen=True)
class StagedAttachment:
    """A file to store in artifacts/cas/ and the payload reference that points at it."""

    source: Path
    sha256: str
    size: int
    media_type: str
    name: str

    def reference(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "media_type": self.media_type,
                "name": self.name}

    @property
    def cas_path(self) -> str:
        return f"{layout.CAS_DIR}/{self.sha256}"


@dataclass
class OpResult:
    """What an operation changed, for the CLI's output and the GUI's refresh flags."""

    events: list[Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reordered_from: int | None = None  # first log position rewritten (None: pure append)
    # True when ``events`` are exactly the events appended, in the order the log now holds
    # them (the app then applies them to its beliefs without reading them back).
    in_log_order: bool = False


def _read_json_file(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{path}: missing (this does not look like a complete vault)") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    return strict_loads(data, where=str(path), max_bytes=64 << 20)


def _actors_by_id(events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {str(e.get("event_id")): str(e.get("actor")) for e in events
            if isinstance(e.get("event_id"), str)}


class Vault:
    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.notes: list[str] = []
        self.genesis: dict[str, Any] = {}
        self.keys_doc: dict[str, Any] = {}
        self._index: EventIndex | None = None
        # sha256 states of events.ndjson as this process last saw or wrote it, at its end
        # and along it (store/log_hash_marks.py): a write hashes only the bytes near it.
        self._log_marks = LogHashMarks.for_log(root / layout.EVENTS)
        # What the log was when this Vault last read or wrote it: (size, inode, mtime).
        # The size alone missed a same-length edit made behind our back, and the kept hash
        # then re-sealed it (see _log_hash_after).
        self._log_seen: tuple[int, int, int] = (-1, -1, -1)
        # Evidence this profile saw that the vault no longer holds (store/seen_heads.py),
        # found when the vault was opened; writes are refused until the user acknowledges.
        self.loss: Loss | None = None
        self._entries: dict[str, FileEntry] = {}
        self._entries_checked = False
        self._manifest_seen: tuple[int, int, int] | None = None  # stat of what we read/wrote
        # The vault lock is re-entrant within this object (an append syncs the index under
        # the lock it already holds) and excludes this process's other threads too.
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        # key id -> a recovery-key declaration built by new_event, written by append()
        self._declarations: dict[str, Event] = {}
        self._declared: set[str] = set()  # keys whose recovery key the vault records

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def init(cls, path: Path, *, key: SigningKey, actor: str, home: Path,
             uid: str | None = None) -> Vault:
        """Create a new vault. Built in a sibling temp dir and renamed into place, so a
        crash never leaves a half-made vault at ``path``."""
        path = Path(path).absolute()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"{path}: already exists and is not an empty directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.provara-init-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            _write_new_vault(tmp, key=key, actor=actor, uid=uid or str(uuid.uuid4()))
            if path.exists():
                path.rmdir()
            os.replace(tmp, path)
            txn.fsync_dir(path.parent)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(path, home=home)

    @classmethod
    def open(cls, path: Path, *, home: Path, sync_index: bool = True,
             index_progress: Callable[[IndexBuildProgress], None] | None = None) -> Vault:
        """Open the vault at ``path`` and bring its index up to date (``index_progress``
        hears how a long indexing run goes: see :meth:`sync_index`)."""
        root = Path(path).absolute()
        if not root.is_dir():
            raise StoreError(f"{root}: no such vault directory")
        vault = cls(root, home)
        with vault._locked():
            note = txn.recover(root)
        if note:
            vault.notes.append(note)
        vault._load_documents()
        if sync_index:
            vault.sync_index(progress=index_progress)
            vault.look_for_losses()
        return vault

    def _load_documents(self) -> None:
        for rel in layout.REQUIRED_FILES:
            if not (self.root / rel).is_file():
                raise StoreError(f"{self.root / rel}: missing (not a Provara vault?)")
        manifest = _read_json_file(self.root / layout.MANIFEST)
        version = manifest.get("backpack_spec_version") if isinstance(manifest, dict) else None
        if version != layout.SPEC_VERSION:
            if isinstance(version, str) and version.split(".")[0].isdigit() and (
                    int(version.split(".")[0]) > 1):
                raise UnsupportedVersionError(
                    f"{self.root / layout.MANIFEST}: written by a newer version of the format "
                    f"(Provara spec {version}); this program reads {layout.SPEC_VERSION}. "
                    "Nothing was changed.")
            raise InputError(f"backpack_spec_version is {version!r}, expected "
                             f"{layout.SPEC_VERSION!r}", where=str(self.root / layout.MANIFEST))
        self._entries = {str(e["path"]): e for e in manifest.get("files", [])
                         if isinstance(e, dict) and "path" in e}
        genesis = _read_json_file(self.root / layout.GENESIS)
        keys = _read_json_file(self.root / layout.KEYS)
        if not isinstance(genesis, dict) or not genesis.get("uid"):
            raise InputError("genesis has no uid", where=str(self.root / layout.GENESIS))
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
            raise InputError("no \"keys\" list", where=str(self.root / layout.KEYS))
        self.genesis, self.keys_doc = genesis, keys
        self._manifest_seen = self._manifest_stamp()

    @property
    def uid(self) -> str:
        return str(self.genesis["uid"])

    @property
    def events_path(self) -> Path:
        return self.root / layout.EVENTS

    def keyring(self) -> KeyRing:
        return KeyRing.from_keys_json(self.keys_doc)

    def close(self) -> None:
        if self._index is not None:
            with contextlib.suppress(OSError, sqlite3.Error):
                self._remember_heads()
            self._index.close()
            self._index = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            self._lock_depth += 1
            try:
                if fcntl is None or self._lock_depth > 1:
                    yield
                    return
                fd = os.open(self.root, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
            finally:
                self._lock_depth -= 1

    # -- what this profile saw before (store/seen_heads.py) ------------------------------

    def _seen_heads(self) -> seen_heads.SeenHeads:
        return seen_heads.for_vault(self.home, self.root, self.uid)

    def _current_heads(self, previous: Mapping[str, SeenEvent]) -> dict[str, SeenEvent]:
        rows = []
        for actor in self.index.actor_names():  # one index seek per actor
            head = self.chain_head(actor)
            if head is not None:
                rows.append((head.event_id, actor, head.type, head.timestamp_utc))
        return seen_heads.heads_from_rows(rows, previous)

    def look_for_losses(self) -> Loss | None:
        """Compare the (indexed) log with what this profile saw of it before, remember what
        it holds now, and keep in ``self.loss`` whatever went missing: events this replica
        saw, gone even if the manifest was re-sealed over their removal."""
        index = self.index
        self.loss = self._seen_heads().check(present=lambda eid: index.get(eid) is not None,
                                             count=index.count, heads=self._current_heads)
        if self.loss is not None:
            log.warning("%s", self.loss.message(str(self.root)))
        return self.loss

    def acknowledge_loss(self, reason: str) -> Loss | None:
        """The user accepts the vault as it is now: the loss found on opening is recorded
        as acknowledged (with ``reason``, in the profile) and writes are allowed again."""
        with self._locked():
            loss = self._seen_heads().acknowledge(count=self.index.count,
                                                  heads=self._current_heads, reason=reason)
            self.loss = None
            return loss

    def _remember_heads(self) -> None:
        """Record the heads as they are now (after our own writes), unless a loss is
        pending: that one stays until the user acknowledges it."""
        if self.loss is None:
            index = self.index
            self._seen_heads().check(present=lambda eid: index.get(eid) is not None,
                                     count=index.count, heads=self._current_heads)

    def _remember_written(self, events: Sequence[Event]) -> None:
        """The heads of the actors just written, one index seek each."""
        if self.loss is not None:
            return
        rows = []
        for actor in sorted({str(e.get("actor")) for e in events}):
            head = self.chain_head(actor)
            if head is not None:
                rows.append((head.event_id, actor, head.type, head.timestamp_utc))
        try:
            self._seen_heads().advance(seen_heads.heads_from_rows(rows), self.index.count())
        except OSError as exc:  # a safeguard, not evidence: never fail a write over it
            log.warning("cannot remember the heads of %s: %s", self.root, exc)

    def _refuse_if_lost(self) -> None:
        if self.loss is not None:
            raise TamperedVaultError(
                f"{self.loss.message(str(self.root))}; refusing to write, nothing was "
                f"written. If you know why (an older backup restored, say), record it with "
                f"`provara-desktop acknowledge-loss {self.root} --reason TEXT`")

    # -- reading the log -----------------------------------------------------------------

    def iter_raw_lines(self, start_offset: int = 0,
                       first_lineno: int = 1) -> Iterator[tuple[int, int, bytes]]:
        """(line number, byte offset, bytes without newline) for each line of the log. A
        last line without its newline is yielded too; callers decide whether it is torn."""
        lineno = first_lineno
        offset = start_offset
        with self.events_path.open("rb") as f:
            f.seek(start_offset)
            rest = b""
            while chunk := f.read(1 << 22):
                data = rest + chunk
                start = 0
                while (nl := data.find(b"\n", start)) >= 0:
                    yield lineno, offset, data[start:nl]
                    offset += nl - start + 1
                    lineno += 1
                    start = nl + 1
                rest = data[start:]
            if rest:
                yield lineno, offset, rest

    def events(self) -> Iterator[Event]:
        """Every event in log order; a bad line raises InputError naming file and line.
        This is the reduce path, so lines are split in bulk rather than one find() each."""
        lineno = 0
        with self.events_path.open("rb") as f:
            rest = b""
            while chunk := f.read(1 << 22):
                parts = (rest + chunk).split(b"\n")
                rest = parts.pop()
                for raw in parts:
                    lineno += 1
                    # Whitespace-only lines ("\r" of a CRLF blank line) are blank too, as
                    # for verify and the index; isspace() stops at the first "{".
                    if raw and not raw.isspace():
                        # The error location is formatted only when a line is bad: doing it
                        # for every line was a tenth of the cost of a reduce.
                        ev = fast_load(raw)
                        yield ev if ev is not None else load_event(
                            raw, where=f"{self.events_path} line {lineno}")
            if rest and not rest.isspace():
                yield load_event(rest, where=f"{self.events_path} line {lineno + 1}")

    def read_row(self, row: IndexRow) -> Event:
        with self.events_path.open("rb") as f:
            f.seek(row.offset)
            raw = f.read(row.length)
        return parse_line_or_raise(raw, where=f"{self.events_path} line {row.pos + 1}")

    def reduce(self) -> Reducer:
        return Reducer().apply_all(self.events())

    # -- index -----------------------------------------------------------------------------

    @property
    def index(self) -> EventIndex:
        if self._index is None:
            self._index = EventIndex.open(index_path_for(self.home, self.root, self.uid),
                                          vault_uid=self.uid)
        return self._index

    def sync_index(self, *,
                   progress: Callable[[IndexBuildProgress], None] | None = None) -> None:
        """Bring the index up to date with the log: index the new tail, or rebuild when the
        log was rewritten under it (by another tool, or by a reorder). ``progress`` is
        called after every batch of rows (store.index_build) while lines are indexed.

        Under the vault lock: another process sharing this profile (and so this index) may
        be between writing its log tail and indexing it. Looking then, we took its new lines
        for a rewritten log, emptied the index, and its own indexing failed after its commit."""
        with self._locked():
            self._sync_index_locked(progress)

    def _sync_index_locked(
            self, progress: Callable[[IndexBuildProgress], None] | None = None) -> None:
        index = self.index
        size = self.events_path.stat().st_size
        cov = index.coverage()
        if cov.log_bytes == size and self._tail_matches(cov.log_bytes, cov.last_line_sha256):
            return
        if cov.log_bytes > size or not self._tail_matches(cov.log_bytes, cov.last_line_sha256):
            # Rewritten under the index (a merge of older events by a program with another
            # profile, or a loss): the rows before the first changed position still hold,
            # so only the tail is indexed again (a merge of 1k late events into a
            # million-event log re-indexed all of it: ~20 s before the app showed them).
            keep = self._rows_still_in_log(cov.event_count, size)
            if keep == 0:
                log.info("index of %s does not match the log; rebuilding", self.root)
                index.reset()
            else:
                last = index.row_at(keep - 1)
                assert last is not None
                end = last.offset + last.length + 1
                log.info("log of %s rewritten from event %d on; indexing it from there",
                         self.root, keep + 1)
                with self.events_path.open("rb") as f:
                    f.seek(last.offset)
                    sha = hashlib.sha256(f.read(last.length)).hexdigest()
                index.truncate(keep, log_bytes=end, last_line_sha256=sha)
            cov = index.coverage()
        self._index_from(cov.event_count, cov.log_bytes, progress)

    def _rows_still_in_log(self, count: int, size: int) -> int:
        """How many leading index rows still describe the log: the first changed position,
        found by bisection (a rewrite changes every position from where it began: each
        later event is another one, or the same one moved by the lines inserted before
        it). A row holds when its bytes are still a whole line of the log holding that
        event."""
        def holds(pos: int) -> bool:
            row = self.index.row_at(pos)
            if row is None or row.offset + row.length >= size:
                return False
            with self.events_path.open("rb") as f:
                f.seek(max(0, row.offset - 1))
                data = f.read(row.length + 1 + (row.offset > 0))
            line = data[1:-1] if row.offset > 0 else data[:-1]
            if (row.offset > 0 and data[:1] != b"\n") or data[-1:] != b"\n":
                return False
            ev = load_or_none(line)
            return ev is not None and ev.get("event_id") == row.event_id

        lo, hi = 0, count  # rows [0, lo) hold; [hi, count) do not
        while lo < hi:
            mid = (lo + hi) // 2
            if holds(mid):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _tail_matches(self, log_bytes: int, sha: str | None) -> bool:
        if log_bytes == 0:
            return sha is None
        if sha is None:
            return False
        with self.events_path.open("rb") as f:
            start = max(0, log_bytes - 2 * 1024 * 1024)
            f.seek(start)
            data = f.read(log_bytes - start)
        if not data.endswith(b"\n"):
            return False
        line = data[: -1].rsplit(b"\n", 1)[-1]
        return hashlib.sha256(line).hexdigest() == sha

    def _index_from(self, pos: int, offset: int,
                    progress: Callable[[IndexBuildProgress], None] | None = None) -> None:
        # The lines from ``offset`` on, parsed and indexed in batches (store.index_build:
        # the fast path that the first open of a large vault waits for).
        index_log(self._append_rows, self.events_path, pos=pos, offset=offset,
                  first_seen_utc=utc_now_iso(), progress=progress)

    def _append_rows(self, rows: list[IndexRow], *, log_bytes: int,
                     last_line_sha256: str | None) -> None:
        """index.append, with the one refusal a log line can cause (the same event twice)
        said as the user sees it: which line repeats which. (Nothing was indexed then.)"""
        try:
            self.index.append(rows, log_bytes=log_bytes, last_line_sha256=last_line_sha256)
        except ValueError:
            first: dict[str, IndexRow] = {}
            for row in rows:
                earlier = first.get(row.event_id) or self.index.get(row.event_id)
                if earlier is not None:
                    # Line numbers counted, not taken from positions: blank lines have none.
                    with self.events_path.open("rb") as f:
                        head = f.read(row.offset + row.length)
                    a, b = earlier.offset, row.offset
                    same = head[a:a + earlier.length] == head[b:b + row.length]
                    what = "repeats" if same else "repeats the event id of"
                    line_b, line_a = head.count(b"\n", 0, b) + 1, head.count(b"\n", 0, a) + 1
                    raise InputError(f"line {line_b} {what} line {line_a} "
                                     f"(event {row.event_id})",
                                     where=str(self.events_path)) from None
                first[row.event_id] = row
            raise

    def _ends_with_nl(self) -> bool:
        with self.events_path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def chain_head(self, actor: str) -> IndexRow | None:
        rows = self.index.query(actor=actor, descending=True, limit=1)
        return rows[0] if rows else None

    # -- writing ---------------------------------------------------------------------------

    def new_event(self, *, key: SigningKey, actor: str, event_type: str,
                  payload: Mapping[str, Any], namespace: str | None = None) -> Event:
        # Another program (the reference CLI, or ours with another profile and so another
        # index) may have appended since this Vault last looked: without this the chain head
        # came from a stale index and our new event forked our own chain (equivocation).
        self._check_external_change(OpResult())
        head = self.chain_head(actor)
        ts_logical = 1
        prev = head.event_id if head else None
        if head is not None:
            prev_ev = self.read_row(head)
            prev_ts = prev_ev.get("ts_logical")
            ts_logical = (prev_ts if isinstance(prev_ts, int) else
                          self.index.count(actor=actor)) + 1
        declaration = self._declaration_for(key, actor, prev, ts_logical)
        if declaration is not None:
            prev, ts_logical = str(declaration["event_id"]), ts_logical + 1
        return build_event(event_type=event_type, actor=actor, payload=payload,
                           prev_event_hash=prev, key=key,
                           namespace=namespace, ts_logical=ts_logical)

    def _declaration_for(self, key: SigningKey, actor: str, prev: str | None,
                         ts_logical: int) -> Event | None:
        """The recovery-key declaration (store/key_declaration.py) the key's next event must
        follow, when the profile's identity has a recovery key the vault does not record
        yet; kept until append() writes it with the event built on it."""
        pending = self._declarations.get(key.key_id)
        if pending is not None and pending.get("prev_event_hash") == prev:
            return pending
        recovery = key_declaration.recovery_public_for(self.home, key.key_id)
        if recovery is None or key.key_id in self._declared:
            return None
        if key_declaration.declared_in(self, key.key_id):
            self._declared.add(key.key_id)  # events stay: asked once per key and Vault
            return None
        declaration = build_event(
            event_type=key_declaration.KEY_AUTHORITY, actor=actor, prev_event_hash=prev,
            key=key, payload=key_declaration.declaration_payload(key, recovery),
            namespace="canonical", ts_logical=ts_logical)
        self._declarations[key.key_id] = declaration
        return declaration

    def append(self, new_events: Sequence[Event], *, signer: SigningKey,
               attachments: Sequence[StagedAttachment] = ()) -> OpResult:
        """Add events (already built and signed) atomically, with their attachments, the
        signer's public key when the vault does not list it yet, and a fresh manifest."""
        given = len(new_events)
        new_events = self._with_declarations(new_events)
        result = OpResult(events=list(new_events))
        if len(new_events) > given:
            result.notes.append("the recovery key of this identity is now recorded in the "
                                "vault (a declaration signed by its key, written first)")
        with self._locked():
            self._check_external_change(result)
            ids = [e.get("event_id") for e in new_events]
            for eid in ids:
                if self.index.get(str(eid)) is not None:
                    raise UsageError(f"{eid} is already in this vault")
            self._refuse_self_fork(new_events, signer)
            size = self.events_path.stat().st_size
            start, tail, old_tail = self._placement(new_events, size)
            if start < self.index.count():
                result.reordered_from = start
                result.notes.append(
                    f"a new event sorts before {self.index.count() - start} existing event(s) "
                    "(a clock is ahead); the log tail was rewritten in total order")
            change = txn.Change(events_offset=self._offset_of(start, size), events_tail=tail)
            keys_doc = self._keys_with(signer)
            if keys_doc is not self.keys_doc:
                result.notes.append(f"key {signer.key_id} was added to identity/keys.json")
            keys_doc = self._keys_after(keys_doc, new_events)
            if keys_doc is not self.keys_doc:
                change.files[layout.KEYS] = layout.pretty_json(keys_doc)
            handle = txn.begin(self.root)
            try:
                for att in attachments:
                    if not (self.root / att.cas_path).exists():
                        change.staged[att.cas_path] = txn.stage_file(handle, att.source,
                                                                     att.sha256)
                log_hash = self._log_hash_after(change, size, old_tail)
                self._write_manifest(change, signer, log_hash,
                                     len(tail) + change.events_offset)
            except BaseException:
                txn.abort(self.root, handle)
                raise
            txn.commit(self.root, handle, change)
            self.keys_doc = keys_doc
            self._log_size = change.events_offset + len(tail)
            self._manifest_seen = self._manifest_stamp()
            self._log_marks.after_write(change.events_offset, self._log_size, log_hash,
                                        self._log_seen)
            self._reindex_tail(start, change.events_offset, tail)
            self._remember_written(new_events)
            for e in new_events:
                if self._declarations.get(str(e.get("actor_key_id"))) is e:
                    del self._declarations[str(e.get("actor_key_id"))]
        return result

    def _with_declarations(self, new_events: Sequence[Event]) -> list[Event]:
        """``new_events`` with, before the first event built on it, each pending declaration
        (new_event made one) that is not in the vault yet."""
        out: list[Event] = []
        ids = {e.get("event_id") for e in new_events}
        for e in new_events:
            for d in self._declarations.values():
                did = d.get("event_id")
                if e.get("prev_event_hash") == did and did not in ids \
                        and self.index.get(str(did)) is None:
                    out.append(d)
                    ids.add(did)
            out.append(e)
        return out

    def _keys_after(self, keys_doc: dict[str, Any], new_events: Sequence[Event]
                    ) -> dict[str, Any]:
        """keys.json once ``new_events`` are written, when they hold key events (rare): the
        keys they bring (a recovery key, a promoted key, a device) are listed, and the keys
        they revoke are marked so (store/vault_keys.py), so the reference reads the same."""
        from provara_desktop.core.key_life import is_key_event
        from provara_desktop.store import vault_keys

        if not any(is_key_event(e) for e in new_events):
            return keys_doc
        life = vault_keys.key_life(self, new_events)
        return vault_keys.keys_doc_for(keys_doc, life, now=utc_now_iso(),
                                       new_keys=vault_keys.keys_brought(new_events))

    # -- foreign events: the intake's transaction ----------------------------------------
    # The intake (provara_desktop/intake) decides which foreign events go in and where;
    # these three calls are all it needs of the vault, so the rules of a write (lock,
    # journal, keys.json, manifest, cached hashes) stay here, next to append().

    @contextlib.contextmanager
    def writing(self, result: OpResult) -> Iterator[None]:
        """Hold the vault lock for a write decided under it, after catching up with what
        another program wrote since this Vault last looked (notes go to ``result``)."""
        with self._locked():
            self._check_external_change(result)
            yield

    def log_tail(self, pos: int) -> tuple[int, bytes]:
        """(byte offset of log position ``pos``, the log's bytes from there to the end);
        (size, b"") when ``pos`` is the event count."""
        size = self.events_path.stat().st_size
        offset = self._offset_of(pos, size)
        if offset >= size:
            return offset, b""
        with self.events_path.open("rb") as f:
            f.seek(offset)
            return offset, f.read()

    def replace_tail(self, result: OpResult, *, start: int, tail: bytes, old_tail: bytes,
                     signer: SigningKey, key_entries: Sequence[Mapping[str, Any]] = (),
                     attachments: Mapping[str, Callable[[Path], None]] | None = None,
                     check_cancel: Callable[[], None] | None = None,
                     new_events: Sequence[Event] = ()) -> int:
        """One journaled transaction, under ``writing()``: the log from position ``start`` on
        becomes ``tail`` (whole lines, newline-terminated), the keys.json entries of
        ``key_entries`` the vault does not list yet are added (only their protocol fields:
        a foreign source must not plant arbitrary data there), each attachment (sha256 -> a
        function writing its verified bytes to a path) is streamed into the journal's
        staging and lands in artifacts/cas/, and the manifest is re-sealed by ``signer``.
        ``old_tail`` is what the log holds from ``start`` now (``log_tail``). Returns the
        byte offset the new tail starts at. The index is the caller's to update.
        ``check_cancel`` may raise before the commit point; nothing is written then."""
        if self._lock_depth == 0:  # the placement was decided under the lock, or it is stale
            raise RuntimeError("Vault.replace_tail() is only called inside Vault.writing()")
        size = self.events_path.stat().st_size
        change = txn.Change(events_offset=self._offset_of(start, size), events_tail=tail)
        keys_doc = self._keys_with(signer, signs_events=False)
        listed = {k.get("key_id") for k in keys_doc["keys"] if isinstance(k, dict)}
        added = [_foreign_entry(e) for e in key_entries if e.get("key_id") not in listed]
        if added:
            keys_doc = {**keys_doc, "keys": [*keys_doc["keys"], *added]}
            result.notes.append(f"{len(added)} key(s) added to identity/keys.json: "
                                + ", ".join(str(k["key_id"]) for k in added))
        if new_events:
            keys_doc = self._keys_after(keys_doc, new_events)
        if keys_doc is not self.keys_doc:
            change.files[layout.KEYS] = layout.pretty_json(keys_doc)
        if check_cancel is not None:
            check_cancel()
        handle = txn.begin(self.root)
        try:
            for sha, write in sorted((attachments or {}).items()):
                rel = f"{layout.CAS_DIR}/{sha}"
                if (self.root / rel).exists():
                    continue
                if check_cancel is not None:
                    check_cancel()
                dest = handle / "staged" / sha
                write(dest)
                change.staged[rel] = dest
            if check_cancel is not None:
                check_cancel()
            log_hash = self._log_hash_after(change, size, old_tail)
            self._write_manifest(change, signer, log_hash, len(tail) + change.events_offset)
        except BaseException:
            txn.abort(self.root, handle)
            # The cached manifest entries may now name staged files that never landed:
            # forget them and re-read what is on disk.
            self._entries_checked = False
            self._load_documents()
            raise
        txn.commit(self.root, handle, change)  # the commit point: no cancel after this
        self.keys_doc = keys_doc
        self._log_size = change.events_offset + len(tail)
        self._manifest_seen = self._manifest_stamp()
        self._log_marks.after_write(change.events_offset, self._log_size, log_hash,
                                    self._log_seen)
        return change.events_offset

    def prepare_writes(self) -> None:
        """Do now what the first append after opening would otherwise do: hash the whole
        log (the manifest lists its sha256; later appends only hash their own bytes) and
        re-check the other files against the manifest. On a 1M-event vault that is about
        half a second, so the app runs this on its writer thread right after opening, and
        the investigator's first append costs what every later one does."""
        with self._locked():
            self._check_external_change(OpResult(events=[]))
            size = self.events_path.stat().st_size
            try:
                self._log_hash_after(txn.Change(events_offset=size, events_tail=b""), size,
                                     b"")
                if not self._entries_checked:
                    fresh = self._fresh_entries(txn.Change(events_offset=size,
                                                           events_tail=b""))
                    listed = self._entries.get(layout.EVENTS)
                    if listed is not None:
                        fresh[layout.EVENTS] = listed
                    self._entries = fresh
            except TamperedVaultError as exc:
                # Nothing to write yet: the first write will refuse with this message.
                log.warning("%s", exc)

    def _manifest_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = (self.root / layout.MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _refuse_self_fork(self, new_events: Sequence[Event], signer: SigningKey) -> None:
        """An event we sign must extend its actor's chain head as it is now (under the lock):
        if another writer appended between new_event() and here, writing it would be a fork
        of our own chain. Foreign events (imports) are not checked: their forks are real."""
        batch = {e.get("event_id") for e in new_events}
        for ev in new_events:
            prev = ev.get("prev_event_hash")
            if ev.get("actor_key_id") != signer.key_id or prev in batch:
                continue
            head = self.chain_head(str(ev.get("actor")))
            if prev != (head.event_id if head is not None else None):
                raise StoreError(
                    f"{self.root}: another program appended to the chain of "
                    f"{ev.get('actor')} while this event was being made; nothing was "
                    "written, please try again")

    @property
    def _log_size(self) -> int:
        return self._log_seen[0]

    @_log_size.setter
    def _log_size(self, size: int) -> None:
        self._log_seen = (size, *self._log_identity())

    def _log_identity(self) -> tuple[int, int]:
        st = self.events_path.stat()
        return st.st_ino, st.st_mtime_ns

    def _log_unchanged(self, size: int) -> bool:
        """The log is as this Vault last saw or wrote it."""
        return self._log_seen == (size, *self._log_identity())

    def _check_external_change(self, result: OpResult) -> None:
        """Another program may have written the vault since we last looked."""
        size = self.events_path.stat().st_size
        # The manifest too: another tool may add files and re-run its manifest (`provara
        # query` + `provara manifest`) without touching the log. Our cached entries then
        # lacked those files, and our next manifest dropped them: PHANTOM_FILE, and the
        # reference's verify failed.
        if not self._log_unchanged(size) or self._manifest_stamp() != self._manifest_seen:
            # (The log's hash marks check the file's stamp themselves when next used.)
            self._entries_checked = False
            self._load_documents()
            self.sync_index()
            self._log_size = size  # looked at now

    def _placement(self, new_events: Sequence[Event],
                   size: int) -> tuple[int, bytes, bytes]:
        """Where the new events go in the total order: (first position rewritten, new tail
        bytes from there, old tail bytes they replace)."""
        count = self.index.count()
        new_ids = {e.get("event_id") for e in new_events}
        start = count
        for ev in new_events:
            prev = ev.get("prev_event_hash")
            if prev in new_ids:
                continue
            prev_row = self.index.get(prev) if isinstance(prev, str) else None
            after = prev_row.pos if prev_row is not None and prev_row.actor == ev.get(
                "actor") else -1
            later = self.index.first_pos_sorting_after(after, order_key(ev))
            if later is not None:
                start = min(start, later)
        waiting = self.index.first_pos_waiting_on(_actors_by_id(new_events))
        if waiting is not None:
            start = min(start, waiting)
        if start >= count:
            order = total_order(new_events)
            return count, join_lines(canonical_bytes(new_events[i]) for i in order), b""
        offset = self._offset_of(start, size)
        with self.events_path.open("rb") as f:
            f.seek(offset)
            old_tail = f.read()
        old_events = [parse_line_or_raise(raw, where=f"{self.events_path} line {start + i + 1}")
                      for i, raw in enumerate(old_tail.split(b"\n")) if raw.strip()]
        merged = old_events + list(new_events)
        order = total_order(merged)
        tail = join_lines(canonical_bytes(merged[i]) for i in order)
        return start, tail, old_tail

    def _offset_of(self, pos: int, size: int) -> int:
        row = self.index.row_at(pos)
        return row.offset if row is not None else size

    def _keys_with(self, signer: SigningKey, *, signs_events: bool = True) -> dict[str, Any]:
        """keys.json listing ``signer``. ``signs_events``: it signs new events (refused for a
        revoked or rotated key); else only the manifest (an intake, which may bring the
        revocation of this very key from another of the owner's machines)."""
        listed = [k for k in self.keys_doc["keys"]
                  if isinstance(k, dict) and k.get("key_id") == signer.key_id]
        if signs_events and any(k.get("status") in ("revoked", "rotated") for k in listed):
            # Every event it signed from now on would be flagged (it is past any trust
            # boundary) and the reference rejects it outright: refuse before writing.
            raise UsageError(f"key {signer.key_id} is revoked or rotated in this vault "
                             "(identity/keys.json); it cannot sign new events here (`keys "
                             "VAULT` shows what replaced it)")
        if listed:
            return self.keys_doc
        doc = dict(self.keys_doc)
        doc["keys"] = [*self.keys_doc["keys"],
                       layout.key_entry(signer.key_id, signer.public.b64, utc_now_iso(),
                                        roles=["attestation"])]
        return doc

    def _log_hash_after(self, change: txn.Change, size: int, old_tail: bytes) -> Any:
        """sha256 of events.ndjson after the change: the kept state at (or shortly before)
        the change's offset, plus the bytes from there (store/log_hash_marks.py). A fresh
        process, or a log another program wrote, hashes the kept prefix once."""
        self._log_marks.usable((size, *self._log_identity()))
        h = self._log_marks.prefix(self.events_path, change.events_offset)
        # The log as it is now (the prefix and the tail about to be replaced) must be what
        # the manifest lists: else it was changed outside any Provara tool, and the manifest
        # we are about to write would silently cover that change (a deleted line, say).
        before = h.copy()
        before.update(old_tail)
        listed = self._entries.get(layout.EVENTS)
        if listed is not None and (listed.get("sha256"), listed.get("size")) != (
                before.hexdigest(), size):
            self._log_marks.clear()
            raise TamperedVaultError(
                f"{self.root}: refusing to write: {layout.EVENTS} does not match "
                f"manifest.json ({size} bytes, sha256 {before.hexdigest()[:16]}…; the "
                f"manifest lists {listed.get('size')} bytes, sha256 "
                f"{str(listed.get('sha256'))[:16]}…), so it was changed outside any "
                "Provara tool; nothing was written. `provara-desktop verify "
                f"{self.root}` shows what changed")
        if not old_tail and change.events_offset == size:
            # Known to match now: the next append starts from here without reading.
            self._log_size = size
            self._log_marks.after_write(size, size, h, self._log_seen)
        return self._log_marks.hash_tail(h, change.events_offset, change.events_tail)

    def _write_manifest(self, change: txn.Change, signer: SigningKey, log_hash: Any,
                        log_size: int) -> None:
        self._refuse_if_lost()
        entries = self._fresh_entries(change)
        entries[layout.EVENTS] = {"path": layout.EVENTS, "sha256": log_hash.hexdigest(),
                                  "size": log_size}
        for rel, data in change.files.items():
            if rel not in layout.MANIFEST_EXCLUDED:
                entries[rel] = {"path": rel, "sha256": hashlib.sha256(data).hexdigest(),
                                "size": len(data)}
        for rel, staged in change.staged.items():
            entries[rel] = {"path": rel, "sha256": rel.rsplit("/", 1)[-1],
                            "size": staged.stat().st_size}
        now = utc_now_iso()
        files = sorted(entries.values(), key=lambda e: str(e["path"]))
        root_hex = merkle_root(files)
        change.files[layout.MANIFEST] = manifest_bytes(manifest_doc(files, now))
        change.files[layout.MERKLE_ROOT] = merkle_bytes(root_hex)
        change.files[layout.MANIFEST_SIG] = manifest_sig_bytes(root_hex, signer, now)
        self._entries = entries

    def _fresh_entries(self, change: txn.Change) -> dict[str, FileEntry]:
        """Manifest entries for everything but the log. Small files are re-hashed (cheap, and a
        change made behind our back is then reported rather than laundered); content-
        addressed attachments keep their entry when the size still matches, so a vault with
        gigabytes of evidence is not re-read on every append."""
        if self._entries_checked:
            return dict(self._entries)
        fresh: dict[str, FileEntry] = {}
        for rel in walk_files(self.root):
            if rel == layout.EVENTS:
                continue
            cached = self._entries.get(rel)
            p = self.root / rel
            if (cached is not None and rel.startswith(layout.CAS_DIR + "/")
                    and cached.get("size") == p.stat().st_size):
                fresh[rel] = cached
            else:
                fresh[rel] = entry_for(self.root, rel)
        # A listed file that changed or went is refused: re-sealing it would hide the
        # change. A file that is on disk but not listed hides nothing (the reference's own
        # `provara query` leaves .index/events.db in the vault) and is sealed in, with a note.
        listed = set(self._entries) - {layout.EVENTS}
        changed = sorted(rel for rel in listed if fresh.get(rel) != self._entries.get(rel))
        if changed:
            raise TamperedVaultError(
                f"{self.root}: refusing to write: these files do not match manifest.json "
                f"(changed or removed outside any Provara tool): {', '.join(changed)}; "
                f"nothing was written. `provara-desktop verify {self.root}` shows what changed")
        added = sorted(set(fresh) - listed)
        if added:
            log.warning("files not in the manifest of %s: %s", self.root, ", ".join(added))
            self.notes.append("these files were not listed in manifest.json and are now "
                              f"(added outside provara-desktop?): {', '.join(added)}")
        self._entries_checked = True
        return fresh

    def _reindex_tail(self, start: int, offset: int, tail: bytes) -> None:
        now = utc_now_iso()
        rows: list[IndexRow] = []
        off = offset
        last_sha = None
        for i, raw in enumerate(tail.split(b"\n")[:-1]):
            event = json.loads(raw)
            prior = self.index.first_seen(event["event_id"]) if start < self.index.count() else None
            rows.append(row_from_event(event, pos=start + i, offset=off, length=len(raw),
                                       first_seen_utc=prior or now))
            off += len(raw) + 1
            last_sha = hashlib.sha256(raw).hexdigest()
        with self.index.transaction():
            if start < self.index.count():
                self.index.truncate(start, log_bytes=offset, last_line_sha256=None)
            self.index.append(rows, log_bytes=off, last_line_sha256=last_sha)


def _write_new_vault(root: Path, *, key: SigningKey, actor: str, uid: str) -> None:
    for d in layout.REQUIRED_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "policies" / "ontology").mkdir(parents=True, exist_ok=True)
    birth = utc_now_iso()
    genesis = build_event(
        event_type="GENESIS", actor=actor, prev_event_hash=None, key=key,
        payload={"uid": uid, "root_key_id": key.key_id, "birth_timestamp": birth,
                 "spec_version": layout.SPEC_VERSION},
        namespace="canonical", ts_logical=1)
    seed = build_event(
        event_type="OBSERVATION", actor=actor, prev_event_hash=genesis["event_id"], key=key,
        payload={"subject": "system", "predicate": "status", "value": "initialized",
                 "confidence": 1.0},
        namespace="local", ts_logical=2)
    docs: dict[str, bytes] = {
        layout.GENESIS: layout.pretty_json(layout.genesis_doc(uid, birth, key.key_id)),
        layout.KEYS: layout.pretty_json(
            {"keys": [layout.key_entry(key.key_id, key.public.b64, birth)], "revocations": []}),
        layout.SAFETY_POLICY: layout.pretty_json(layout.safety_policy()),
        layout.RETENTION_POLICY: layout.pretty_json(layout.retention_policy()),
        layout.SYNC_CONTRACT: layout.pretty_json(layout.sync_contract(key.key_id)),
        layout.ONTOLOGY: layout.pretty_json(layout.ontology()),
        layout.EVENTS: canonical_bytes(genesis) + b"\n" + canonical_bytes(seed) + b"\n",
    }
    for rel, data in docs.items():
        txn.write_file_durably(root / rel, data)
    entries = [entry_for(root, rel) for rel in sorted(walk_files(root))]
    root_hex = merkle_root(entries)
    txn.write_file_durably(root / layout.MANIFEST, manifest_bytes(manifest_doc(entries, birth)))
    txn.write_file_durably(root / layout.MERKLE_ROOT, merkle_bytes(root_hex))
    txn.write_file_durably(root / layout.MANIFEST_SIG, manifest_sig_bytes(root_hex, key, birth))
    for sub in {root / d for d in layout.REQUIRED_DIRS}:
        txn.fsync_dir(sub)

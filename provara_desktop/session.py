"""A vault opened by the desktop app: one writer thread, the beliefs kept current, and a bus
that tells the UI what changed. Qt-free, so it is tested without a display.

Every write runs on the single writer thread (SQLite and the log have one writer, STYLE rule
3); reads of the index happen on any thread (the index serialises them internally). The
reducer state is rebuilt in the writer thread at open and then advanced event by event as
the log grows; a rewrite of the log's tail (clock skew) or an external change rebuilds it.

Three threads, so no kind of work waits behind another: the writer (writes, the reducer),
a verifier (whole-vault verification can take minutes on a large vault) and a query thread
(snapshots and histories the views ask for while the user clicks around).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from provara_desktop.core.canonical import canonical_dumps
from provara_desktop.core.errors import UserCancelled
from provara_desktop.core.logline import parse_line_or_raise
from provara_desktop.core.reducer import NAMESPACES, Reducer, key_splits
from provara_desktop.core.reducer_state import KeptTable
from provara_desktop.runtime.bus import Changes, EventBus, VaultChanged
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.runtime.piecewise_sort import sorted_gently
from provara_desktop.runtime.progress import CancelToken, Progress
from provara_desktop.runtime.recent_ids import RecentIds, keys_to_reduce_again
from provara_desktop.runtime.seen_positions import SeenPositions
from provara_desktop.store import belief_snapshot, evidence, key_events

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from provara_desktop.core.event import Event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.intake.plan import ImportPlan
    from provara_desktop.store.devices import Certified
    from provara_desktop.store.identity import Identity, IdentityStore
    from provara_desktop.store.key_rotation import Revoked, Rotated
    from provara_desktop.store.vault import OpResult, Vault
    from provara_desktop.store.verify_vault import VaultReport

log = logging.getLogger(__name__)
T = TypeVar("T")


class _CarriesOp(Protocol):
    """A key or device operation's result: what it wrote is its ``op``."""

    @property
    def op(self) -> OpResult: ...


R = TypeVar("R", bound=_CarriesOp)
_CANCEL_EVERY = 8192  # events between checks for "the session is closing" while reducing
_APPLY_SLICE = 2048  # events applied to the live beliefs per hold of their lock
# A rewritten tail up to this long is applied per key whatever the vault's size; a longer
# one only when it is under half the log (else a replay costs about as much).
_TAIL_PER_KEY_MIN = 50_000
# Per key only while the touched keys' events are under this share of the log (1/N).
_PER_KEY_SHARE = 8
# A kept state this many events behind the log is written anew after the catch-up (below
# it, applying the difference at the next open costs less than writing ~70 MB per 1M).
_KEEP_AFTER_EVENTS = 20_000

# (namespace, belief key): one row of the beliefs table. The entry itself is looked up in the
# reducer when shown, so a snapshot of 150k beliefs costs two references per row.
BeliefRow = tuple[str, str]


@dataclass(frozen=True)
class HistoryStep:
    """One event in a belief's history and the state it left the belief in."""

    pos: int
    event_id: str
    type: str
    actor: str
    timestamp_utc: str | None
    value: str | None  # canonical JSON of the value, None for events that carry none
    confidence: float | None
    detail: str  # note, retraction reason, or the evidence an attestation settles
    attachments: int
    state_before: str
    state_after: str


def belief_state(reducer: Reducer, key: str) -> str:
    """Where ``key`` sits now: "canonical", "local", "contested", "archived", combinations
    the reducer allows (a key can be local and contested at once), or "none"."""
    present = [ns for ns, here in (("canonical", key in reducer.canonical),
                                   ("local", key in reducer.local),
                                   ("contested", reducer.is_contested(key))) if here]
    if not present and key in reducer.archived:
        present = ["archived"]
    return " + ".join(present) or "none"


def belief_rows(reducer: Reducer | KeptTable | None) -> list[BeliefRow]:
    """All (namespace, key) pairs, namespaces in protocol order, keys sorted ([] while
    there are no beliefs yet)."""
    if reducer is None:
        return []
    tables: dict[str, Any] = {"canonical": reducer.canonical, "local": reducer.local,
                              "contested": reducer.contested_keys,
                              "archived": reducer.archived}
    if isinstance(reducer, KeptTable):  # its local keys are kept sorted: no sort to wait for
        return [(ns, key) for ns in NAMESPACES
                for key in (reducer.local_keys_sorted() if ns == "local"
                            else sorted_gently(tables[ns]))]
    return [(ns, key) for ns in NAMESPACES for key in sorted_gently(tables[ns])]


def belief_history(vault: Vault, key: str) -> list[HistoryStep]:
    rows = sorted({r.pos: r for s, p in key_splits(key)
                   for r in vault.index.query(subject=s, predicate=p)}.values(),
                  key=lambda r: r.pos)
    reducer = Reducer()  # a belief's state depends only on the events of its own key
    steps: list[HistoryStep] = []
    with vault.events_path.open("rb") as f:
        for row in rows:
            f.seek(row.offset)
            event = parse_line_or_raise(f.read(row.length),
                                        where=f"{vault.events_path} line {row.pos + 1}")
            before = belief_state(reducer, key)
            reducer.apply(event)
            payload = event.get("payload")
            payload = payload if isinstance(payload, dict) else {}
            steps.append(HistoryStep(
                pos=row.pos, event_id=row.event_id, type=row.type or "?",
                actor=row.actor or "?", timestamp_utc=row.timestamp_utc,
                value=canonical_dumps(payload["value"]) if "value" in payload else None,
                confidence=_float_or_none(payload.get("confidence")),
                detail=_detail(payload), attachments=len(payload.get("attachments") or ()),
                state_before=before, state_after=belief_state(reducer, key)))
    return steps


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _detail(payload: dict[str, Any]) -> str:
    targets = payload.get("target_event_ids") or (
        [payload["target_event_id"]] if payload.get("target_event_id") else [])
    parts = [str(payload[k]) for k in ("note", "reason") if payload.get(k)]
    if isinstance(targets, list) and targets:
        parts.append("settles " + ", ".join(str(t) for t in targets))
    return "; ".join(parts)


__all__ = ["BeliefRow", "HistoryStep", "VaultSession", "belief_history", "belief_rows"]


class VaultSession:
    def __init__(self, vault: Vault, *, bus: EventBus | None = None) -> None:
        self.vault = vault
        self.bus = bus or EventBus()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-writer")
        # Verification only reads; it gets its own thread so writing is never blocked by it.
        self._verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-verify")
        self._query = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-query")
        self._reducer_lock = threading.Lock()
        self._reducer: Reducer | None = None
        self._reduced_count = 0
        # The ids at the last positions reduced: which events of a rewritten tail are new.
        self._recent = RecentIds()
        # Events this session has announced; another program writing to the same index
        # (the CLI with this profile) moves the index's count without us noticing otherwise.
        self._seen_count = vault.index.count()
        # Which event it showed at sampled positions: where another program's rewrite began.
        self._seen = SeenPositions(vault.index.row_at, self._seen_count)
        self._closing = threading.Event()
        self._verify_cancel: CancelToken | None = None
        self.key: SigningKey | None = None
        self.actor: str | None = None
        self.identity: Identity | None = None
        self.last_report: VaultReport | None = None
        self.beliefs_error: str | None = None
        # Read by the UI while the reducer is built: "computing beliefs... 40%".
        self.beliefs_progress = Progress(label="computing beliefs")
        # The beliefs kept beside the index, and the last rebuild with the event count it
        # ended at (for _keep_beliefs; written and read on the writer thread only).
        self._kept_path = belief_snapshot.snapshot_path_for(vault.index.path)
        self._replayed: tuple[belief_snapshot.KeptBeliefs, int] | None = None
        # The beliefs table's rows kept beside the state, shown while the whole state loads
        # (None once it has, or when there are none): read by the table only, never by a
        # write, a preview or the contested workbench, which wait for the whole state.
        self._table: KeptTable | None = None

    # -- plumbing --------------------------------------------------------------------------

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._writer.submit(fn)

    def query(self, fn: Callable[[], T]) -> Future[T]:
        """Run a read-only job on the query thread (never blocked by writes or verify)."""
        return self._query.submit(fn)

    @property
    def event_count(self) -> int:
        """Events in the vault as last announced on the bus. Read without touching the
        index, whose lock a long query on another thread may hold: the status bar must
        never wait for it."""
        return self._seen_count

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def close(self) -> None:
        """Stop background work promptly (a running rebuild or verify is cancelled), wait for
        the writer to finish its current operation, then close the vault."""
        self._closing.set()
        if self._verify_cancel is not None:
            self._verify_cancel.cancel()
        self._query.shutdown(wait=True, cancel_futures=True)
        self._verifier.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True, cancel_futures=True)
        self.vault.close()

    # -- identity ------------------------------------------------------------------------------

    def unlock(self, key: SigningKey, actor: str, identity: Identity | None = None) -> None:
        self.key, self.actor, self.identity = key, actor, identity
        self.bus.publish(VaultChanged(Changes(identity=True)))

    def lock(self) -> None:
        self.key = None
        self.bus.publish(VaultChanged(Changes(identity=True)))

    @property
    def unlocked(self) -> bool:
        return self.key is not None and self.actor is not None

    def _need_key(self) -> tuple[SigningKey, str]:
        from provara_desktop.core.errors import IdentityError

        if self.key is None or self.actor is None:
            raise IdentityError("your identity is locked: unlock it to sign evidence")
        return self.key, self.actor

    # -- beliefs -----------------------------------------------------------------------------

    def beliefs(self) -> Reducer | None:
        """The current reducer (read-only use), or None while it is being built."""
        with self._reducer_lock:
            return self._reducer

    def table_beliefs(self) -> Reducer | KeptTable | None:
        """What the beliefs table shows: the current reducer, or while it loads the kept
        rows of the whole log (store/belief_snapshot.load_table), or None."""
        with self._reducer_lock:
            return self._reducer if self._reducer is not None else self._table

    @contextmanager
    def reading_table(self) -> Iterator[Reducer | KeptTable | None]:
        """``table_beliefs()`` held still, as ``reading_beliefs`` holds the reducer."""
        with self._reducer_lock:
            yield self._reducer if self._reducer is not None else self._table

    def start(self) -> Future[Reducer]:
        """Build the beliefs in the background; the views show progress until it is done.

        The beliefs come from the state kept beside the index (store/belief_snapshot.py)
        plus the events after it when that state still matches the log, else from a full
        replay. Other jobs follow, so that nothing the investigator does later pays for
        them: the index's secondary SQL indexes (built lazily: a few seconds at a million
        events after the index was built from scratch, during which a filtered query would
        wait on the index lock) on the query thread; on the writer thread, after the
        beliefs, the whole-log hash the manifest needs (Vault.prepare_writes, half a second
        at a million events, so the first append costs what every later one does), then a
        new kept state if this one was replayed or caught up over many events."""
        self._query.submit(self._background, self.vault.index.ensure_indexes, "index")
        beliefs = self.submit(self.rebuild_beliefs)
        self.submit(lambda: self._background(self.vault.prepare_writes, "writes"))
        self.submit(lambda: self._background(self._keep_beliefs, "kept beliefs"))
        return beliefs

    def _background(self, job: Callable[[], object], what: str) -> None:
        if self._closing.is_set():
            return
        try:
            job()
        except Exception:  # the operation that needs it will report the problem itself
            log.warning("preparing the %s in the background failed", what, exc_info=True)

    def rebuild_beliefs(self) -> Reducer:
        """The beliefs from scratch (run on the writer thread): the kept state and the
        events after it, or a full replay. Cancelled when the session closes, so quitting
        never waits for a million-event replay."""
        progress = self.beliefs_progress
        try:
            # The beliefs of a big vault are millions of objects that live as long as the
            # vault is open and hold no reference cycles. Left to the cyclic collector,
            # every pass over them holds the GIL for 0.1-0.2 s on a million-event vault, in
            # which no thread runs, the GUI thread included (measured: the GC was the
            # busiest function of the writer thread while the window stalled). Frozen
            # before the collector comes back (core/gcpause.py), they are skipped by it;
            # reference counting still frees them when a rebuild replaces them.
            with gc_paused(keep_survivors=True):
                reducer = self._replay(progress)
        except UserCancelled:
            raise
        except Exception as exc:
            with self._reducer_lock:
                self._table = None
            self.beliefs_error = str(exc)
            self.bus.publish(VaultChanged(Changes(beliefs=True)))
            raise
        progress.done = progress.total
        with self._reducer_lock:
            self._reducer = reducer
            self._reduced_count = reducer.event_count
            self._table = None
        self._recent.reset(self._reduced_count, self.vault.index.ids_between)
        self.beliefs_error = None
        self.bus.publish(VaultChanged(Changes(beliefs=True)))
        return reducer

    def _replay(self, progress: Progress) -> Reducer:
        progress.total = max(1, self.vault.index.count())
        progress.done = 0

        def tick(done: int) -> None:
            progress.done = done
            if self._closing.is_set():
                raise UserCancelled("the vault was closed")

        # None when missing, stale (a byte of the prefix it covers changed), of another
        # vault or format, or corrupt: then this is a full replay. Never trusted beyond the
        # beliefs on screen: verification replays the log itself.
        # First the table's rows, when kept for the whole log as it is (a fraction of the
        # state: on screen in a few tenths of a second at a million events), shown while
        # the whole state loads. Only on the first build: a rebuild (reindex, a rewritten
        # log) keeps showing the reducer it replaces until it is done.
        rows = None
        if self._reducer is None:
            rows = belief_snapshot.load_table(self._kept_path, vault_uid=self.vault.uid,
                                              events_path=self.vault.events_path)
            if rows is not None:
                with self._reducer_lock:
                    self._table = rows.table
                progress.done = rows.table.event_count
                self.bus.publish(VaultChanged(Changes(beliefs=True)))
        kept = belief_snapshot.load(self._kept_path, vault_uid=self.vault.uid,
                                    events_path=self.vault.events_path, verified=rows,
                                    cancelled=self._closing.is_set)
        replayed = belief_snapshot.catch_up(self.vault.events_path, kept,
                                            every=_CANCEL_EVERY, tick=tick)
        self._replayed = (replayed, replayed.reducer.event_count)
        return replayed.reducer

    def _keep_beliefs(self) -> None:
        """Keep the beliefs just rebuilt beside the index if they came from a full replay or
        from a kept state plus many events (else the kept state is good enough), and only
        if nothing has moved them since (their prefix of the log is then exactly theirs)."""
        replayed, count = self._replayed or (None, 0)
        self._replayed = None
        if replayed is None or self._closing.is_set():
            return
        if (replayed.from_snapshot and replayed.with_rows
                and replayed.applied < _KEEP_AFTER_EVENTS):
            return
        with self._reducer_lock:
            unchanged = (self._reducer is replayed.reducer
                         and replayed.reducer.event_count == count)
        if unchanged:
            belief_snapshot.save(self._kept_path, replayed, vault_uid=self.vault.uid)

    def _advance_beliefs(self, result: OpResult | None) -> None:
        if result is not None and result.reordered_from is not None:
            # Our own write sorted before events already reduced (a backdated import):
            # per key, as a merge by another program. The marks place a rewrite at most a
            # stride before it began; one placed further back is another program's, not
            # yet polled (what it did, a cut included, is unknown here: a replay).
            start = min(result.reordered_from, self._seen.first_changed())
            if (self._reducer is None or start < result.reordered_from - self._seen.stride
                    or not self._apply_rewritten_tail(start)):
                self.rebuild_beliefs()
            return
        if self._reducer is None:
            self.rebuild_beliefs()
            return
        if self._log_rewritten():
            # Another program inserted or rewrote events before the last one reduced:
            # only a full replay is right.
            self.rebuild_beliefs()
            return
        reducer = self._reducer
        added = self.vault.index.count() - self._reduced_count
        if result is not None and result.in_log_order and len(result.events) == added:
            # The operation's own events, already parsed, are what the log now ends with.
            pending: Iterator[list[Event]] = (
                result.events[i:i + _APPLY_SLICE] for i in range(0, added, _APPLY_SLICE))
        else:
            pending = self._unreduced_pages()
        # A slice at a time, the lock let go in between: the GUI thread asks for the
        # beliefs (under this lock) while a 100k-event import is applied, and must never
        # wait for all of it. A reader between two slices sees the beliefs as of an earlier
        # position in the log, which is what they were a moment before.
        for page in pending:
            with self._reducer_lock:
                for event in page:
                    reducer.apply(event)
                self._reduced_count += len(page)
            self._recent.extend(str(e.get("event_id")) for e in page)

    def _unreduced_pages(self) -> Iterator[list[Event]]:
        """The events after the last one reduced, read from the log a page at a time."""
        while rows := self.vault.index.query(after_pos=self._reduced_count - 1,
                                             limit=_APPLY_SLICE):
            yield [self.vault.read_row(row) for row in rows]

    @contextmanager
    def reading_beliefs(self) -> Iterator[Reducer | None]:
        """The current reducer (None while it is being built), held still: the writer
        thread waits to apply new events until the block ends. For reads that walk many
        entries on another thread (the beliefs table's search and sort)."""
        with self._reducer_lock:
            yield self._reducer

    def history(self, key: str) -> Future[list[HistoryStep]]:
        """Every event that touched the belief ``key`` ("subject:predicate"), in log order,
        with the state the belief moved through."""
        return self.query(lambda: belief_history(self.vault, key))

    # -- operations (each returns a Future; runs on the writer thread) ----------------------

    def _write(self, fn: Callable[[SigningKey, str], OpResult], *,
               bulk: bool = False) -> Future[OpResult]:
        """Run ``fn`` (which writes) on the writer thread, then bring the beliefs and the
        views up to date. ``bulk``: it adds many events (an import), so it runs with the
        cyclic collector paused and what it leaves alive (the beliefs it added) frozen out
        of the collector's reach (core/gcpause.py): otherwise the collector's passes over
        them hold the GIL, and stall the GUI thread, for over 100 ms each."""
        def job() -> OpResult:
            key, actor = self._need_key()
            before = self.vault.index.count()
            with gc_paused(keep_survivors=True) if bulk else nullcontext():
                result = fn(key, actor)
                self._advance_beliefs(result)
            first = result.reordered_from if result.reordered_from is not None else before
            # The write caught up with what another program wrote since the last poll (a
            # rewrite of the tail, appends): the views refetch from there too.
            first = min(first, self._seen.first_changed())
            self._seen_count = self.vault.index.count()
            self._seen.record(first, self._seen_count)
            self.bus.publish(VaultChanged(Changes(events=True, beliefs=True,
                                                  keys=bool(result.notes),
                                                  first_new_pos=first)))
            return result

        return self.submit(job)

    def observe(self, *, subject: str, predicate: str, value: Any,
                confidence: float | None = None, note: str | None = None,
                attachments: Sequence[Path] = ()) -> Future[OpResult]:
        return self._write(lambda key, actor: evidence.observe(
            self.vault, key, actor, subject=subject, predicate=predicate, value=value,
            confidence=confidence, note=note, attachments=attachments))

    def attest(self, *, subject: str, predicate: str, value: Any,
               targets: Sequence[str] = ()) -> Future[OpResult]:
        return self._write(lambda key, actor: evidence.attest(
            self.vault, key, actor, subject=subject, predicate=predicate, value=value,
            targets=targets))

    def retract(self, *, subject: str, predicate: str,
                reason: str | None = None) -> Future[OpResult]:
        return self._write(lambda key, actor: evidence.retract(
            self.vault, key, actor, subject=subject, predicate=predicate, reason=reason))

    def annotate(self, *, event_id: str | None = None, belief: str | None = None,
                 tag: str | None = None, comment: str | None = None, mark: str | None = None,
                 withdraw: str | None = None) -> Future[OpResult]:
        """A signed annotation (docs/ANNOTATIONS.md), written like any evidence."""
        from provara_desktop.store.annotations import annotate

        return self._write(lambda key, actor: annotate(
            self.vault, key, actor, event_id=event_id, belief=belief, tag=tag,
            comment=comment, mark=mark, withdraw=withdraw))

    def rotate_key(self, *, recovery: SigningKey, recovery_actor: str, reason: str,
                   boundary: str | None) -> Future[Rotated]:
        """Rotate the unlocked identity's key (store/key_rotation.py) on the writer thread;
        the new key is the caller's to seal (IdentityStore.replace_key) and unlock with."""
        from provara_desktop.store import key_rotation

        return self._write_for(lambda key: key_rotation.rotate(
            self.vault, recovery=recovery, recovery_actor=recovery_actor, key_id=key.key_id,
            reason=reason, boundary=boundary))

    def revoke_key(self, *, recovery: SigningKey, recovery_actor: str, key_id: str,
                   reason: str, boundary: str | None = None) -> Future[Revoked]:
        """Revoke another key of the identity (a lost device) on the writer thread."""
        from provara_desktop.store import key_rotation

        return self._write_for(lambda _key: key_rotation.revoke(
            self.vault, recovery=recovery, recovery_actor=recovery_actor, key_id=key_id,
            reason=reason, boundary=boundary))

    def add_device(self, store: IdentityStore, *, name: str, device_passphrase: str,
                   out: Path) -> Future[Certified]:
        """Certify a new device of the unlocked person and write its device file
        (store/devices.py), on the writer thread."""
        from provara_desktop.store import devices

        return self._write_for(lambda key: devices.add_device(
            self.vault, store, key, name=name, device_passphrase=device_passphrase, out=out))

    def certify_device(self, store: IdentityStore, *, name: str,
                       device_public_b64: str) -> Future[Certified]:
        """Certify a paired machine's key as the device ``name``, on the writer thread."""
        from provara_desktop.store import devices

        return self._write_for(lambda key: devices.certify_and_append(
            self.vault, store, key, name=name, device_public_b64=device_public_b64))

    def _write_for(self, fn: Callable[[SigningKey], R]) -> Future[R]:
        """_write for an operation whose result carries its OpResult (``.op``)."""
        made: list[R] = []

        def write(key: SigningKey, _actor: str) -> OpResult:
            made.append(fn(key))
            return made[0].op

        out: Future[R] = Future()

        def finished(f: Future[OpResult]) -> None:
            exc = f.exception()
            if exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(made[0])

        self._write(write).add_done_callback(finished)
        return out

    def commit_import(self, plan: ImportPlan[Any], *,
                      cancelled: Callable[[], bool] | None = None) -> Future[OpResult]:
        """Write an import plan (intake/plan.py) into the vault, signed by the unlocked
        identity; the views are told what changed as for any other write."""
        from provara_desktop.intake import commit as intake_commit

        def commit(key: SigningKey, _actor: str) -> OpResult:
            done = intake_commit.commit(self.vault, plan, signer=key,
                                        cancelled=cancelled).result
            assert done is not None  # commit() always records what it changed
            return done

        return self._write(commit, bulk=True)

    def check_external(self) -> Future[bool]:
        """Pick up what another program (the CLI, a sync) wrote: appends, or a rewrite of
        the log's tail from an earlier position (a merge of older events), announced from
        where it began so the views refetch every changed row; True if anything changed."""
        def job() -> bool:
            self.vault.sync_index()
            after = self.vault.index.count()
            # One lookup when the log is intact; one per mark after its start otherwise.
            first = self._seen.first_changed()
            if first == self._seen_count == after:
                return False
            lost = None
            if first < self._seen_count:
                # A rewrite: merged older events, or evidence cut while we were open.
                lost = self.vault.look_for_losses()
            self._seen_count = after
            if self._reducer is not None and first < self._reduced_count:
                # Events it reduced moved. Merged older events (the common case in a mesh)
                # change only the beliefs of the rewritten tail's keys; events gone mean
                # beliefs of keys no longer in the log changed too: only a replay is right.
                if lost is not None or not self._apply_rewritten_tail(first):
                    self.rebuild_beliefs()
            else:
                self._advance_beliefs(None)
            self._seen.record(first, after)
            self.bus.publish(VaultChanged(Changes(events=True, beliefs=True,
                                                  first_new_pos=first),
                                          source="external"))
            return True

        return self.submit(job)

    def _apply_rewritten_tail(self, first: int) -> bool:
        """Bring the beliefs up to date with a log whose events from position ``first`` on
        were rewritten (older events merged in, none lost), at the cost of what changed:
        each belief whose key an inserted event has (or an old event that builds on one,
        runtime/recent_ids.py) is reduced again from its own events (read through the
        index, in the log's final order), then swapped in; the metadata follows the tail
        (count, last event, the last epoch). The other beliefs keep their state: their
        events kept their order among themselves. When the ids the tail held before are
        not kept (a rewrite from before the last 65,536 positions), every key of the tail
        is reduced again. False, nothing done, when that is so much that a replay of the
        whole log costs about as much."""
        reducer = self._reducer
        count = self.vault.index.count()
        if reducer is None or count - first > max(_TAIL_PER_KEY_MIN, count // 2):
            return False
        tail: list[Event] = []
        while rows := self.vault.index.query(after_pos=first - 1 + len(tail),
                                             limit=_APPLY_SLICE):
            tail += key_events.read_rows(self.vault, rows)
        touched = keys_to_reduce_again(tail, self._recent.between(first, self._reduced_count))
        if key_events.events_count(self.vault, touched) > max(_TAIL_PER_KEY_MIN,
                                                              count // _PER_KEY_SHARE):
            # Busy keys: their whole histories are most of the log, read by seeks and
            # reduced again (measured: 40 s for 11k events over 50 keys holding 1M,
            # where the replay takes 8-14 s). The replay is cheaper then.
            return False
        fresh = Reducer().apply_all(ev for _pos, ev in key_events.events_of_keys(
            self.vault, touched))
        # The metadata as a replay leaves it: the last event's id, the last epoch in the
        # log (one in the tail is the newest; none there leaves the one before ``first``).
        meta = Reducer()
        meta.current_epoch = reducer.current_epoch
        meta.apply_all(ev for ev in tail if ev.get("type") == "REDUCER_EPOCH")
        if tail:
            meta.apply(tail[-1])
        with self._reducer_lock:
            reducer.adopt_keys(fresh, touched)
            reducer.event_count += count - self._reduced_count
            if tail:
                reducer.last_event_id = meta.last_event_id
            reducer.current_epoch = meta.current_epoch
            self._reduced_count = count
        self._recent.replace_from(first, (str(ev.get("event_id")) for ev in tail))
        self.bus.publish(VaultChanged(Changes(beliefs=True)))
        return True

    def _log_rewritten(self) -> bool:
        """True if the event last reduced is no longer where it was (another program
        rewrote the log without changing its length)."""
        reducer, n = self._reducer, self._reduced_count
        if reducer is None or not n:
            return False
        row = self.vault.index.row_at(n - 1)
        return row is None or row.event_id != reducer.last_event_id

    def reindex(self) -> Future[int]:
        """Rebuild the SQLite index from the log, then the beliefs; returns the event count."""
        def job() -> int:
            self.vault.index.reset()
            self.vault.sync_index()
            self._seen_count = self.vault.index.count()
            self._seen.record(0, self._seen_count)
            self.rebuild_beliefs()
            self.bus.publish(VaultChanged(Changes(events=True, beliefs=True, first_new_pos=0)))
            return self.vault.index.count()

        return self.submit(job)

    # -- verification ------------------------------------------------------------------------

    def verify(self, *, progress: Progress | None = None,
               cancel: CancelToken | None = None) -> Future[VaultReport]:
        """Verify the whole vault on the verifier thread. The report is kept as
        ``last_report`` and announced with ``Changes(verification=True)``; a cancelled run
        raises UserCancelled and leaves the previous report in place."""
        from provara_desktop.store.verify_vault import verify_vault

        token = cancel or CancelToken()
        self._verify_cancel = token

        def job() -> VaultReport:
            if progress is not None:
                progress.total = max(1, self.vault.index.count())
            # verify_lines looks at the token between batches only; a small vault finishes
            # before its first check, and a cancel must still mean "no new report".
            if token.cancelled:
                raise UserCancelled("verification cancelled")
            report = verify_vault(self.vault, cancelled=token,
                                  progress=progress.update if progress is not None else None)
            if token.cancelled:
                raise UserCancelled("verification cancelled")
            if progress is not None:
                progress.done = progress.total
            self.last_report = report
            self.bus.publish(VaultChanged(Changes(verification=True)))
            return report

        return self._verifier.submit(job)

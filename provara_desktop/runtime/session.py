"""A vault opened by the desktop app: one writer thread, the beliefs kept current, and a bus
that tells the UI what changed. Qt-free, so it is tested without a display.

Every write runs on the single writer thread (SQLite and the log have one writer, STYLE rule
3); reads of the index happen on any thread (the index serialises them internally). The
reducer state is rebuilt in the writer thread at open and then advanced event by event as
the log grows; a rewrite of the log's tail (clock skew) or an external change rebuilds it.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from provara_desktop.core.reducer import Reducer
from provara_desktop.runtime.bus import Changes, EventBus, VaultChanged
from provara_desktop.store import evidence

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.runtime.progress import CancelToken, Progress
    from provara_desktop.store.vault import OpResult, Vault
    from provara_desktop.store.verify_vault import VaultReport

log = logging.getLogger(__name__)
T = TypeVar("T")


class VaultSession:
    def __init__(self, vault: Vault, *, bus: EventBus | None = None) -> None:
        self.vault = vault
        self.bus = bus or EventBus()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-writer")
        # Verification only reads; it gets its own thread so writing is never blocked by it.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-verify")
        self._reducer_lock = threading.Lock()
        self._reducer: Reducer | None = None
        self._reduced_count = 0
        self.key: SigningKey | None = None
        self.actor: str | None = None

    # -- plumbing --------------------------------------------------------------------------

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._writer.submit(fn)

    def close(self) -> None:
        self._reader.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True)
        self.vault.close()

    def unlock(self, key: SigningKey, actor: str) -> None:
        self.key, self.actor = key, actor
        self.bus.publish(VaultChanged(Changes(identity=True)))

    def lock(self) -> None:
        self.key = None
        self.bus.publish(VaultChanged(Changes(identity=True)))

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

    def rebuild_beliefs(self) -> Reducer:
        """Full replay (run on the writer thread)."""
        reducer = Reducer().apply_all(self.vault.events())
        with self._reducer_lock:
            self._reducer = reducer
            self._reduced_count = reducer.event_count
        self.bus.publish(VaultChanged(Changes(beliefs=True)))
        return reducer

    def _advance_beliefs(self, result: OpResult | None) -> None:
        if self._reducer is None or (result is not None and result.reordered_from is not None):
            self.rebuild_beliefs()
            return
        rows = self.vault.index.query(after_pos=self._reduced_count - 1)
        with self._reducer_lock:
            for row in rows:
                self._reducer.apply(self.vault.read_row(row))
            self._reduced_count += len(rows)

    # -- operations (each returns a Future; runs on the writer thread) ----------------------

    def _write(self, fn: Callable[[SigningKey, str], OpResult]) -> Future[OpResult]:
        def job() -> OpResult:
            key, actor = self._need_key()
            before = self.vault.index.count()
            result = fn(key, actor)
            self._advance_beliefs(result)
            first = result.reordered_from if result.reordered_from is not None else before
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

    def check_external(self) -> Future[bool]:
        """Pick up appends made by another program (the CLI, a sync); True if any."""
        def job() -> bool:
            before = self.vault.index.count()
            self.vault.sync_index()
            after = self.vault.index.count()
            if after == before:
                return False
            self._advance_beliefs(None)
            self.bus.publish(VaultChanged(Changes(events=True, beliefs=True,
                                                  first_new_pos=before), source="external"))
            return True

        return self.submit(job)

    def verify(self, *, progress: Progress | None = None,
               cancel: CancelToken | None = None) -> Future[VaultReport]:
        from provara_desktop.store.verify_vault import verify_vault

        def job() -> VaultReport:
            if progress is not None:
                progress.total = max(1, self.vault.index.count())
            return verify_vault(self.vault, cancelled=cancel,
                                progress=progress.update if progress is not None else None)

        return self._reader.submit(job)

"""Verifying a whole event log (a vault's or a bundle's) on both cores.

The per-line checks (core/verify_scan.py) and the whole-log checks (core/verify.py) are pure;
this module decides where they run. A large log is checked in worker processes (parsing holds
the GIL, so threads could not keep both cores busy), a small one on the caller's thread with
signatures on a thread pool (PyNaCl releases the GIL inside Ed25519). Either way the outcomes
are folded in log order on the caller's thread, and both give the same report. The worker
processes end with the process that started them and hold none of its files
(runtime/worker_processes.py).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import UserCancelled
from provara_desktop.core.verify import LogAssembler, LogReport, check_signatures
from provara_desktop.core.verify_scan import init_worker, scan_chunk, scan_line
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.runtime.worker_processes import (
    can_start_workers,
    process_pool,
    start_method,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from provara_desktop.core.keyring import KeyRing

log = logging.getLogger(__name__)
__all__ = ["PROCESS_MIN_LINES", "VerifyPool", "verify_lines"]

_SIG_CHUNK = 128  # a sync batch of 500 lines still keeps both signature threads busy
_CHUNK_LINES = 2048  # lines per worker-process task
# Below this many lines a process pool costs more to start (~0.2 s) than it saves.
PROCESS_MIN_LINES = 20_000


def _use_processes(lines: Iterable[tuple[int, bytes]], workers: int,
                   size_hint: int | None) -> bool:
    if workers < 2 or start_method() is None:
        return False
    if size_hint is None:
        try:
            size_hint = len(lines)  # type: ignore[arg-type]
        except TypeError:  # an iterator of unknown length: a real log, most likely large
            return True
    return size_hint >= PROCESS_MIN_LINES


class VerifyPool:
    """Worker processes kept for many logs in a row (a sync session's batches): the pool
    starts once, each chunk carries its keyring. A batch of a few thousand lines is too
    small to pay for a pool of its own, and in a process with threads (asyncio's, the
    intake's) checking on threads leaves the parsing of every line and the commit of the
    batch before it fighting over one interpreter lock."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, workers)
        self._pool: Any = None
        self._lock = threading.Lock()  # warm() and the first check may race to start it
        self.usable = can_start_workers()
        self.problem: str | None = None  # why it is no longer used, if it broke

    def broke(self, exc: BaseException) -> None:
        log.warning("verification workers stopped (%s); checking on threads instead", exc)
        self.usable, self.problem = False, str(exc)
        self.close()

    def _executor(self) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = process_pool(self.workers, initializer=init_worker,
                                          initargs=({},))
            return self._pool

    def warm(self) -> None:
        """Start the workers now (a thread may wait here while the first batch travels)."""
        if not self.usable:
            return
        try:
            ex = self._executor()
            for fut in [ex.submit(int) for _ in range(self.workers)]:
                fut.result()
        except (BrokenProcessPool, OSError) as exc:
            self.broke(exc)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


@gc_paused()
def verify_lines(
    lines: Iterable[tuple[int, bytes]],
    keyring: KeyRing,
    *,
    path: str = "events/events.ndjson",
    workers: int = 2,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
    processes: bool | None = None,
    size_hint: int | None = None,
    max_errors: int | None = None,
    pool: VerifyPool | None = None,
) -> LogReport:
    """Verify every event of a log given as (line number, raw bytes without newline).

    ``processes``: check in worker processes (True), on this thread with signature threads
    (False), or decide by the number of lines (None; ``size_hint`` says how many an
    iterator will yield). Both give the same report. ``max_errors``: stop reading ``lines``
    at that many errors, raising core.verify.VerificationStopped with the report so far
    (foreign input: it is refused then, and a hostile one must not fill memory). ``pool``:
    check in its worker processes, whatever the size."""
    asm = LogAssembler(keyring, path, max_errors=max_errors)
    if pool is not None and pool.usable:
        lines = list(lines)
        try:
            return asm.finish(_run_in_pool(lines, keyring, asm, pool, cancelled, progress))
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory): these lines are checked again here,
            # from the start, and the pool is not used again.
            pool.broke(exc)
            asm = LogAssembler(keyring, path, max_errors=max_errors)
    use_processes = (_use_processes(lines, workers, size_hint) if processes is None
                     else processes)
    if use_processes:
        bad = _run_processes(lines, keyring, asm, max(1, workers), cancelled, progress)
    else:
        bad = _run_threads(lines, keyring, asm, workers, cancelled, progress)
    return asm.finish(bad)


def _tick(lineno: int, cancelled: Callable[[], bool] | None,
          progress: Callable[[int], None] | None) -> None:
    if cancelled is not None and cancelled():
        raise UserCancelled("verification cancelled")
    if progress is not None:
        progress(lineno)


def _run_threads(lines: Iterable[tuple[int, bytes]], keyring: KeyRing, asm: LogAssembler,
                 workers: int, cancelled: Callable[[], bool] | None,
                 progress: Callable[[int], None] | None) -> list[int]:
    """Scan here, check signatures on a thread pool (PyNaCl releases the GIL)."""
    pending: list[Future[list[int]]] = []
    batch: list[tuple[int, bytes, bytes, bytes]] = []
    keys = keyring.entries
    path = asm.path
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify")
    counted = 0  # pending batches whose result was waited for
    try:
        for lineno, raw in lines:
            if not lineno & 4095:
                _tick(lineno, cancelled, progress)
            kind, rec, problems, legacy, task = scan_line(lineno, raw, keys, path)
            idx = asm.add(kind, rec, problems, legacy)
            if idx < 0 or task is None:
                continue
            batch.append((idx, *task))
            if len(batch) >= _SIG_CHUNK:
                pending.append(pool.submit(check_signatures, batch))
                batch = []
                while len(pending) - counted > 8 * max(1, workers):
                    # Bound memory: wait for the oldest unchecked batch before queueing
                    # more, and count its failures (a max_errors limit stops here).
                    asm.note_errors(len(pending[counted].result()))
                    counted += 1
        if batch:
            pending.append(pool.submit(check_signatures, batch))
        return [i for fut in pending for i in fut.result()]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_in_pool(lines: Iterable[tuple[int, bytes]], keyring: KeyRing, asm: LogAssembler,
                 pool: VerifyPool, cancelled: Callable[[], bool] | None,
                 progress: Callable[[int], None] | None) -> list[int]:
    """As _run_processes, in a pool that outlives this log: the keyring goes with each
    chunk, and the chunks are cut so that every worker gets a share of a small log."""
    items = list(lines)
    step = max(256, min(_CHUNK_LINES, -(-len(items) // (2 * pool.workers))))
    keys = dict(keyring.entries)
    ex = pool._executor()
    bad: list[int] = []
    pending: deque[Future[list[Any]]] = deque()
    try:
        for lo in range(0, len(items), step):
            chunk = items[lo:lo + step]
            _tick(chunk[-1][0], cancelled, progress)
            pending.append(ex.submit(scan_chunk, chunk, asm.path, keys))
        while pending:
            for kind, rec, problems, legacy, sig_bad in pending.popleft().result():
                idx = asm.add(kind, rec, problems, legacy)
                if sig_bad and idx >= 0:
                    bad.append(idx)
                    asm.note_errors(1)
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    return bad


def _run_processes(lines: Iterable[tuple[int, bytes]], keyring: KeyRing, asm: LogAssembler,
                   workers: int, cancelled: Callable[[], bool] | None,
                   progress: Callable[[int], None] | None) -> list[int]:
    """Scan and check signatures in worker processes, fold the outcomes here in order."""
    bad: list[int] = []
    pending: deque[Future[list[Any]]] = deque()

    def fold(fut: Future[list[Any]]) -> None:
        for kind, rec, problems, legacy, sig_bad in fut.result():
            idx = asm.add(kind, rec, problems, legacy)
            if sig_bad and idx >= 0:
                bad.append(idx)
                asm.note_errors(1)

    with process_pool(workers, initializer=init_worker,
                      initargs=(dict(keyring.entries),)) as pool:
        try:
            it = iter(lines)
            # islice cuts the chunks in C: this process's share of the CPU goes to folding
            # results, not to handling lines one by one on their way to the workers.
            while chunk := list(itertools.islice(it, _CHUNK_LINES)):
                _tick(chunk[-1][0], cancelled, progress)
                pending.append(pool.submit(scan_chunk, chunk, asm.path))
                # Keep a few chunks per worker in flight: enough never to starve them, few
                # enough that memory stays bounded on a huge log.
                while len(pending) > 4 * workers:
                    fold(pending.popleft())
            while pending:
                fold(pending.popleft())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return bad

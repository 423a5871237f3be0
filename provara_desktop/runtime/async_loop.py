"""The app's one asyncio loop, on a dedicated daemon thread (STYLE rule 3).

Everything in net/ is asyncio (discovery, the TLS peer, sync sessions, pairing) and runs on
this one loop, so net/ code never needs a lock or a hop between threads. The GUI thread
never runs the loop: it hands a coroutine to :meth:`AsyncLoop.submit` and gets a
``concurrent.futures.Future`` back, whose result reaches the GUI through the GUI-thread
inbox (ui/gui_thread_calls.py). No Qt here.

Why the tasks are kept: the event loop holds only weak references to tasks, so a task that
nobody else references can be garbage-collected mid-flight (the asyncio docs warn of it);
``submit`` keeps each one in a set until it ends.

Stopping cancels whatever still runs, waits (bounded) for the cancellations to finish,
runs the caller's cleanup coroutine first when given (the peer's goodbyes), and closes the
loop; after ``stop`` every submit raises RuntimeError.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import concurrent.futures
    from collections.abc import Coroutine

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_TIMEOUT = 10.0


class AsyncLoop:
    def __init__(self, name: str = "asyncio-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready = threading.Event()
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._stopped

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the asyncio loop is not started")
        return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> AsyncLoop:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the asyncio loop thread did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop (from any thread); its future. Cancelling the future
        cancels the task (the coroutine sees CancelledError at its next await)."""
        if self._loop is None or self._stopped:
            coro.close()  # never awaited: say nothing about it
            raise RuntimeError("the asyncio loop is stopped")

        async def kept() -> T:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                return await coro
            finally:
                self._tasks.discard(task)

        return asyncio.run_coroutine_threadsafe(kept(), self._loop)

    def pending(self) -> int:
        """Tasks submitted and not finished (tests wait for 0)."""
        return len(self._tasks)

    def stop(self, cleanup: Coroutine[Any, Any, Any] | None = None,
             timeout: float = STOP_TIMEOUT) -> None:
        """Run ``cleanup`` (bounded), cancel what still runs, wait for it, close the loop."""
        if self._loop is None or self._stopped or self._thread is None:
            if cleanup is not None:
                cleanup.close()
            return
        loop = self._loop
        if cleanup is not None:
            try:
                self.submit(cleanup).result(timeout)
            except Exception as exc:  # noqa: BLE001 - stopping must go on
                log.warning("cleanup before the loop stopped failed: %s", exc)
        self._stopped = True

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
            await loop.shutdown_asyncgens()

        done = asyncio.run_coroutine_threadsafe(drain(), loop)
        try:
            done.result(timeout + 1)
        except Exception as exc:  # noqa: BLE001
            log.warning("the asyncio loop did not drain: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)

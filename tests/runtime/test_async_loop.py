"""The app's asyncio loop thread: coroutines submitted from another thread run there and
report through a concurrent future; a cancel reaches the coroutine; tasks nobody else holds
still finish (kept strongly); stop cancels what runs, runs the cleanup, ends the thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading

import pytest

from provara_desktop.runtime.async_loop import AsyncLoop


@pytest.fixture
def aloop():  # type: ignore[no-untyped-def]
    loop = AsyncLoop("test-loop").start()
    yield loop
    loop.stop(timeout=5)


def test_a_coroutine_runs_on_the_loop_thread_and_returns(aloop: AsyncLoop) -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert aloop.submit(where()).result(5) == "test-loop"
    assert threading.current_thread().name != "test-loop"


def test_an_exception_reaches_the_future(aloop: AsyncLoop) -> None:
    async def boom() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        aloop.submit(boom()).result(5)


def test_cancel_of_the_future_cancels_the_coroutine(aloop: AsyncLoop) -> None:
    started, seen = threading.Event(), threading.Event()

    async def long() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.set()
            raise

    fut = aloop.submit(long())
    assert started.wait(5)
    assert fut.cancel() or fut.cancelled()
    assert seen.wait(5)
    with pytest.raises(concurrent.futures.CancelledError):
        fut.result(1)


def test_tasks_are_kept_until_they_end(aloop: AsyncLoop) -> None:
    """Nobody holds the future; a garbage collection in the middle does not lose the task."""
    done = threading.Event()

    async def slow() -> None:
        await asyncio.sleep(0.2)
        done.set()

    aloop.submit(slow())
    gc.collect()
    assert done.wait(5)


def test_stop_runs_cleanup_cancels_the_rest_and_refuses_new_work() -> None:
    loop = AsyncLoop("test-stop").start()
    cancelled, cleaned = threading.Event(), threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def cleanup() -> None:
        await asyncio.sleep(0)
        cleaned.set()

    fut = loop.submit(forever())
    loop.stop(cleanup(), timeout=5)
    assert cleaned.is_set()
    assert cancelled.is_set()
    assert fut.cancelled()
    assert not any(t.name == "test-stop" for t in threading.enumerate())

    async def late() -> None:
        return None

    with pytest.raises(RuntimeError, match="stopped"):
        loop.submit(late())

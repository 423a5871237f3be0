"""Worker processes for work that holds the GIL (parsing): how they may start here, and a
pool of them."""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def start_method() -> str | None:
    """How worker processes may start here, or None when they should not.

    fork from a process with one thread is safe and starts in milliseconds (the CLI). A
    process with other threads (the app) must not fork; the fork server is safe there but
    re-imports the main module in every worker, so threads are used instead."""
    if getattr(sys, "frozen", False):
        return None  # a PyInstaller bundle cannot start interpreter children the usual way
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return None


def process_pool(workers: int, *, initializer: Callable[..., object],
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes. Forked where that is safe, else started by the fork
    server (a clean single-threaded parent), else spawned."""
    methods = mp.get_all_start_methods()
    method = start_method() or ("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method),
                               initializer=initializer, initargs=initargs)

"""Worker processes that end with the process that started them, holding none of its files.

A pool's workers wait on a pipe for their next task. Killed with SIGKILL, the parent closes
nothing in an orderly way, and every forked worker holds the write end of that pipe itself,
so the pipe never reports end of file: the workers wait for ever (a killed ``import`` left
both of its workers blocked for over ten minutes). Each worker therefore watches its parent:

- on Linux the kernel sends it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
- where that is not available, a thread in the worker polls ``os.getppid()``, which changes
  the moment the parent dies and the worker is handed to another process;
- a worker started by the fork server (a parent with threads, like the app, must not fork)
  has the fork server as its parent, which outlives the creator (see ``die_with_parent``):
  its thread polls whether the creator still exists.

A parent that dies between the fork and the ``prctl`` call sends no signal, so the worker
checks, after asking, that its parent is still the process that started it.

A forked worker also inherits every file its parent had open: the vault's log, the bundle
being imported, the profile's SQLite index and its shared-memory file. It needs none of them
(its tasks arrive through pipes), so it lets go of them at start: every inherited regular
file is replaced by /dev/null (the number stays valid, in case an inherited object closes it
later) and, on Linux, the memory mappings of those files are removed.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import stat
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_SECONDS = 0.5
ORPHANED_EXIT = 70  # the exit status of a worker that found its parent gone


def can_start_workers() -> bool:
    """Whether this process may start worker processes at all (forked, or by the fork
    server or spawned where forking is unsafe)."""
    # A PyInstaller bundle cannot start interpreter children the usual way.
    return not getattr(sys, "frozen", False)


def start_method() -> str | None:
    """How worker processes may start here, or None when they should not.

    fork from a process with one thread is safe and starts in milliseconds (the CLI). A
    process with other threads (the app) must not fork; the fork server is safe there but
    re-imports the main module in every worker, so threads are used instead."""
    if not can_start_workers():
        return None
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return None


def process_pool(workers: int, *, initializer: Callable[..., object],
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that die with this one (see the module's notes).
    Forked where that is safe, else started by the fork server (a clean single-threaded
    parent), else spawned."""
    methods = mp.get_all_start_methods()
    method = start_method() or ("forkserver" if "forkserver" in methods else "spawn")
    # A forked or spawned worker's parent is this process; a fork server's child has the
    # fork server as its parent, which ends when this process does.
    expected_parent = None if method == "forkserver" else os.getpid()
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context(method), initializer=_start_worker,
        initargs=(os.getpid(), expected_parent, method == "fork", initializer, initargs))


def _start_worker(creator: int, expected_parent: int | None, forked: bool,
                  initializer: Callable[..., object], initargs: tuple[Any, ...]) -> None:
    die_with_parent(creator, expected_parent)
    if forked:
        release_inherited_files()
    initializer(*initargs)


def die_with_parent(creator: int, expected_parent: int | None) -> None:
    """Make this process end when its parent does. ``creator``: the process that asked for
    it; ``expected_parent``: the pid its parent must have (None when it is not known)."""
    signalled = _ask_for_death_signal()
    parent = os.getppid()
    # Asked too late: the parent died before the prctl call and no signal will come.
    if (expected_parent is not None and parent != expected_parent) or not _alive(creator):
        os._exit(ORPHANED_EXIT)
    watch: Callable[[], bool]
    if expected_parent is None:
        # A fork server's child. Its parent, the fork server, stops when the pipe from the
        # creator reports end of file, but every child holds a copy of that pipe's write end
        # (so that it could ask the server for children of its own): the server outlives
        # the creator for as long as a worker lives, and the death signal never comes.
        # Watch the creator itself.
        def watch() -> bool:
            return _alive(creator)
    elif not signalled:
        def watch() -> bool:
            return os.getppid() == parent
    else:
        return
    threading.Thread(target=_watch, args=(watch,), name="parent-watch", daemon=True).start()


def _ask_for_death_signal() -> bool:
    """Ask the kernel for SIGKILL when the parent dies; False where that cannot be had."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(still_there: Callable[[], bool]) -> None:
    while still_there():
        time.sleep(_POLL_SECONDS)
    os._exit(ORPHANED_EXIT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    try:  # a dead process not yet reaped by its own parent still answers kill(0)
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc here: kill(0) is all there is to go by


def _fd_dir() -> str | None:
    for d in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(d):
            return d
    return None


def release_inherited_files() -> None:
    """Let go of every regular file this (forked) process inherited, and on Linux of the
    memory mappings of those files (see the module's notes)."""
    where = _fd_dir()
    if where is None:
        return
    devnull = os.open(os.devnull, os.O_RDONLY)
    released: set[tuple[int, int] | str] = set()
    try:
        for name in os.listdir(where):
            fd = int(name)
            if fd <= 2 or fd == devnull:
                continue
            try:
                st = os.fstat(fd)
            except OSError:  # the listing's own descriptor, closed by now
                continue
            if stat.S_ISREG(st.st_mode):
                released.add((st.st_dev, st.st_ino))
                try:
                    released.add(os.readlink(f"{where}/{fd}"))
                except OSError:  # not a link here: the device and inode will do
                    pass
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    if released:
        _unmap(released)


def _unmap(files: set[tuple[int, int] | str]) -> None:
    """Remove the mappings of ``files`` ((device, inode) pairs and paths: on an overlay
    file system the maps name another device than fstat) from this process. Only files
    that were open through a descriptor: the interpreter and its libraries are mapped with
    their descriptors long closed, so they are never among them."""
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
        munmap = ctypes.CDLL(None, use_errno=True).munmap
    except (OSError, AttributeError):
        return
    munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    for line in lines:
        fields = line.split(None, 5)  # the path, last, may hold spaces
        if len(fields) < 6:
            continue
        span, dev, inode, path = fields[0], fields[3], int(fields[4]), fields[5]
        major, minor = (int(x, 16) for x in dev.split(":"))
        if path in files or (os.makedev(major, minor), inode) in files:
            start, end = (int(x, 16) for x in span.split("-"))
            munmap(start, end - start)

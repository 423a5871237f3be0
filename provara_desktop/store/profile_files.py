"""Writing the profile's small files (trust store, identity, settings written outside Qt)
when several programs share one profile: the app and a headless peer (``serve``), or two
commands run at once.

Two rules, in one place:

- **A lock around every read-modify-write** (:func:`profile_lock`): an exclusive lock on a
  lock file in the profile, ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows. Two
  writers that each read, change and write the trust store would otherwise lose one of the
  two changes. The lock is re-entrant within a thread (a caller holding it may call a
  function that takes it again) and excludes this process's other threads as well.
- **A unique temporary name, fsync, then an atomic rename** (:func:`replace_file`) or a hard
  link that never replaces (:func:`create_file`): a crash leaves the old file or the new one,
  never half of one, and two writers never write into the same temporary file (a fixed
  ``trust.json.tmp`` let one writer rename the other's half-written bytes into place).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "profile.lock"

# One lock per lock file in this process: flock() locks belong to the open file, so a
# second open of the same file in this process would block on the first (or, with
# msvcrt, fail). Threads of this process queue here; other processes at the OS lock.
_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()
_held = threading.local()


def _thread_lock(key: str) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(key, threading.RLock())


@contextlib.contextmanager
def profile_lock(home: Path) -> Iterator[None]:
    """Hold the profile's write lock (``home/profile.lock``, created when missing)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    key = os.path.abspath(path)
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    with _thread_lock(key):
        if depth.get(key, 0) > 0:  # this thread holds it already
            depth[key] += 1
            try:
                yield
            finally:
                depth[key] -= 1
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            _os_lock(fd)
            depth[key] = 1
            try:
                yield
            finally:
                depth[key] = 0
                _os_unlock(fd)
        finally:
            os.close(fd)


def _os_lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    import msvcrt  # pragma: no cover - Windows

    # LK_LOCK retries for about ten seconds and then raises; a profile write takes
    # milliseconds, so keep asking rather than fail a second writer.
    while True:  # pragma: no cover - Windows
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            return
        except OSError:
            continue


def _os_unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    import msvcrt  # pragma: no cover - Windows

    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover - Windows
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # pragma: no cover


def _write_temp(directory: Path, name: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a new, uniquely named temporary file in ``directory`` and fsync it;
    return its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def replace_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``path`` whole, atomically: a unique temporary file beside it, fsynced, renamed
    over it, and the directory synced. Call under :func:`profile_lock` when the new bytes
    depend on what was read before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, path.name, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def create_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``data``, atomically and without replacing anything: a hard
    link, unlike a rename, fails when the name is taken (two processes creating an identity
    at once cannot destroy each other's key). Raises FileExistsError when it is."""
    tmp = _write_temp(path.parent, path.name, data, mode)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except (OSError, NotImplementedError):
            # Some file systems (FAT, some network shares) have no hard links: check, then
            # rename (atomic for the content; the existence test is guarded by the profile
            # lock our callers hold).
            if os.path.lexists(path):
                raise FileExistsError(path) from None
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable. Windows cannot open directories this way and
    some file systems refuse; the content is already synced either way."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def read_profile_doc(path: Path, *, fmt: str, what: str) -> dict[str, Any] | None:
    """The JSON document at ``path`` (None when there is none), refused with a one-line
    error naming the file when it is unreadable or not a ``fmt`` document (``what`` says
    what it should have been). Every small profile file with a ``format`` field reads
    through here."""
    from provara_desktop.core.canonical import strict_loads
    from provara_desktop.core.errors import InputError, StoreError

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    doc = strict_loads(data, where=str(path), max_bytes=16 << 20)
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise InputError(f"not a provara-desktop {what}", where=str(path))
    return doc

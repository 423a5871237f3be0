"""A killed command leaves nothing running (issue 10, item 5).

``import`` and ``verify`` check a large log in worker processes. Killed with SIGKILL while
they verify, the command used to leave both workers orphaned, blocked for good on a pipe and
holding the bundle and the profile's SQLite index open. Here the real command runs on a
generated log big enough to use workers, is killed once its workers exist, and every worker
must be gone within a few seconds; while they run, none holds the index, the log or the
bundle. The last tests check the fallback where the kernel's parent-death signal is not
available (a thread in the worker watching its parent) and the start-up race (a parent that
died before the worker asked for the signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provara_desktop.runtime.worker_processes import ORPHANED_EXIT
from tests.bench.gen_vault import GeneratedVault, generate

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads processes from /proc")

CLI = [sys.executable, "-m", "provara_desktop"]
EVENTS = 40_000  # well above the 20,000 lines from which verification uses processes
GONE_WITHIN = 5.0  # seconds


def _state(pid: int) -> str | None:
    """The process's state letter, or None when it no longer exists."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rpartition(b")")[2].split()[0].decode()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[1])


def _gone(pid: int) -> bool:
    return _state(pid) in (None, "Z", "X")  # a zombie has ended; only its parent can reap it


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(x) for x in task.read_text().split()]
        except FileNotFoundError:
            pass
    return out


def _open_files(pid: int) -> set[str]:
    """Every file the process has open or mapped."""
    names = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            names.add(os.readlink(fd))
        except OSError:
            pass
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6:
            names.add(fields[5])
    return names


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedVault, Path, Path, Path]:
    """A large vault, its events as a delta file, and a small vault to import them into."""
    base = tmp_path_factory.mktemp("worker-death")
    src = generate(base / "src", EVENTS, actors=2, hot_keys=20, seed=5, home=base / "home")
    delta = base / "all.delta"
    subprocess.run([*CLI, "--home", str(src.home), "export", str(src.path), str(delta),
                    "--format", "provara-delta-v1"], check=True, capture_output=True)
    dst_home = base / "dst-home"
    dst = generate(base / "dst", 2, actors=1, seed=9, home=dst_home)
    return src, delta, dst.path, dst_home


def _wait_for_workers(proc: subprocess.Popen[bytes], seen: list[int]) -> list[int]:
    deadline = time.monotonic() + 120
    while len(workers := _children(proc.pid)) < 2:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the command never started its workers"
        time.sleep(0.02)
    seen += workers
    return workers


def _kill_and_count_survivors(proc: subprocess.Popen[bytes], workers: list[int]) -> list[int]:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + GONE_WITHIN
    while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [w for w in workers if not _gone(w)]


def _clean_up(proc: subprocess.Popen[bytes], seen: list[int]) -> None:
    """Whatever the outcome, nothing this test started keeps running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for w in seen:
        if not _gone(w):
            os.kill(w, signal.SIGKILL)


def _run_and_kill(argv: list[str], watched: list[Path]) -> None:
    proc = subprocess.Popen([*CLI, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[int] = []
    try:
        workers = _wait_for_workers(proc, seen)
        time.sleep(0.3)  # let them start on their tasks
        assert proc.poll() is None, "the command finished before it could be killed"
        for w in workers:
            held = _open_files(w)
            for path in watched:
                assert not any(name.startswith(str(path)) for name in held), (
                    f"worker {w} holds {path}: {sorted(held)}")
        alive = _kill_and_count_survivors(proc, workers)
        assert alive == [], f"workers {alive} outlived their parent by {GONE_WITHIN} s"
    finally:
        _clean_up(proc, seen)


@pytest.mark.slow
def test_killed_import_leaves_no_worker(big: tuple[GeneratedVault, Path, Path, Path]) -> None:
    _src, delta, dst, dst_home = big
    _run_and_kill(["--home", str(dst_home), "import", str(dst), str(delta), "--dry-run",
                   "--accept-untrusted"],
                  watched=[dst_home / "index", delta, dst / "events"])


@pytest.mark.slow
def test_killed_verify_leaves_no_worker(big: tuple[GeneratedVault, Path, Path, Path]) -> None:
    src = big[0]
    _run_and_kill(["--home", str(src.home), "verify", str(src.path)],
                  watched=[src.home / "index", src.path / "events"])


_POOL_DRIVER = textwrap.dedent("""
    import sys, threading, time
    from provara_desktop.runtime import worker_processes
    if sys.argv[1] == "no-signal":  # as where prctl does not exist: the watch thread only
        worker_processes._ask_for_death_signal = lambda: False
    if sys.argv[1] == "forkserver":  # a process with threads (the app) must not fork
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    pool = worker_processes.process_pool(2, initializer=time.sleep, initargs=(0,))
    for _ in range(2):
        pool.submit(time.sleep, 600)
    print(*(p.pid for p in pool._processes.values()), flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("how", ["signal", "no-signal", "forkserver"])
def test_pool_workers_end_with_their_parent(how: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _POOL_DRIVER, how], stdout=subprocess.PIPE)
    seen: list[int] = []
    try:
        assert proc.stdout is not None
        seen += [int(pid) for pid in proc.stdout.readline().split()]
        assert len(seen) == 2
        if how == "forkserver":  # their parent is the fork server, which must end too
            servers = {_parent(w) for w in seen}
            assert proc.pid not in servers
            seen += servers
        time.sleep(0.2)
        assert _kill_and_count_survivors(proc, seen) == []
    finally:
        _clean_up(proc, seen)


def _call(code: str) -> int:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], timeout=60,
                          check=False).returncode


def test_a_worker_whose_parent_died_before_it_asked_ends_at_once() -> None:
    # The parent it was meant to have is not its parent: it was reparented already.
    assert _call("""
        import os
        from provara_desktop.runtime.worker_processes import die_with_parent
        die_with_parent(os.getppid(), expected_parent=os.getppid() + 1)
        raise SystemExit(0)
    """) == ORPHANED_EXIT
    # The process that started it is gone (a fork server's child: its parent is unknown).
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert _call(f"""
        from provara_desktop.runtime.worker_processes import die_with_parent
        die_with_parent({gone.pid}, expected_parent=None)
        raise SystemExit(0)
    """) == ORPHANED_EXIT
    # With its parent alive, it carries on.
    assert _call("""
        import os
        from provara_desktop.runtime.worker_processes import die_with_parent
        die_with_parent(os.getppid(), expected_parent=os.getppid())
        raise SystemExit(0)
    """) == 0

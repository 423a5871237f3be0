"""Driving the real app from inside its own event loop: for screenshots and the UI benchmark.

The app is started with ``provara_desktop.app.run_app`` as a user would start it; these helpers
then find its widgets by objectName (the stable contract: a "mainWindow" with a "mainTabs"
QTabWidget) and run a *script*: a generator that yields what to wait for, so every step runs
in its own event-loop turn and the app repaints, fetches and refreshes in between, exactly as
it would between a user's actions. Nothing here touches the app's private members.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QTabWidget, QWidget

# What a script yields: ("sleep", ms) or ("until", predicate, timeout_ms).
Wait = tuple[Any, ...]
ScriptGen = Generator[Wait, None, None]


def sleep(ms: int) -> Wait:
    return ("sleep", ms)


def until(predicate: Callable[[], bool], timeout_ms: int) -> Wait:
    return ("until", predicate, timeout_ms)


class Script(QObject):
    """Runs a script generator on the GUI thread; calls ``done`` when it ends or raises.
    Keep a reference to it while it runs (it is a QObject owning its timer)."""

    def __init__(self, gen: ScriptGen, done: Callable[[BaseException | None], None]) -> None:
        super().__init__()
        self._gen, self._done = gen, done
        self._predicate: Callable[[], bool] | None = None
        self._deadline = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.on_timer)

    def start(self) -> None:
        self._timer.start(0)

    def on_timer(self) -> None:
        if self._predicate is not None:
            if not self._predicate() and time.perf_counter() < self._deadline:
                self._timer.start(2)
                return
            self._predicate = None
        try:
            cmd = next(self._gen)
        except StopIteration:
            self._done(None)
            return
        except BaseException as exc:  # report it, and let the app quit cleanly
            self._done(exc)
            return
        if cmd[0] == "sleep":
            self._timer.start(int(cmd[1]))
        else:
            self._predicate, self._deadline = cmd[1], time.perf_counter() + cmd[2] / 1000
            self._timer.start(0)


def main_window() -> QWidget | None:
    """The app's main window: objectName "mainWindow", else any visible QMainWindow."""
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    for pick in (lambda w: w.objectName() == "mainWindow",
                 lambda w: isinstance(w, QMainWindow)):
        found = [w for w in visible if pick(w)]
        if found:
            return found[0]
    return None


def main_tabs(window: QWidget) -> QTabWidget | None:
    return window.findChild(QTabWidget, "mainTabs")


def tab_names(tabs: QTabWidget) -> list[str]:
    return [tabs.tabText(i).replace("&", "") for i in range(tabs.count())]


def show_tab(tabs: QTabWidget, name: str) -> QWidget | None:
    """Switch to the tab whose text is ``name`` (accelerator "&" ignored, text may carry a
    count such as "Contested (3)"); returns its page."""
    for i, text in enumerate(tab_names(tabs)):
        if text == name or text.startswith(name + " "):
            tabs.setCurrentIndex(i)
            return tabs.widget(i)
    return None


class PaintWatch(QObject):
    """App-wide event filter: when the main window first painted, and paints per object."""

    def __init__(self, started: float | None = None, *, until_first_paint: bool = False
                 ) -> None:
        super().__init__()
        self.started = time.perf_counter() if started is None else started
        self.first_paint: float | None = None
        self.paints: dict[str, int] = {}
        # An app-wide filter is a Python call for every event the app handles, each needing
        # the GIL: under load that alone stalls the GUI thread. A benchmark of stalls must
        # take it away once it has what it came for.
        self._until_first_paint = until_first_paint

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget):
            name = obj.objectName()
            if name:
                self.paints[name] = self.paints.get(name, 0) + 1
            if self.first_paint is None:
                win = obj.window()
                if win.objectName() == "mainWindow" or isinstance(win, QMainWindow):
                    self.first_paint = time.perf_counter()
                    app = QCoreApplication.instance()
                    if self._until_first_paint and app is not None:
                        app.removeEventFilter(self)
        return False

    def first_paint_ms(self) -> float | None:
        return None if self.first_paint is None else (self.first_paint - self.started) * 1000


class Heartbeat(QObject):
    """A QTimer on the GUI thread; the longest gap between its ticks, per phase, is the
    longest time the GUI thread could not react (a user's click would have waited as long)."""

    def __init__(self, interval_ms: int = 5) -> None:
        super().__init__()
        self.interval_ms = interval_ms
        self.phase = "start"
        self.max_gap_ms: dict[str, float] = {}
        self.gaps_over_100: dict[str, int] = {}
        # Each gap over 100 ms: (phase, seconds into the phase when it ended, gap in ms),
        # to line a stall up with what the app was doing then.
        self.long_gaps: list[tuple[str, float, float]] = []
        self._phase_started = time.perf_counter()
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_tick)

    @property
    def last_tick(self) -> float | None:
        return self._last

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def set_phase(self, phase: str) -> None:
        self.on_tick()  # close the running gap under the old phase
        self.phase = phase
        self._phase_started = time.perf_counter()

    def on_tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap = (now - self._last) * 1000
            if gap > self.max_gap_ms.get(self.phase, 0.0):
                self.max_gap_ms[self.phase] = gap
            if gap > 100:
                self.gaps_over_100[self.phase] = self.gaps_over_100.get(self.phase, 0) + 1
                self.long_gaps.append((self.phase, now - self._phase_started, gap))
        self._last = now


class GcWatch:
    """Every cyclic-collector pass longer than ``threshold_ms``, with the heartbeat's phase:
    (phase, generation, ms, objects collected). A pass holds the GIL throughout, so every
    thread (the GUI thread included) stands still for as long as it runs."""

    def __init__(self, beat: Heartbeat, threshold_ms: float = 10) -> None:
        self._beat = beat
        self._threshold = threshold_ms
        self._t0 = 0.0
        self.passes: list[tuple[str, int, float, int]] = []

    def __call__(self, stage: str, info: dict[str, int]) -> None:
        if stage == "start":
            self._t0 = time.perf_counter()
            return
        ms = (time.perf_counter() - self._t0) * 1000
        if ms >= self._threshold:
            self.passes.append((self._beat.phase, info["generation"], ms, info["collected"]))

    def start(self) -> None:
        import gc

        gc.callbacks.append(self)

    def stop(self) -> None:
        import gc

        if self in gc.callbacks:
            gc.callbacks.remove(self)


class StallSampler:
    """Where the GUI thread is while it stalls: a watchdog thread that, whenever the
    heartbeat has not ticked for ``threshold_ms``, samples the GUI thread's Python stack and
    counts its innermost frames in our code (per heartbeat phase). A sample every
    ``every_ms`` of a stall, so the counts weigh where the time went."""

    def __init__(self, beat: Heartbeat, *, threshold_ms: float = 50, every_ms: float = 10,
                 package: str = "provara_desktop") -> None:
        import os
        import threading

        self._beat = beat
        self._threshold = threshold_ms / 1000
        self._every = every_ms / 1000
        self._package = package
        self._gui_ident = threading.get_ident()
        self._stop = threading.Event()
        self.samples: dict[str, dict[str, int]] = {}
        # The highest resident memory seen in each phase (every 5th sample).
        self.peak_rss_mb: dict[str, float] = {}
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)
        from pathlib import Path

        native = os.environ.get("PROVARA_STALL_NATIVE")
        self._native_dir = Path(native) if native else None
        self._native_left = 12
        self._native_after = 0.08  # seconds into a stall
        # PROVARA_STALL_NATIVE_PHASES=a,b: only stalls in these heartbeat phases.
        only = os.environ.get("PROVARA_STALL_NATIVE_PHASES")
        self._native_phases = set(only.split(",")) if only else None
        if self._native_dir is not None:
            self._native_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _where(self) -> str | None:
        import sys
        import traceback

        frame = sys._current_frames().get(self._gui_ident)
        if frame is None:
            return None
        stack = traceback.extract_stack(frame)
        ours = [f for f in stack if f"/{self._package}/" in f.filename.replace("\\", "/")]
        pick = ours[-1] if ours else stack[-1]
        short = pick.filename.replace("\\", "/").split(f"/{self._package}/")[-1]
        inner = stack[-1]
        tail = "" if inner is pick else f" > {inner.name}"
        return f"{short}:{pick.lineno} {pick.name}{tail}"

    def _others(self) -> list[str]:
        import sys
        import threading
        import traceback

        names = {t.ident: t.name for t in threading.enumerate()}
        out = []
        for ident, frame in sys._current_frames().items():
            if ident in (self._gui_ident, threading.get_ident()):
                continue
            stack = traceback.extract_stack(frame)
            ours = [f for f in stack if f"/{self._package}/" in f.filename.replace("\\", "/")]
            if not ours:
                continue  # idle in the thread pool, or not our code
            pick = ours[-1]
            short = pick.filename.replace("\\", "/").split(f"/{self._package}/")[-1]
            inner = stack[-1]
            tail = "" if inner is pick else f" > {inner.name}"
            out.append(f"[{names.get(ident, '?')}] {short}:{pick.lineno} {pick.name}{tail}")
        return out

    def _rss_mb(self) -> float | None:
        """This process's resident memory now (Linux), for the peak of each phase."""
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * self._page / 2**20
        except (OSError, ValueError, IndexError):
            return None

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self._every):
            ticks += 1
            if ticks % 5 == 0 and (rss := self._rss_mb()) is not None:
                phase_name = self._beat.phase
                if rss > self.peak_rss_mb.get(phase_name, 0.0):
                    self.peak_rss_mb[phase_name] = rss
            last = self._beat.last_tick
            if last is None or time.perf_counter() - last < self._threshold:
                continue
            where = self._where()
            if where is not None:
                phase = self.samples.setdefault(self._beat.phase, {})
                phase[where] = phase.get(where, 0) + 1
                # What the other threads were doing: a thread inside one long C call
                # (a big sort) holds the GIL, and the GUI thread cannot even run a slot.
                for other in self._others():
                    phase[other] = phase.get(other, 0) + 1
            if (self._native_dir is not None and self._native_left > 0
                    and (self._native_phases is None
                         or self._beat.phase in self._native_phases)
                    and time.perf_counter() - last > self._native_after):
                self._native_left -= 1
                self._native_stack(where)
                last_seen = self._beat.last_tick
                while not self._stop.wait(0.01) and self._beat.last_tick == last_seen:
                    pass  # one native stack per stall

    def _native_stack(self, where: str | None) -> None:
        """Every thread's native stack, by attaching gdb (a Python stack that ends in
        Qt's event loop says nothing about what Qt, or the GIL, is doing). Opt-in:
        PROVARA_STALL_NATIVE=DIR; the process is paused while gdb reads it."""
        import os
        import subprocess

        assert self._native_dir is not None
        out = subprocess.run(
            ["gdb", "-q", "-batch", "-p", str(os.getpid()), "-ex", "thread apply all bt 30"],
            capture_output=True, text=True, timeout=60, check=False)
        n = len(list(self._native_dir.glob("stall-*.txt")))
        (self._native_dir / f"stall-{n:02d}-{self._beat.phase}.txt").write_text(
            f"phase {self._beat.phase}; python: {where}\n\n{out.stdout}\n{out.stderr}")

    def top(self, n: int = 10) -> dict[str, list[tuple[str, int]]]:
        return {phase: sorted(counts.items(), key=lambda kv: -kv[1])[:n]
                for phase, counts in self.samples.items()}

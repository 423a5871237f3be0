"""The instruments of the UI benchmark measure what they claim: a GUI-thread block shows up
as a heartbeat gap of its length, in the phase it happened in, and the stall sampler names
the function that blocked; a script's steps run in order, each in its own loop turn."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer  # noqa: E402

from tests.support.ui_driver import (  # noqa: E402
    GcWatch,
    Heartbeat,
    Script,
    ScriptGen,
    StallSampler,
    sleep,
    until,
)


def _block_gui_thread(ms: int) -> None:
    time.sleep(ms / 1000)  # stands in for slow work done on the GUI thread


def test_heartbeat_and_sampler_catch_a_block(qtbot: QtBot) -> None:
    beat = Heartbeat(5)
    sampler = StallSampler(beat, threshold_ms=40, every_ms=10, package="support")
    beat.set_phase("quiet")
    beat.start()
    sampler.start()
    qtbot.wait(150)
    beat.set_phase("blocked")
    QTimer.singleShot(20, lambda: _block_gui_thread(250))
    qtbot.wait(400)
    beat.stop()
    sampler.stop()

    # No upper bounds in ms: on a busy machine the idle loop's gaps stretch too. The block
    # is caught whole, in its phase, with its place; what the quiet phase saw is not it.
    assert beat.max_gap_ms["blocked"] >= 240
    assert beat.max_gap_ms["quiet"] < beat.max_gap_ms["blocked"]
    assert beat.gaps_over_100.get("blocked", 0) >= 1
    where = dict(sampler.top()["blocked"])
    assert any("_block_gui_thread" in place for place in where), where
    quiet = dict(sampler.top().get("quiet", []))
    assert not any("_block_gui_thread" in place for place in quiet), quiet
    # the long gap is listed with its phase, and the watchdog saw the process's memory
    assert any(phase == "blocked" and ms >= 240 for phase, _t, ms in beat.long_gaps)
    assert sampler.peak_rss_mb.get("blocked", 0) > 10


def test_gc_watch_lists_a_long_collector_pass() -> None:
    import gc

    beat = Heartbeat(5)
    beat.set_phase("collecting")
    watch = GcWatch(beat, threshold_ms=0)
    watch.start()
    try:
        junk = [[i] for i in range(200_000)]  # tracked objects for a full pass to walk
        gc.collect()
        del junk
    finally:
        watch.stop()
    assert any(p[0] == "collecting" and p[1] == 2 for p in watch.passes), watch.passes
    count = len(watch.passes)
    gc.collect()  # stopped: no longer listening
    assert len(watch.passes) == count


def test_script_runs_steps_in_order_and_waits(qtbot: QtBot) -> None:
    seen: list[str] = []
    flag = {"up": False}
    finished: list[BaseException | None] = []

    def gen() -> ScriptGen:
        seen.append("start")
        QTimer.singleShot(50, lambda: flag.__setitem__("up", True))
        yield until(lambda: flag["up"], 5000)
        seen.append("flag up")
        t = time.perf_counter()
        yield sleep(60)
        seen.append(f"slept {time.perf_counter() - t >= 0.055}")
        raise RuntimeError("boom")

    script = Script(gen(), finished.append)
    script.start()
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert seen == ["start", "flag up", "slept True"]
    assert isinstance(finished[0], RuntimeError)  # a failing script is reported, not lost

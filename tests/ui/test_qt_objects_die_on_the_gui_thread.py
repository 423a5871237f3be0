"""No Qt object is deleted, disconnected or otherwise touched by a worker thread as a side
effect of Python freeing memory there: what a job held is let go of on the worker that ran
it, and a collection runs on whatever thread allocates. Either, reaching a GUI-thread object
while the GUI thread used or deleted it, crashed the UI test process in some test orders."""

from __future__ import annotations

import gc
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtWidgets import QProgressDialog, QWidget

from provara_desktop.runtime import gcpause
from provara_desktop.ui.dialogs import bundle_dialogs

if TYPE_CHECKING:
    import pytest

    from provara_desktop.session import VaultSession

GUI = threading.main_thread().name


def test_a_bundle_jobs_progress_dialog_is_not_touched_by_the_worker_that_ran_it(
        qtbot: Any, session: VaultSession, monkeypatch: pytest.MonkeyPatch) -> None:
    touched_on: list[str] = []

    class Watched(QProgressDialog):
        # Qt calls this on the thread that removes one of the dialog's connections.
        def disconnectNotify(self, signal: Any) -> None:  # noqa: N802 - Qt override
            touched_on.append(threading.current_thread().name)
            super().disconnectNotify(signal)

    monkeypatch.setattr(bundle_dialogs, "QProgressDialog", Watched)
    parent = QWidget()
    qtbot.addWidget(parent)
    results: list[int] = []
    # The job runs until the GUI thread is done starting it: the worker that ran it is
    # then the last to hold what the job holds, as with any job that takes some time.
    started = threading.Event()
    bundle_dialogs._run(parent, "Working…", lambda progress, token: started.wait(10) and 42,
                        session.submit, results.append)
    started.set()
    qtbot.waitUntil(lambda: results == [42], timeout=10_000)
    # The writer runs one job at a time: once this one ran, it has let go of the first
    # job and of everything the job held (its cancel token among them).
    session.submit(lambda: None).result(10)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the dialog goes
    assert not parent.findChildren(QProgressDialog)
    assert [name for name in touched_on if name != GUI] == []


def test_cyclic_garbage_holding_a_qt_object_is_collected_on_the_gui_thread(
        qtbot: Any) -> None:
    assert gcpause.manual_collection()  # the app's policy, as in app.py (tests/ui/conftest)
    deleted_on: list[str] = []
    gc.collect()  # what follows is the youngest garbage: the next pass of generation 0 frees it
    obj = QObject()  # owned by Python: the wrapper's end deletes it
    obj.destroyed.connect(lambda: deleted_on.append(threading.current_thread().name))
    cycle: dict[str, Any] = {"qt": obj}
    cycle["self"] = cycle
    del obj, cycle  # only the collector can free it now

    results: list[list[list[int]]] = []

    def allocate() -> None:  # far past generation 0's threshold, as a job's result does
        results.append([[] for _ in range(50_000)])

    worker = threading.Thread(target=allocate, name="busy-worker")
    worker.start()
    worker.join()
    assert deleted_on == []  # the worker's allocations collected nothing
    qtbot.waitUntil(lambda: deleted_on != [], timeout=5000)  # the GUI thread's timer did
    assert deleted_on == [GUI]


def test_a_pause_ending_keeps_the_collection_on_the_gui_thread(qtbot: Any) -> None:
    assert not gc.isenabled()
    done = threading.Event()

    def bulk_work() -> None:
        with gcpause.gc_paused(keep_survivors=True):
            pass
        done.set()

    threading.Thread(target=bulk_work).start()
    assert done.wait(10)
    assert not gc.isenabled()  # the pause gave nothing back to the automatic collector


def test_the_collector_waits_while_bulk_work_pauses_it(qtbot: Any) -> None:
    from provara_desktop.ui.gui_thread_gc import GuiThreadCollector

    collector = GuiThreadCollector()
    young = [[] for _ in range(5_000)]  # generation 0 well past its threshold
    with gcpause.gc_paused():
        assert collector.collect_due() is None  # the pause's objects are not walked
    assert collector.collect_due() is not None  # the next tick after it collects
    del young

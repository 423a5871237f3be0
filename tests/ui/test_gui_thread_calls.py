"""Workers hand results to the GUI thread through an Inbox: the calls run there, in order,
and a call made after the inbox's owner is gone is dropped, not a crash."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject

from provara_desktop.ui.gui_thread_calls import Inbox


def test_calls_from_a_worker_run_on_the_gui_thread_in_order(qtbot: Any) -> None:
    owner = QObject()
    inbox = Inbox(owner)
    gui = threading.get_ident()
    seen: list[tuple[int, int]] = []

    def work() -> None:
        for i in range(200):
            inbox.call(lambda i=i: seen.append((i, threading.get_ident())))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(seen) == 200, timeout=5000)
    assert [i for i, _ in seen] == list(range(200))
    assert {ident for _, ident in seen} == {gui}


def test_a_call_after_the_owner_is_deleted_is_dropped(qtbot: Any) -> None:
    import shiboken6

    owner = QObject()
    inbox = Inbox(owner)
    shiboken6.delete(owner)  # takes its child, the inbox, with it
    called: list[int] = []
    errors: list[BaseException] = []

    def late_worker() -> None:
        try:
            inbox.call(called.append, 1)
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the test reports it
            errors.append(exc)

    t = threading.Thread(target=late_worker)
    t.start()
    t.join()
    qtbot.wait(50)
    assert errors == []
    assert called == []


def test_an_op_whose_job_is_cancelled_before_it_runs_reports_back(qtbot) -> None:  # type: ignore[no-untyped-def]
    """A session closed with a job still queued cancels its future: the op must still
    report (silently) and leave pending_ops(), or every later wait for it hangs."""
    from concurrent.futures import Future

    from provara_desktop.ui import ops

    failures: list[BaseException] = []
    future: Future[int] = Future()
    before = ops.pending_ops()
    ops.run_op(None, lambda: future).failure(failures.append)
    assert ops.pending_ops() == before + 1
    assert future.cancel()
    qtbot.waitUntil(lambda: ops.pending_ops() == before, timeout=5_000)
    assert len(failures) == 1

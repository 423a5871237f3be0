"""Scale: a generated 100k-event vault paints at once, stays responsive while its beliefs are
computed in the background, and the beliefs table fills, filters and shows histories.

The 1M-event figures (first paint, stalls, peak memory) come from the same steps run by hand
on the 1M vault; see the report in docs. Generated vaults are cached under bench-data/.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QLabel, QTableView

from provara_desktop.session import VaultSession
from provara_desktop.store.vault import Vault
from tests.bench.gen_vault import cached

pytestmark = pytest.mark.slow


class _FirstPaint(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint and self.at is None:
            self.at = time.perf_counter()
        return False


def test_big_vault_paints_fast_and_stays_responsive(qtbot, make_window) -> None:
    gv = cached(100_000)
    window = make_window()
    spy = _FirstPaint()
    window.installEventFilter(spy)
    # the beliefs are computed on the writer thread; a 10 ms GUI timer measures stalls
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    ticker = QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(tick)

    t0 = time.perf_counter()
    session = VaultSession(Vault.open(gv.path, home=gv.home), bus=window.bus)
    window.set_session(session)
    window.repaint()
    first_paint = (spy.at or time.perf_counter()) - t0
    last[0] = time.perf_counter()
    ticker.start()
    beliefs = window.views["Beliefs"]
    status = beliefs.findChild(QLabel, "beliefsStatus")
    qtbot.waitUntil(lambda: session.beliefs() is not None, timeout=120_000)
    reducer = session.beliefs()
    assert reducer is not None
    n_keys = (len(reducer.canonical) + len(reducer.local) + len(reducer.contested_keys)
              + len(reducer.archived))
    # arranged on the query thread, swapped in at once on the GUI thread
    qtbot.waitUntil(lambda: beliefs.model.rowCount() == n_keys, timeout=60_000)
    ticker.stop()
    assert first_paint < 1.5, f"first paint took {first_paint:.2f}s"
    # generous bound: the machine is shared; the benchmark reports the real figure
    assert max(gaps) < 1.0, f"GUI thread stalled {max(gaps) * 1000:.0f} ms"
    assert f"{n_keys:,} beliefs" in status.text()

    # search a one-off item, select it, and read its history
    key = next(k for ns, k in beliefs.model.rows if ns == "local" and k.startswith("item-"))
    beliefs.search.setText(key)
    qtbot.waitUntil(lambda: beliefs.model.rowCount() == 1, timeout=5000)
    table = beliefs.findChild(QTableView, "beliefsTable")
    table.selectRow(0)
    hist = beliefs.findChild(QTableView, "historyTable").model()
    qtbot.waitUntil(lambda: hist.rowCount() == 1, timeout=10_000)
    assert hist.index(0, 2).data() == "OBSERVATION"
    window.close()
    assert session.closed

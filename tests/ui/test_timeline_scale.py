"""The timeline on a large generated vault (100k events, generated once into bench-data/):
the first window is sampled, never the whole vault; a pan from start to end fetches one
window per screen; a jump to one event deep inside draws and inspects it; the table scrolls
to both ends reading a few pages, not the log.

These assert the work done (marks drawn, windows fetched, rows read), not seconds: timings
on a shared 2-core machine are noise. The times and the GUI thread's stalls for the same
steps are measured by scripts/bench_ui ("timeline" phase, docs/benchmarks_ui.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from provara_desktop.session import VaultSession  # noqa: E402
from provara_desktop.store.vault import Vault  # noqa: E402
from tests.bench.gen_vault import cached  # noqa: E402

if TYPE_CHECKING:
    from provara_desktop.store.index import EventIndex

pytestmark = [
    pytest.mark.slow,
]
N_EVENTS = 100_000


def count_rows_read(monkeypatch: pytest.MonkeyPatch, index: EventIndex) -> list[int]:
    """Count the index rows ``index.query`` hands out from now on (the real query runs)."""
    read = [0]
    real = index.query

    def counting(*args: Any, **kwargs: Any) -> Any:
        rows = real(*args, **kwargs)
        read[0] += len(rows)
        return rows

    monkeypatch.setattr(index, "query", counting)
    return read


def test_timeline_stays_responsive_on_a_large_vault(qtbot, monkeypatch) -> None:
    from provara_desktop.ui.views.timeline_view import TimelineView

    gv = cached(N_EVENTS)
    vault = Vault.open(gv.path, home=gv.home)
    vault.index.ensure_indexes()  # once per index file (the provenance indexes are new)
    session = VaultSession(vault)
    try:
        view = TimelineView(session)
        qtbot.addWidget(view)
        view.resize(1600, 1000)
        view.show()
        canvas = view.canvas
        qtbot.waitUntil(lambda: len(canvas.marks()) > 0, timeout=20000)
        # dense lanes are sampled: at most one mark per few pixels of each lane, however
        # many events the vault holds
        assert canvas.is_sampled()
        lanes = len(canvas.lanes())
        assert 0 < len(canvas.marks()) <= lanes * (canvas.width() + 1)
        assert len(canvas.marks()) < N_EVENTS // 10

        # zoom in to 1/64 of the range, then pan from the start to the end by pages
        # (PageDown moves 0.9 of a screen): each page installs its window, at most twice
        # (as fetched, then with its signatures checked, unless the next page overtakes
        # it), each window bounded by the screen, never the vault
        canvas.setFocus()
        lo, hi = canvas.data_bounds()  # type: ignore[misc]
        span = (hi - lo) / 64
        with qtbot.waitSignal(canvas.window_shown, timeout=20000):
            canvas.set_range(lo - span * 0.05, lo + span * 0.95)
        shown = [0]
        canvas.window_shown.connect(lambda: shown.__setitem__(0, shown[0] + 1))
        steps = 0
        while canvas.visible_range()[1] < hi:
            with qtbot.waitSignal(canvas.window_shown, timeout=20000):
                qtbot.keyClick(canvas, Qt.Key.Key_PageDown)
            steps += 1
            assert steps <= math.ceil(64 / 0.9) + 2, "the pan does not advance by pages"
            assert len(canvas.marks()) <= lanes * (canvas.width() + 1)
        assert steps >= 64 / 0.9 - 2
        assert steps <= shown[0] <= 2 * steps + 2

        # jump to an event deep inside and inspect it (zooms until it is drawn)
        row = vault.index.row_at(N_EVENTS // 2)
        assert row is not None
        view.show_event(row.event_id)
        qtbot.waitUntil(lambda: canvas.mark_position(row.event_id) is not None, timeout=20000)
        assert view.inspector.event_id() == row.event_id
        assert view.inspector.fields["signature"].text().count("valid") >= 1

        # the table: scroll to the end and back, reading only the pages on screen
        read = count_rows_read(monkeypatch, vault.index)
        view.table.scrollToBottom()
        qtbot.wait(10)
        view.table.scrollToTop()
        qtbot.wait(10)
        model = view.table.model()
        assert model.rowCount() == N_EVENTS
        assert model.index(N_EVENTS - 1, 0).data() is not None  # the last row is there
        assert 0 < read[0] <= 8 * 256, f"{read[0]:,} rows read to show two screens"
    finally:
        session.close()

"""The contested workbench on a large generated vault (hot keys with thousands of pieces of
evidence each): time from beliefs-ready to the list, to the cards of one belief, and the
GUI thread's longest stall meanwhile. 100k events by default; PROVARA_BENCH_EVENTS=1000000
(and PROVARA_BENCH_HOME, see test_timeline_scale) for the 1M figures."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from provara_desktop.session import VaultSession  # noqa: E402
from provara_desktop.store.vault import Vault  # noqa: E402
from tests.bench.gen_vault import cached  # noqa: E402
from tests.ui.test_timeline_scale import N_EVENTS, _Heartbeat, pytestmark  # noqa: E402, F401


def test_contested_workbench_on_a_large_vault(qtbot) -> None:
    from provara_desktop.ui.views.contested_view import ContestedView

    gv = cached(N_EVENTS)
    home = Path(os.environ.get("PROVARA_BENCH_HOME", str(gv.home)))
    vault = Vault.open(gv.path, home=home)
    vault.index.ensure_indexes()
    session = VaultSession(vault)
    results: dict[str, float] = {"events": N_EVENTS}
    beat = _Heartbeat()
    try:
        t0 = time.perf_counter()
        session.start().result(timeout=600)
        results["beliefs_s"] = time.perf_counter() - t0
        beat.start()
        t0 = time.perf_counter()
        view = ContestedView(session)
        qtbot.addWidget(view)
        view.resize(1600, 900)
        view.show()
        qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=60000)
        results["list_s"] = time.perf_counter() - t0
        results["contested_beliefs"] = view.model.rowCount()
        t0 = time.perf_counter()
        rect = view.table.visualRect(view.proxy.index(0, 0))
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(lambda: len(view.cards()) > 0, timeout=60000)
        # the rows on screen get their checks (signature, chain, attachments) in the background
        qtbot.waitUntil(lambda: all(c.model.details_complete(20) for c in view.cards()),
                        timeout=60000)
        results["cards_s"] = time.perf_counter() - t0
        results["evidence_in_cards"] = sum(c.model.rowCount() for c in view.cards())
        t0 = time.perf_counter()
        view.refresh()  # a second snapshot reuses the cached summaries
        qtbot.waitUntil(view.is_idle, timeout=60000)
        results["refresh_s"] = time.perf_counter() - t0
        results["stall_ms"] = beat.stop()
    finally:
        session.close()
    print(json.dumps(results, indent=2))
    Path("bench-data").mkdir(exist_ok=True)
    Path("bench-data", f"contested_scale_{N_EVENTS}.json").write_text(json.dumps(results))
    assert results["stall_ms"] < 1000

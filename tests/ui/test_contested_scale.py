"""The contested workbench on a large generated vault (100k events, hot keys with thousands
of pieces of evidence each): the list shows every contested belief, a click shows its cards
with the checks of the rows on screen, and a second snapshot reuses the summaries it already
has instead of summarising every contested belief again.

Work is counted (summaries computed), not timed: the times from beliefs-ready to the list
and to the cards, and the GUI thread's longest stall meanwhile, are measured by
scripts/bench_ui ("contested" phase, docs/benchmarks_ui.md).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from provara_desktop.session import VaultSession  # noqa: E402
from provara_desktop.store.vault import Vault  # noqa: E402
from provara_desktop.ui import contested_cache  # noqa: E402
from tests.bench.gen_vault import cached  # noqa: E402
from tests.ui.test_timeline_scale import N_EVENTS, pytestmark  # noqa: E402, F401


def count_summaries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the summaries the workbench's cache computes from now on (the real function
    runs)."""
    made = [0]
    real = contested_cache.contested_summary

    def counting(*args: Any, **kwargs: Any) -> Any:
        made[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(contested_cache, "contested_summary", counting)
    return made


def test_contested_workbench_on_a_large_vault(qtbot, monkeypatch) -> None:
    from provara_desktop.ui.views.contested_view import ContestedView

    gv = cached(N_EVENTS)
    vault = Vault.open(gv.path, home=gv.home)
    vault.index.ensure_indexes()
    session = VaultSession(vault)
    try:
        reducer = session.start().result(timeout=600)
        made = count_summaries(monkeypatch)
        view = ContestedView(session)
        qtbot.addWidget(view)
        view.resize(1600, 900)
        view.show()
        qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=60000)
        qtbot.waitUntil(view.is_idle, timeout=60000)
        contested = len(reducer.contested_keys)
        assert view.model.rowCount() == contested > 0
        assert made[0] == contested  # each contested belief summarised once

        rect = view.table.visualRect(view.proxy.index(0, 0))
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(lambda: len(view.cards()) > 0, timeout=60000)
        # the rows on screen get their checks (signature, chain, attachments) in the background
        qtbot.waitUntil(lambda: all(c.model.details_complete(20) for c in view.cards()),
                        timeout=60000)
        assert len(view.cards()) >= 2  # a contest has at least two values
        assert sum(c.model.rowCount() for c in view.cards()) > 0

        qtbot.waitUntil(view.is_idle, timeout=60000)
        before = made[0]
        view.refresh()  # a second snapshot reuses the cached summaries
        qtbot.waitUntil(view.is_idle, timeout=60000)
        assert made[0] == before  # nothing changed: no summary computed again
        assert view.model.rowCount() == contested
        assert len(view.cards()) >= 2
    finally:
        session.close()

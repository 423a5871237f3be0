"""The provenance timeline, driven as a user drives it: click marks, zoom and pan with keys,
filter, follow chain links, ask for the ± time context, see tampering and clock skew."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from provara_desktop.session import VaultSession  # noqa: E402
from provara_desktop.ui.provenance_cache import Provenance  # noqa: E402
from tests.store.test_provenance import Case, build_case, tamper_signature  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from provara_desktop.ui.views.timeline_view import TimelineView


def _session(case: Case, who: str = "alice") -> VaultSession:
    session = VaultSession(case.vault)
    session.unlock(case.keys[who], case.actors[who])
    session.start().result(timeout=30)
    return session


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return build_case(tmp_path, fork=True)


@pytest.fixture
def session(case: Case) -> Iterator[VaultSession]:
    s = _session(case)
    yield s
    s.close()


def _view(qtbot, session: VaultSession) -> TimelineView:
    from provara_desktop.ui.views.timeline_view import TimelineView

    view = TimelineView(session)
    qtbot.addWidget(view)
    view.resize(1400, 900)
    view.show()
    qtbot.waitUntil(lambda: len(view.canvas.marks()) > 0, timeout=5000)
    return view


def _raw(case: Case, name: str) -> str:
    row = case.vault.index.get(case.ids[name])
    assert row is not None
    with case.vault.events_path.open("rb") as f:
        f.seek(row.offset)
        return f.read(row.length).decode()


def _wheel(canvas, point, steps: int = 1) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    event = QWheelEvent(QPointF(point), canvas.mapToGlobal(QPointF(point)), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, event)


def _separated(view: TimelineView, event_id: str) -> bool:
    me = view.canvas.mark_position(event_id)
    if me is None:
        return False
    return all(abs(p.x() - me.x()) > 14 or abs(p.y() - me.y()) > 14
               for eid, p in ((m.row.event_id, view.canvas.mark_position(m.row.event_id))
                              for m in view.canvas.marks())
               if eid != event_id and p is not None)


def _click_mark(qtbot, view: TimelineView, event_id: str) -> None:
    """Zoom in with the wheel over the mark until it stands apart, then click it."""
    canvas = view.canvas
    qtbot.waitUntil(lambda: canvas.mark_position(event_id) is not None, timeout=5000)
    for _ in range(60):
        if _separated(view, event_id):
            break
        point = canvas.mark_position(event_id)
        assert point is not None
        gen = canvas.window_shown
        with qtbot.waitSignal(gen, timeout=5000):
            _wheel(canvas, point.toPoint(), 3)
    point = canvas.mark_position(event_id)
    assert point is not None
    assert _separated(view, event_id)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=point.toPoint())


def test_models_pass_the_model_tester(qtmodeltester, case: Case) -> None:
    from provara_desktop.ui.models.timeline_model import TimelineFilter, TimelineModel

    model = TimelineModel(case.vault.index, Provenance(case.vault))
    qtmodeltester.check(model)
    assert model.rowCount() == case.vault.index.count()
    model.set_filter(TimelineFilter(actor=case.actors["bob"]))
    qtmodeltester.check(model)
    assert model.rowCount() == case.vault.index.count(actor=case.actors["bob"])
    assert {model.row_at(r).actor for r in range(model.rowCount())} == {case.actors["bob"]}


def test_clicking_a_mark_opens_the_inspector_with_its_canonical_json(
        qtbot, case: Case, session: VaultSession) -> None:
    view = _view(qtbot, session)
    with qtbot.waitSignal(view.event_selected, timeout=3000) as blocker:
        _click_mark(qtbot, view, case.ids["b_loc"])
    assert blocker.args == [case.ids["b_loc"]]
    insp = view.inspector
    assert insp.json_view.toPlainText() == _raw(case, "b_loc")
    assert insp.fields["event_id"].text() == case.ids["b_loc"]
    assert "valid" in insp.fields["signature"].text()
    assert insp.fields["fingerprint"].text() == case.keys["bob"].public.fingerprint
    assert "matches content" in insp.fields["id_check"].text()
    # the belief it changed and where it stands now
    assert "EX-01:location" in insp.fields["belief"].text()
    assert "contested" in insp.fields["belief"].text()
    # the table row follows the selection
    current = view.table.currentIndex()
    assert view.model.data(current, Qt.ItemDataRole.UserRole + 1) == case.ids["b_loc"]


def test_predecessor_link_and_attachment_check(qtbot, case: Case,
                                               session: VaultSession) -> None:
    view = _view(qtbot, session)
    _click_mark(qtbot, view, case.ids["c_seal"])
    insp = view.inspector
    assert "custody.txt" in insp.fields["attachments"].text()
    assert "hash ok" in insp.fields["attachments"].text()
    view.show_event(case.ids["a_owner"])
    assert case.ids["a_loc"] in insp.fields["predecessor"].text()
    assert "4 of 4" in insp.fields["chain"].text()
    # following the link (what a click on it emits) moves the whole view to the predecessor
    insp.fields["predecessor"].linkActivated.emit(case.ids["a_loc"])
    assert insp.event_id() == case.ids["a_loc"]
    assert view.canvas.selected() == case.ids["a_loc"]
    assert case.ids["a_owner"] in insp.fields["successors"].text()


def test_n_and_p_step_through_the_events(qtbot, case: Case, session: VaultSession) -> None:
    view = _view(qtbot, session)
    view.show_event(case.ids["a_loc"])
    view.canvas.setFocus()
    order = [r.event_id for r in case.vault.index.query()]
    i = order.index(case.ids["a_loc"])
    qtbot.keyClick(view.canvas, Qt.Key.Key_N)
    assert view.inspector.event_id() == order[i + 1]
    assert view.canvas.selected() == order[i + 1]
    qtbot.keyClick(view.canvas, Qt.Key.Key_P)
    qtbot.keyClick(view.canvas, Qt.Key.Key_P)
    assert view.inspector.event_id() == order[i - 1]


def test_zoom_and_pan_keys_change_the_visible_range(qtbot, session: VaultSession) -> None:
    view = _view(qtbot, session)
    canvas = view.canvas
    canvas.setFocus()
    t0, t1 = canvas.visible_range()
    qtbot.keyClick(canvas, Qt.Key.Key_Plus)
    z0, z1 = canvas.visible_range()
    assert z1 - z0 == pytest.approx((t1 - t0) / 1.5)
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    p0, p1 = canvas.visible_range()
    assert p0 > z0
    assert p1 - p0 == pytest.approx(z1 - z0)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus)
    m0, m1 = canvas.visible_range()
    assert m1 - m0 > z1 - z0
    # dragging pans too: to the right moves the window back in time
    from PySide6.QtCore import QPoint

    before = canvas.visible_range()[0]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(600, 60))
    qtbot.mouseMove(canvas, QPoint(800, 60))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(800, 60))
    assert canvas.visible_range()[0] < before


def test_filters_reduce_marks_and_rows(qtbot, case: Case, session: VaultSession) -> None:
    view = _view(qtbot, session)
    all_marks = len(view.canvas.marks())
    assert all_marks == case.vault.index.count()
    bob = case.actors["bob"]
    view.actor_filter.setCurrentText(bob)
    qtbot.waitUntil(lambda: {m.row.actor for m in view.canvas.marks()} == {bob}, timeout=5000)
    assert len(view.canvas.marks()) == case.vault.index.count(actor=bob)
    assert view.model.rowCount() == case.vault.index.count(actor=bob)
    view.type_filter.setCurrentText("ATTESTATION")
    view.actor_filter.setCurrentIndex(0)
    qtbot.waitUntil(lambda: len(view.canvas.marks()) == 1, timeout=5000)
    assert view.canvas.marks()[0].row.event_id == case.ids["c_attest"]
    view.clear_filters()
    qtbot.waitUntil(lambda: len(view.canvas.marks()) == all_marks, timeout=5000)


def test_context_shows_only_events_around_the_selected_one(qtbot, case: Case,
                                                           session: VaultSession) -> None:
    view = _view(qtbot, session)
    view.show_event(case.ids["c_ahead"])  # a day after everything else
    view.inspector.context_span.setValue(3600.0)
    qtbot.mouseClick(view.inspector.context_button, Qt.MouseButton.LeftButton)
    assert view.model.rowCount() == 1
    assert view.time_filter.isChecked()
    qtbot.waitUntil(lambda: [m.row.event_id for m in view.canvas.marks()]
                    == [case.ids["c_ahead"]], timeout=5000)


def test_clock_skew_is_flagged_next_to_first_seen(qtbot, case: Case,
                                                  session: VaultSession) -> None:
    view = _view(qtbot, session)
    view.show_event(case.ids["c_ahead"])
    insp = view.inspector
    assert "clock runs ahead" in insp.fields["skew"].text()
    row = case.vault.index.get(case.ids["c_ahead"])
    assert row is not None
    assert insp.fields["first_seen"].text() == row.first_seen_utc
    assert insp.fields["claimed"].text() == row.timestamp_utc
    view.show_event(case.ids["a_loc"])
    assert "no skew" in insp.fields["skew"].text()
    # the table flags it too, in the claimed-time column
    from provara_desktop.ui.models.timeline_model import Column

    skewed = view.model.index(view.model.row_for_event(case.ids["c_ahead"]), Column.CLAIMED)
    fine = view.model.index(view.model.row_for_event(case.ids["a_loc"]), Column.CLAIMED)
    assert "clock runs ahead" in skewed.data(Qt.ItemDataRole.ToolTipRole)
    assert skewed.data(Qt.ItemDataRole.ForegroundRole) is not None
    assert fine.data(Qt.ItemDataRole.ForegroundRole) is None


def test_tampered_event_shows_bad_signature(qtbot, tmp_path: Path) -> None:
    case = build_case(tmp_path)
    tamper_signature(case, "b_loc")
    session = _session(case)
    try:
        view = _view(qtbot, session)
        qtbot.waitUntil(lambda: any(m.check is not None for m in view.canvas.marks()),
                        timeout=5000)
        bad = {m.row.event_id: m.check.sig for m in view.canvas.marks() if m.check}
        assert str(bad[case.ids["b_loc"]]) == "bad signature"
        assert str(bad[case.ids["a_loc"]]) == "valid"
        _click_mark(qtbot, view, case.ids["b_loc"])
        assert "bad signature" in view.inspector.fields["signature"].text()
        assert "not verified" in view.inspector.fields["verification"].text()
        session.verify().result(timeout=30)  # the session keeps it as last_report
        view.show_event(case.ids["b_loc"])
        assert "BAD_SIGNATURE" in view.inspector.fields["verification"].text()
        from provara_desktop.ui.models.timeline_model import Column

        row = view.model.row_for_event(case.ids["b_loc"])
        assert view.model.index(row, Column.SIGNATURE).data() == "bad signature"
    finally:
        session.close()


def test_fork_is_drawn_and_new_events_are_appended_live(qtbot, case: Case,
                                                        session: VaultSession) -> None:
    from provara_desktop.ui.bridge import QtBridge

    view = _view(qtbot, session)
    bridge = QtBridge(session.bus)
    bridge.event_received.connect(lambda ev: view.on_changes(ev.changes))
    view.show_event(case.ids["fork_base"])
    assert "FORK" in view.inspector.fields["chain"].text()
    view.show_event(case.ids["fork_a"])  # each forked event names the other as proof
    assert "FORKED" in view.inspector.fields["chain"].text()
    assert case.ids["fork_b"] in view.inspector.fields["chain"].text()
    qtbot.waitUntil(lambda: view.canvas.forked() == {case.ids["fork_a"], case.ids["fork_b"]},
                    timeout=5000)  # drawn boxed on the canvas
    resets: list[bool] = []
    view.model.modelReset.connect(lambda: resets.append(True))
    before = view.model.rowCount()
    session.observe(subject="EX-06", predicate="status", value="logged").result(timeout=10)
    qtbot.waitUntil(lambda: view.model.rowCount() == before + 1, timeout=5000)
    assert resets == []  # an append inserts rows, it never resets the table
    view.canvas.setFocus()
    qtbot.keyClick(view.canvas, Qt.Key.Key_0)  # fit everything, the new event included
    qtbot.waitUntil(lambda: len(view.canvas.marks()) == before + 1, timeout=5000)


def test_a_rewritten_tail_updates_rows_in_place(qtmodeltester, case: Case) -> None:
    """An event stamped before existing ones (its signer's clock is behind) is inserted in
    the total order; the table updates the rewritten rows and grows, without a reset."""
    from datetime import datetime, timedelta

    from provara_desktop.core.event import build_event
    from provara_desktop.ui.models.timeline_model import TimelineModel

    index = case.vault.index
    model = TimelineModel(index, Provenance(case.vault))
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    old_count = model.rowCount()
    assert model.row_at(old_count - 1) is not None  # cache the tail
    rows = index.query()
    earlier = (datetime.fromisoformat(rows[3].timestamp_utc) + timedelta(microseconds=1))
    head = case.vault.chain_head(case.actors["alice"])
    assert head is not None
    late_stamp = build_event(event_type="OBSERVATION", actor=case.actors["alice"],
                             payload={"subject": "EX-09", "predicate": "note", "value": "x"},
                             prev_event_hash=head.event_id, key=case.keys["alice"],
                             timestamp_utc=max(earlier.isoformat(), head.timestamp_utc or ""))
    result = case.vault.append([late_stamp], signer=case.keys["alice"])
    assert result.reordered_from is not None
    assert result.reordered_from < old_count
    model.refresh(result.reordered_from)
    qtmodeltester.check(model)
    assert resets == []
    assert model.rowCount() == old_count + 1
    pos = index.get(str(late_stamp["event_id"])).pos
    assert model.row_at(pos).event_id == late_stamp["event_id"]
    assert [model.row_at(r).event_id for r in range(model.rowCount())] == [
        r.event_id for r in index.query()]


def test_chain_links_are_drawn_between_marks(qtbot, session: VaultSession) -> None:
    from provara_desktop.ui.views.timeline_canvas import LANE_H

    view = _view(qtbot, session)
    canvas = view.canvas
    qtbot.wait(100)
    image = canvas.grab().toImage()
    background = canvas.palette().base().color().rgb()
    checked = 0
    for m in canvas.marks():
        prev = m.row.prev_event_hash
        a = canvas.mark_position(prev) if prev else None
        b = canvas.mark_position(m.row.event_id)
        if a is None or b is None or abs(b.x() - a.x()) < 40 or a.y() != b.y():
            continue
        # the link is a curve lifted above the lane: its middle is above the midpoint
        lift = min(0.45 * LANE_H, 6 + abs(b.x() - a.x()) * 0.25)
        x, y = round((a.x() + b.x()) / 2), round(a.y() - lift / 2)
        dpr = image.devicePixelRatio()
        near = [image.pixelColor(round((x + dx) * dpr), round((y + dy) * dpr)).rgb()
                for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        assert any(c != background for c in near), (m.row.event_id, x, y)
        checked += 1
    assert checked >= 1

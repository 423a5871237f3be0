"""The beliefs tab: namespaces, search, and a belief's history as it moves between them."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QTableView

from provara_desktop.session import belief_rows
from provara_desktop.ui.models.beliefs_model import BeliefsModel, KeyRole, arrange
from provara_desktop.ui.models.history_model import HistoryModel


def _visible_keys(view) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    t = view.findChild(QTableView, "beliefsTable")
    m = t.model()
    return [(m.index(r, 0).data(), m.index(r, 1).data()) for r in range(m.rowCount())]


def _beliefs_tab(make_window, session, unlocked):  # type: ignore[no-untyped-def]
    """A window for the unlocked identity, showing its Beliefs view (returned)."""
    _ident, key = unlocked
    window = make_window(session, key=key)
    view = window.views["Beliefs"]
    window.tabs.setCurrentWidget(view)
    return view


def _click_row_of(qtbot, view, key: str) -> None:  # type: ignore[no-untyped-def]
    t = view.findChild(QTableView, "beliefsTable")
    m = t.model()
    row = next(r for r in range(m.rowCount()) if m.index(r, 0).data(KeyRole) == key)
    rect = t.visualRect(m.index(row, 1))
    qtbot.mouseClick(t.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_belief_moves_through_namespaces_with_its_history(qtbot, make_window, session,
                                                          unlocked) -> None:
    view = _beliefs_tab(make_window, session, unlocked)
    status = view.findChild(QLabel, "beliefsStatus")
    qtbot.waitUntil(lambda: "beliefs" in status.text() and "Computing" not in status.text(),
                    timeout=10000)
    k = dict(subject="exhibit-7", predicate="location")
    first = session.observe(**k, value="locker 1", confidence=0.9).result(timeout=10)
    qtbot.waitUntil(lambda: ("local", "exhibit-7:location") in _visible_keys(view), timeout=5000)

    session.observe(**k, value="evidence room", confidence=0.8).result(timeout=10)
    qtbot.waitUntil(lambda: ("contested", "exhibit-7:location") in _visible_keys(view),
                    timeout=5000)
    assert ("local", "exhibit-7:location") not in _visible_keys(view)

    session.attest(**k, value="locker 1",
                   targets=[first.events[0]["event_id"]]).result(timeout=10)
    qtbot.waitUntil(lambda: ("canonical", "exhibit-7:location") in _visible_keys(view),
                    timeout=5000)

    # the namespace filter and the search box narrow the table
    combo = view.findChild(QComboBox, "namespaceFilter")
    combo.setCurrentIndex(combo.findData("canonical"))
    qtbot.waitUntil(lambda: {ns for ns, _ in _visible_keys(view)} == {"canonical"},
                    timeout=3000)
    search = view.findChild(QLineEdit, "beliefSearch")
    qtbot.keyClicks(search, "EXHIBIT-7")
    qtbot.waitUntil(lambda: _visible_keys(view) == [("canonical", "exhibit-7:location")],
                    timeout=3000)
    assert "1 of" in status.text()

    # selecting it shows the whole history, with the states it went through
    _click_row_of(qtbot, view, "exhibit-7:location")
    hist = view.findChild(QTableView, "historyTable").model()
    qtbot.waitUntil(lambda: hist.rowCount() == 3, timeout=5000)
    states = [hist.index(r, 6).data() for r in range(3)]
    assert states == ["none → local", "local → contested", "contested → canonical"]
    title = view.findChild(QLabel, "historyTitle").text()
    assert "none → local → contested → canonical" in title

    # a retraction archives it; the open history follows
    session.retract(**k, reason="moved to the lab").result(timeout=10)
    qtbot.waitUntil(lambda: hist.rowCount() == 4, timeout=5000)
    assert hist.index(3, 6).data() == "canonical → archived"
    assert hist.index(3, 7).data() == "moved to the lab"
    combo.setCurrentIndex(combo.findData("archived"))
    qtbot.waitUntil(lambda: _visible_keys(view) == [("archived", "exhibit-7:location")],
                    timeout=5000)
    search.clear()
    combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: len(_visible_keys(view)) == view.model.rowCount(), timeout=3000)


def test_history_row_jumps_to_the_timeline(qtbot, make_window, session, unlocked,
                                           monkeypatch) -> None:
    _ident, key = unlocked
    window = make_window(session, key=key)
    r = session.observe(subject="a", predicate="b", value=1).result(timeout=10)
    eid = r.events[0]["event_id"]
    view = window.views["Beliefs"]
    qtbot.waitUntil(lambda: ("local", "a:b") in _visible_keys(view), timeout=5000)
    _click_row_of(qtbot, view, "a:b")
    hist_table = view.findChild(QTableView, "historyTable")
    qtbot.waitUntil(lambda: hist_table.model().rowCount() == 1, timeout=5000)
    shown: list[str] = []
    timeline = window.views["Timeline"]
    monkeypatch.setattr(timeline, "show_event", shown.append, raising=False)
    hist_table.setCurrentIndex(hist_table.model().index(0, 0))
    hist_table.setFocus()
    qtbot.keyClick(hist_table, Qt.Key.Key_Return)
    assert shown == [eid]
    assert window.tabs.currentWidget() is timeline


def test_models_pass_the_model_tester(qtmodeltester, session, unlocked) -> None:
    ident, key = unlocked
    session.unlock(key, ident.actor, ident)
    session.observe(subject="x", predicate="y", value={"a": 1}, confidence=0.9).result(10)
    session.observe(subject="x", predicate="y", value=2, confidence=0.9).result(10)
    session.observe(subject="z", predicate="y", value="v").result(10)
    reducer = session.start().result(10)
    model = BeliefsModel()
    qtmodeltester.check(model)
    model.set_rows(belief_rows(reducer), reducer)
    qtmodeltester.check(model)
    assert model.rowCount() >= 3
    everything = model.rows
    hay: dict = {}
    contested = arrange(everything, reducer, namespace="contested", needle="", sort=None,
                        haystacks=hay)
    model.set_rows(contested, reducer, everything)
    qtmodeltester.check(model)
    assert model.rowCount() == 1
    assert model.index(0, 2).data().startswith("2 values")
    found = arrange(everything, reducer, namespace=None, needle="z:", sort=None,
                    haystacks=hay)
    assert found == [("local", "z:y")]
    by_key = arrange(everything, reducer, namespace=None, needle="", sort=(1, True),
                     haystacks=hay)
    assert [k for _ns, k in by_key] == sorted((k for _ns, k in everything), reverse=True)
    assert sorted(by_key) == sorted(everything)  # sorting keeps every row
    history = HistoryModel()
    qtmodeltester.check(history)
    history.set_history("x:y", session.history("x:y").result(10))
    qtmodeltester.check(history)
    assert history.rowCount() == 2


def test_header_click_sorts_and_search_keeps_the_sort(qtbot, make_window, session,
                                                      unlocked) -> None:
    view = _beliefs_tab(make_window, session, unlocked)
    for subject, value in (("b-item", "zebra"), ("a-item", "apple"), ("c-item", "mango")):
        session.observe(subject=subject, predicate="colour", value=value).result(timeout=10)
    search = view.findChild(QLineEdit, "beliefSearch")
    qtbot.keyClicks(search, "-ITEM:colour")
    table = view.findChild(QTableView, "beliefsTable")
    header = table.horizontalHeader()

    def click_header(col: int) -> None:
        x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(x, header.height() // 2))

    def values() -> list[str]:
        m = table.model()
        return [m.index(r, 2).data() for r in range(m.rowCount())]

    # found by the search, in namespace and key order
    qtbot.waitUntil(lambda: values() == ["apple", "zebra", "mango"], timeout=5000)
    click_header(2)  # Value, ascending
    qtbot.waitUntil(lambda: values() == ["apple", "mango", "zebra"], timeout=5000)
    click_header(2)  # and descending
    qtbot.waitUntil(lambda: values() == ["zebra", "mango", "apple"], timeout=5000)
    # a new matching belief lands in its sorted place, and the count says what is shown
    session.observe(subject="d-item", predicate="colour", value="kiwi").result(timeout=10)
    qtbot.waitUntil(lambda: values() == ["zebra", "mango", "kiwi", "apple"], timeout=5000)
    status = view.findChild(QLabel, "beliefsStatus")
    assert status.text().startswith("4 of ")
    click_header(0)  # Namespace, ascending: the snapshot order again
    qtbot.waitUntil(lambda: values() == ["apple", "zebra", "mango", "kiwi"], timeout=5000)

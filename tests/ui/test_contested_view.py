"""The contested workbench, driven as a reviewer drives it: pick a contested belief, read
the competing values and their evidence, settle it by attesting a value; see a fork raised
as an alert with both events as proof; see a tampered piece of evidence flagged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from provara_desktop.session import VaultSession  # noqa: E402
from provara_desktop.store.belief_standing import contested_detail  # noqa: E402
from provara_desktop.ui.provenance_cache import Provenance  # noqa: E402
from tests.store.test_provenance import Case, build_case, tamper_signature  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from provara_desktop.ui.views.contested_view import ContestedView


def _session(case: Case, who: str = "carol") -> VaultSession:
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


def _view(qtbot, session: VaultSession) -> ContestedView:
    from provara_desktop.ui.views.contested_view import ContestedView

    view = ContestedView(session)
    qtbot.addWidget(view)
    view.resize(1500, 800)
    view.show()
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=5000)
    return view


def _click_belief(qtbot, view: ContestedView, key: str) -> None:
    from provara_desktop.ui.models.contested_model import KeyRole

    for r in range(view.proxy.rowCount()):
        if view.proxy.index(r, 0).data(KeyRole) == key:
            rect = view.table.visualRect(view.proxy.index(r, 0))
            qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                             pos=rect.center())
            qtbot.waitUntil(lambda: len(view.cards()) > 0, timeout=5000)
            return
    raise AssertionError(f"{key} is not listed")


def _card(view: ContestedView, value_json: str):
    [card] = [c for c in view.cards() if c.value_json == value_json]
    return card


def test_models_pass_the_model_tester(qtmodeltester, qtbot, tmp_path: Path) -> None:
    from provara_desktop.ui.models.contested_model import ContestedModel
    from provara_desktop.ui.models.evidence_model import EvidenceModel
    from tests.store.test_provenance import contested_summaries

    case = build_case(tmp_path)
    reducer = case.vault.reduce()
    model = ContestedModel()
    qtmodeltester.check(model)
    rows = contested_summaries(reducer, case.vault)
    model.set_rows(rows)
    qtmodeltester.check(model)
    assert model.belief_keys() == ["EX-01:location", "EX-02:owner"]
    model.set_rows(rows[1:])  # one resolved: removed, not reset
    qtmodeltester.check(model)
    assert model.belief_keys() == ["EX-02:owner"]
    detail = contested_detail(reducer, case.vault, "EX-01:location")
    assert detail is not None
    evidence = EvidenceModel(Provenance(case.vault), detail.by_value['"locker-1"'])
    qtmodeltester.check(evidence)
    assert evidence.rowCount() == 1
    from provara_desktop.ui.models.evidence_model import Column

    assert evidence.index(0, Column.SIGNATURE).data() == "…"  # asked for, worked out later
    qtbot.waitUntil(evidence.details_complete, timeout=5000)
    assert evidence.index(0, Column.SIGNATURE).data() == "valid"
    qtmodeltester.check(evidence)


def test_competing_values_side_by_side_with_their_evidence(qtbot, case: Case,
                                                           session: VaultSession) -> None:
    from provara_desktop.ui.models.evidence_model import Column

    view = _view(qtbot, session)
    # the fork's two stories also contest EX-05:location: listed, but flagged as a fork
    assert view.model.belief_keys() == ["EX-01:location", "EX-02:owner", "EX-05:location"]
    _click_belief(qtbot, view, "EX-01:location")
    assert {c.value_json for c in view.cards()} == {'"locker-1"', '"forensics-lab"'}
    lab = _card(view, '"forensics-lab"').model
    assert lab.rowCount() == 1
    qtbot.waitUntil(lab.details_complete, timeout=5000)  # worked out off the GUI thread
    cell = {col: lab.index(0, col).data() for col in Column}
    assert cell[Column.ACTOR] == case.actors["bob"]
    assert cell[Column.FINGERPRINT] == case.keys["bob"].public.fingerprint
    assert cell[Column.CONFIDENCE] == "0.90"
    assert cell[Column.SIGNATURE] == "valid"
    # bob's chain: his first event is b_loc (1 of 4: b_loc, b_owner and two forked events)
    assert cell[Column.CHAIN].startswith("1 of 4")
    assert cell[Column.EVENT_ID] == case.ids["b_loc"]
    row = case.vault.index.get(case.ids["b_loc"])
    assert row is not None
    assert cell[Column.CLAIMED] == row.timestamp_utc
    # clicking the evidence shows all of it under the table (the card is narrow)
    card = _card(view, '"forensics-lab"')
    rect = card.table.visualRect(lab.index(0, Column.ACTOR))
    qtbot.mouseClick(card.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert "Chain position</b>: 1 of 4" in card.detail.text()
    assert case.keys["bob"].public.fingerprint in card.detail.text()
    with qtbot.waitSignal(view.event_selected, timeout=2000) as opened:
        qtbot.mouseDClick(card.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [case.ids["b_loc"]]


def test_attesting_a_value_settles_exactly_the_contested_evidence(
        qtbot, case: Case, session: VaultSession) -> None:
    view = _view(qtbot, session)
    _click_belief(qtbot, view, "EX-01:location")
    card = _card(view, '"forensics-lab"')
    with qtbot.waitSignal(view.attested, timeout=10000) as blocker:
        qtbot.mouseClick(card.button, Qt.MouseButton.LeftButton)
    [new_id] = blocker.args
    row = case.vault.index.get(new_id)
    assert row is not None
    assert row.type == "ATTESTATION"
    payload = case.vault.read_row(row)["payload"]
    assert payload["value"] == "forensics-lab"
    assert payload["target_event_ids"] == [case.ids["b_loc"], case.ids["a_loc"]]
    assert payload["target_event_id"] == case.ids["b_loc"]
    assert row.actor == case.actors["carol"]
    reducer = case.vault.reduce()
    assert reducer.canonical["EX-01:location"]["value"] == "forensics-lab"
    assert "EX-01:location" not in reducer.contested_keys
    # and the belief leaves the workbench
    qtbot.waitUntil(lambda: "EX-01:location" not in view.model.belief_keys(), timeout=5000)
    assert "no longer contested" in view.header.text()


def test_attesting_a_new_value(qtbot, case: Case, session: VaultSession) -> None:
    view = _view(qtbot, session)
    _click_belief(qtbot, view, "EX-02:owner")
    qtbot.keyClicks(view.new_value, "third party")
    with qtbot.waitSignal(view.attested, timeout=10000) as blocker:
        qtbot.mouseClick(view.new_value_button, Qt.MouseButton.LeftButton)
    row = case.vault.index.get(blocker.args[0])
    assert row is not None
    payload = case.vault.read_row(row)["payload"]
    assert payload["value"] == "third party"
    assert set(payload["target_event_ids"]) == {case.ids["a_owner"], case.ids["b_owner"]}
    qtbot.waitUntil(lambda: "EX-02:owner" not in view.model.belief_keys(), timeout=5000)


def test_locked_identity_is_a_clear_error_and_nothing_is_written(
        qtbot, case: Case, session: VaultSession) -> None:
    view = _view(qtbot, session)
    _click_belief(qtbot, view, "EX-01:location")
    session.lock()
    log_before = case.vault.events_path.read_bytes()
    qtbot.mouseClick(_card(view, '"locker-1"').button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Not attested" in view.result_label.text(), timeout=5000)
    assert "locked" in view.result_label.text()
    assert case.vault.events_path.read_bytes() == log_before
    assert _card(view, '"locker-1"').button.isEnabled()


def test_fork_is_an_alert_with_both_events_in_full(qtbot, case: Case,
                                                   session: VaultSession) -> None:
    view = _view(qtbot, session)
    qtbot.waitUntil(lambda: view.fork_list.count() == 1, timeout=5000)
    item = view.fork_list.item(0)
    assert "FORK" in item.text()
    assert case.actors["bob"] in item.text()
    rect = view.fork_list.visualItemRect(item)
    qtbot.mouseClick(view.fork_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.stack.currentIndex() == 1
    assert len(view.fork_proofs) == 2
    texts = [p.toPlainText() for p in view.fork_proofs]
    assert case.ids["fork_a"] in texts[0] + texts[1]
    assert case.ids["fork_b"] in texts[0] + texts[1]
    assert all(case.ids["fork_base"] in t for t in texts)  # both name the same predecessor
    assert "returned-to-owner" in texts[0] + texts[1]
    assert "locker-2" in texts[0] + texts[1]
    # distinct from honest disagreement: the contest the fork causes says it is a fork
    from provara_desktop.ui.models.contested_model import Column

    fork_row = view.model.row_of("EX-05:location")
    honest_row = view.model.row_of("EX-01:location")
    assert "forked chain" in view.model.index(fork_row, Column.REASON).data()
    assert view.model.index(honest_row, Column.REASON).data() == "two sources disagree"
    with qtbot.waitSignal(view.event_selected, timeout=2000):
        from PySide6.QtWidgets import QPushButton

        buttons = [b for b in view.findChildren(QPushButton)
                   if b.objectName() == "forkShowInTimeline"]
        qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)


def test_tampered_evidence_is_flagged_bad_signature(qtbot, tmp_path: Path) -> None:
    from provara_desktop.ui.models.evidence_model import Column

    case = build_case(tmp_path)
    tamper_signature(case, "b_loc")
    session = _session(case)
    try:
        view = _view(qtbot, session)
        _click_belief(qtbot, view, "EX-01:location")
        lab = _card(view, '"forensics-lab"').model
        locker = _card(view, '"locker-1"').model
        qtbot.waitUntil(lambda: lab.details_complete() and locker.details_complete(),
                        timeout=5000)
        assert lab.index(0, Column.SIGNATURE).data() == "bad signature"
        assert locker.index(0, Column.SIGNATURE).data() == "valid"
    finally:
        session.close()

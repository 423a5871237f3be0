"""The event inspector on its own: what it says about events that are not fine (a broken
chain in a vault the reference wrote, a corrupted attachment, an id that is not the hash
of the content), and the "± time" request it sends."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from provara_desktop.store import layout  # noqa: E402
from provara_desktop.store.vault import Vault  # noqa: E402
from provara_desktop.ui.provenance_cache import Provenance  # noqa: E402
from tests.conftest import require_fixture  # noqa: E402
from tests.store.test_provenance import build_case  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path


def _inspector(qtbot, vault: Vault):
    from provara_desktop.ui.views.inspector_view import InspectorView

    view = InspectorView(Provenance(vault), vault.reduce)
    qtbot.addWidget(view)
    view.show()
    return view


def test_cross_actor_chain_in_a_reference_vault_is_called_out(qtbot, tmp_path: Path) -> None:
    src = require_fixture("legacy_genesis_vault")
    shutil.copytree(src, tmp_path / "legacy")
    vault = Vault.open(tmp_path / "legacy", home=tmp_path / "home")
    view = _inspector(qtbot, vault)
    rows = vault.index.query()
    crossed = [r for r in rows if r.prev_event_hash and (p := vault.index.get(
        r.prev_event_hash)) is not None and p.actor != r.actor]
    assert crossed, "the fixture chains events across actors"
    view.show_event(crossed[0].event_id)
    assert "of another actor" in view.fields["predecessor"].text()
    # every line of a foreign vault opens, whatever is wrong with it
    for r in rows:
        assert view.show_event(r.event_id)
        assert view.json_view.toPlainText()


def test_corrupted_attachment_and_unknown_event(qtbot, tmp_path: Path) -> None:
    case = build_case(tmp_path)
    view = _inspector(qtbot, case.vault)
    row = case.vault.index.get(case.ids["c_seal"])
    assert row is not None
    event = case.vault.read_row(row)
    sha = event["payload"]["attachments"][0]["sha256"]
    (case.root / layout.CAS_DIR / sha).write_text("not the form that was signed\n")
    view.show_event(case.ids["c_seal"])
    assert "corrupt" in view.fields["attachments"].text()
    assert not view.show_event("evt_000000000000000000000000")
    assert "not in this vault" in view.title.text()


def test_context_button_asks_for_the_chosen_window(qtbot, tmp_path: Path) -> None:
    case = build_case(tmp_path)
    view = _inspector(qtbot, case.vault)
    assert not view.context_button.isEnabled()  # nothing selected yet
    view.show_event(case.ids["a_loc"])
    view.context_span.setValue(90.0)
    with qtbot.waitSignal(view.context_requested, timeout=1000) as blocker:
        qtbot.mouseClick(view.context_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [case.ids["a_loc"], 90.0]


def test_altered_content_fails_both_the_id_and_the_signature_check(qtbot,
                                                                    tmp_path: Path) -> None:
    case = build_case(tmp_path)
    case.vault.close()
    path = case.root / layout.EVENTS
    data = path.read_bytes()
    assert data.count(b'"forensics-lab"') == 1
    path.write_bytes(data.replace(b'"forensics-lab"', b'"evidence-room"'))
    vault = Vault.open(case.root, home=tmp_path / "fresh-home")
    view = _inspector(qtbot, vault)
    view.show_event(case.ids["b_loc"])
    assert "does not match content" in view.fields["id_check"].text()
    assert "bad signature" in view.fields["signature"].text()
    assert "evidence-room" in view.json_view.toPlainText()

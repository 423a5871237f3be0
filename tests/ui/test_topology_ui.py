"""Vault › Topology… shows the tree of vaults rolled up into the open one, each child with
its attested state, and the copies of the vault on peers with what each lacks."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsView,
    QInputDialog,
    QPushButton,
    QTableWidget,
    QTreeWidget,
)

from provara_desktop.bundle.rollup import roll_up
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.net import mesh_memory
from provara_desktop.store.evidence import observe
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.vault import Vault
from provara_desktop.ui.dialogs.trust_dialog import TrustedKeysDialog

if TYPE_CHECKING:
    from pathlib import Path


def test_the_topology_view_shows_children_and_peer_copies(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any, home: Path,
        tmp_path: Path, monkeypatch: Any) -> None:
    ident, key = unlocked
    # A trusted peer, given the role "child" in File › Trusted keys… (receive only).
    peer = SigningKey.generate()
    TrustStore(home).add(peer.key_id, peer.public.b64, "field office")
    trusted = TrustedKeysDialog(home)
    qtbot.addWidget(trusted)
    trusted.table.selectRow(0)
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (
        next(i for i in a[3] if i.startswith("child:")), True))
    trusted.findChild(QPushButton, "setRole").click()
    entry = TrustStore(home).load()[peer.key_id]
    assert entry.roles == ("child",)
    assert entry.policy == {"direction": "receive"}  # the direction the role implies
    assert trusted.table.item(0, 4).text() == "child"
    child_key = SigningKey.generate()
    with Vault.init(tmp_path / "team", key=child_key, actor="team-lead",
                    home=tmp_path / "team-home") as child:
        observe(child, child_key, "team-lead", subject="site", predicate="seen", value="x")
        child_uid, child_hash = child.uid, child.reduce().state_hash()
    vault = session.vault
    session.submit(lambda: roll_up(vault, tmp_path / "team", summary=True,
                                   trust=trust_for(home), key=key, actor=ident.actor,
                                   accept_untrusted=False, home=home)).result(timeout=30)
    # A peer's copy as a sync would have left it: it lacked one of our events.
    counts = {a: n for a, (n, _) in vault.index.actor_chains().items()}
    behind = {a: n - 1 for a, n in counts.items()}
    mesh_memory.remember(home, vault.uid, mesh_memory.after_session(
        key_id="bp1_00112233aabbccdd", address="127.0.0.1:47474",
        synced_utc="2026-12-03T09:00:00+00:00", mine=behind, theirs=behind,
        sent_all=True, received_all=True))
    window = make_window(session, key=key)
    window.findChild(type(window.act_topology), "actTopology").trigger()
    qtbot.waitUntil(lambda: window.topology_dialog is not None, timeout=15000)
    dialog = window.topology_dialog
    tree = dialog.findChild(QTreeWidget, "vaultTree")
    top = tree.topLevelItem(0)
    assert top.text(0) == child_uid
    assert top.text(2) == child_hash
    assert top.text(4) == "attested (summary)"
    peers = dialog.findChild(QTableWidget, "peerCopies")
    assert peers.rowCount() == 1
    assert peers.item(0, 5).text() == "no"  # not in step: it lacks our newest events
    assert ": 1" in peers.item(0, 3).text()
    links = dialog.findChild(QTableWidget, "topologyLinks")
    assert links.rowCount() == 1
    assert links.item(0, 0).text() == "field office"
    assert links.item(0, 1).text() == "child"
    assert links.item(0, 2).text() == "receive"
    assert links.item(0, 3).text() == "never"
    drawing = dialog.findChild(QGraphicsView, "topologyDrawing")
    nodes = [i for i in drawing.scene().items() if isinstance(i, QGraphicsEllipseItem)]
    assert len(nodes) == 3  # this vault, the peer, the child vault


def test_a_partial_replica_says_so_in_the_status_bar_and_the_topology_view(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any) -> None:
    from PySide6.QtWidgets import QLabel

    from provara_desktop.core import federation_contract as fc
    from provara_desktop.store import federation

    ident, key = unlocked
    other = SigningKey.generate()
    doc = {"format": "provara-federation-contract", "format_version": 1,
           "contract_id": "case-1", "revision": 1, "vault_uid": session.vault.uid,
           "members": [
               {"member": "agency-a", "key_id": key.key_id, "public_key_b64": key.public.b64,
                "keys": []},
               {"member": "agency-b", "key_id": other.key_id,
                "public_key_b64": other.public.b64, "keys": []}],
           "flows": [{"from": "agency-b", "to": "agency-a", "actors": ["member:agency-b"],
                      "namespaces": ["canonical"]},
                     {"from": "agency-a", "to": "agency-b", "actors": ["member:agency-a"],
                      "namespaces": ["canonical", "local"]}]}
    contract = fc.parse_contract(json.dumps(doc))
    for member, k in (("agency-a", key), ("agency-b", other)):
        contract = fc.sign_contract(contract, member, k, "2026-12-03T10:00:00Z")
    data = json.dumps(contract.to_json()).encode()
    vault = session.vault
    session.submit(lambda: federation.apply(vault, data, key=key, actor=ident.actor,
                                            where="test")).result(timeout=30)
    window = make_window(session, key=key)
    window.update_status()
    label = window.findChild(QLabel, "partialReplica")
    qtbot.waitUntil(label.isVisible, timeout=10000)
    assert label.text() == "Partial replica (case-1 r1)"
    assert "agency-b" in label.toolTip()
    assert "local" in label.toolTip()  # agency-b's local events do not flow here
    window.findChild(type(window.act_topology), "actTopology").trigger()
    qtbot.waitUntil(lambda: window.topology_dialog is not None, timeout=15000)
    statement = window.topology_dialog.findChild(QLabel, "federationStatement")
    assert "A partial replica" in statement.text()
    assert "as agency-a" in statement.text()


def test_a_child_is_reverified_from_the_topology_view(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any, home: Path,
        tmp_path: Path, monkeypatch: Any) -> None:
    import shutil

    from PySide6.QtWidgets import QFileDialog, QLabel

    from provara_desktop.core.rollup import ALERT_EVENT

    ident, key = unlocked
    child_key = SigningKey.generate()
    team, team_home = tmp_path / "team", tmp_path / "team-home"
    with Vault.init(team, key=child_key, actor="team-lead", home=team_home) as child:
        observe(child, child_key, "team-lead", subject="site", predicate="seen", value="x")
    kept = tmp_path / "team-before"
    shutil.copytree(team, kept)
    with Vault.open(team, home=team_home) as child:
        observe(child, child_key, "team-lead", subject="site", predicate="seen", value="y")
    vault = session.vault
    session.submit(lambda: roll_up(vault, team, summary=True, trust=trust_for(home), key=key,
                                   actor=ident.actor, accept_untrusted=False,
                                   home=home)).result(timeout=30)
    with Vault.open(team, home=team_home) as child:  # growth: fine
        observe(child, child_key, "team-lead", subject="site", predicate="seen", value="z")
    window = make_window(session, key=key)
    window.findChild(type(window.act_topology), "actTopology").trigger()
    qtbot.waitUntil(lambda: window.topology_dialog is not None, timeout=15000)
    dialog = window.topology_dialog
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(team))
    result = dialog.findChild(QLabel, "reverifyResult")
    dialog.findChild(QPushButton, "reverifyChild").click()
    qtbot.waitUntil(lambda: "still holds everything" in result.text(), timeout=15000)
    assert "grown, 1 new event(s)" in result.text()
    # The older copy put back: what was attested is gone, and the alert is recorded.
    shutil.rmtree(team)
    shutil.copytree(kept, team)
    dialog.findChild(QPushButton, "reverifyChild").click()
    qtbot.waitUntil(lambda: "DRIFT" in result.text(), timeout=15000)
    assert "SHRUNK" in result.text()
    assert "recorded as alert" in result.text()
    assert vault.index.count(type=ALERT_EVENT) == 1

"""Vault › Topology… shows the tree of vaults rolled up into the open one, each child with
its attested state, and the copies of the vault on peers with what each lacks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QTableWidget, QTreeWidget

from provara_desktop.bundle.rollup import roll_up
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.net import mesh_memory
from provara_desktop.store.evidence import observe
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path


def test_the_topology_view_shows_children_and_peer_copies(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any, home: Path,
        tmp_path: Path) -> None:
    ident, key = unlocked
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

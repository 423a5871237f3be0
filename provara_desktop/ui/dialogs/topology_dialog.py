"""Vault › Topology…: the vaults and copies this replica knows of (docs/TOPOLOGIES.md): the
tree of vaults rolled up into this one with each child's attested state (store/hierarchy.py),
the keys of that tree that are not active and what they reach, roll-up alerts, and the
copies of this vault on peers with their last sync, what each lacks and whether it is in
step (net/mesh_picture.py). It shows; it decides nothing."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

TREE_COLUMNS = ("Vault", "Events", "State hash", "Attested by", "Standing")
PEER_COLUMNS = ("Peer", "Address", "Last synced", "It lacks", "We lack", "In step",
                "Contested there only")


def _counts(per_author: dict[str, int]) -> str:
    return ", ".join(f"{a}: {n}" for a, n in sorted(per_author.items())) or "nothing"


def _standing(node: dict[str, Any]) -> str:
    if node["void"]:
        return "VOID: signed by a revoked key after its boundary"
    if node["cycle"]:
        return "a cycle (this vault again)"
    if node["nested"]:
        return "known from a summary"
    return f"attested ({node['attested'].get('mode')})"


class TopologyDialog(QDialog):
    def __init__(self, loaded: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("topologyDialog")
        self.setWindowTitle("Topology")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        hier, mesh = loaded["hierarchy"], loaded["mesh"]
        layout.addWidget(QLabel(f"This vault: {hier['vault_uid']}, {mesh['event_count']} "
                                "events. Vaults rolled up into it (`hierarchy`):"))
        self.vault_tree = QTreeWidget(self)
        self.vault_tree.setObjectName("vaultTree")
        self.vault_tree.setHeaderLabels(list(TREE_COLUMNS))
        self._add_children(self.vault_tree.invisibleRootItem(), hier["tree"]["children"])
        self.vault_tree.expandAll()
        layout.addWidget(self.vault_tree)
        if not hier["tree"]["children"]:
            layout.addWidget(QLabel("No child vault is rolled up here (`rollup PARENT CHILD` "
                                    "on the command line)."))
        troubled = [k for k in hier["keys"] if k["status"] not in ("active",
                                                                    "not in this vault")]
        for k in troubled:
            label = QLabel(f"Key {k['key_id']} is {k['status']}: it reaches "
                           f"{', '.join(k['reaches']) or 'no vault'}; the rest of the tree "
                           "is untouched.")
            label.setObjectName("keyReach")
            layout.addWidget(label)
        for alert in hier["alerts"]:
            label = QLabel(f"\u26a0 {alert['code']} about {alert['vault_uid']}: "
                           f"{alert['message']} ({alert['event_id']})")
            label.setObjectName("rollupAlert")
            label.setWordWrap(True)
            layout.addWidget(label)
        layout.addWidget(QLabel("Copies of this vault on peers, as the last sync with each "
                                "left them (`mesh`):"))
        self.peer_table = QTableWidget(len(mesh["peers"]), len(PEER_COLUMNS), self)
        self.peer_table.setObjectName("peerCopies")
        self.peer_table.setHorizontalHeaderLabels(list(PEER_COLUMNS))
        for row, p in enumerate(mesh["peers"]):
            cells = (p["name"] or p["key_id"], p["address"], p["synced_utc"][:19],
                     _counts(p["lacks"]), _counts(p["we_lack"]),
                     "yes" if p["converged"] else "no",
                     ", ".join(p["contested_only_there"]))
            for col, text in enumerate(cells):
                self.peer_table.setItem(row, col, QTableWidgetItem(text))
        self.peer_table.resizeColumnsToContents()
        layout.addWidget(self.peer_table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _add_children(self, parent: QTreeWidgetItem, children: list[dict[str, Any]]) -> None:
        for node in children:
            a = node["attested"]
            item = QTreeWidgetItem(parent, [node["vault_uid"], str(a.get("event_count")),
                                            str(a.get("state_hash")),
                                            str(node["attested_by"]), _standing(node)])
            self._add_children(item, node["children"])

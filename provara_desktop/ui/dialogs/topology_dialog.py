"""Vault › Topology…: the vaults and links this replica knows of (docs/TOPOLOGIES.md): a
drawing of this vault, its peers with the role you gave each and the vaults rolled up into
it; the links (role, direction, last contact, lag, trust, hub alerts: net/topology_links.py);
the tree of vaults rolled up here with each child's attested state (store/hierarchy.py), the
keys of that tree that are not active and what they reach, roll-up alerts; and the copies of
this vault on peers (net/mesh_picture.py). It shows; it decides nothing (roles are set in
File › Trusted keys…)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

TREE_COLUMNS = ("Vault", "Events", "State hash", "Attested by", "Standing")
LINK_COLUMNS = ("Peer", "Role", "Direction", "Last contact", "Lag (events)", "Trust",
                "Hub alerts")
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
    def __init__(self, loaded: dict[str, Any], parent: QWidget | None = None, *,
                 recheck: Callable[[Path], Future[dict[str, Any]]] | None = None) -> None:
        super().__init__(parent)
        self.recheck = recheck
        self.setObjectName("topologyDialog")
        self.setWindowTitle("Topology")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        hier, mesh, links = loaded["hierarchy"], loaded["mesh"], loaded["links"]
        self.scene = QGraphicsScene(self)
        self._draw(hier, links)
        self.drawing = QGraphicsView(self.scene, self)
        self.drawing.setObjectName("topologyDrawing")
        self.drawing.setMinimumHeight(220)
        layout.addWidget(self.drawing)
        self.link_table = QTableWidget(len(links), len(LINK_COLUMNS), self)
        self.link_table.setObjectName("topologyLinks")
        self.link_table.setHorizontalHeaderLabels(list(LINK_COLUMNS))
        for row, link in enumerate(links):
            contact = link["last_contact_utc"]
            cells = (link["name"] or link["key_id"], ", ".join(link["roles"]),
                     link["direction"],
                     "never" if contact is None else contact[:19]
                     + ("" if link["last_contact_ok"] else " (failed)"),
                     "unknown" if link["lag"] is None else str(link["lag"]), link["trust"],
                     str(link["hub_alerts"]))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip("; ".join(link["meaning"]))
                self.link_table.setItem(row, col, item)
        self.link_table.resizeColumnsToContents()
        layout.addWidget(self.link_table)
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
        elif recheck is not None:
            self.reverify_button = QPushButton("Re-verify a child against its attestation…")
            self.reverify_button.setObjectName("reverifyChild")
            self.reverify_button.clicked.connect(self.on_reverify)
            layout.addWidget(self.reverify_button)
            self.reverify_result = QLabel("", self)
            self.reverify_result.setObjectName("reverifyResult")
            self.reverify_result.setWordWrap(True)
            layout.addWidget(self.reverify_result)
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
        self._federation(layout, loaded.get("federation"))
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

    def on_reverify(self) -> None:
        """`rollup check` from the app: the child's directory, re-verified and compared
        with this vault's last roll-up of it; a drift is recorded as an alert."""
        from provara_desktop.ui.ops import run_op

        folder = QFileDialog.getExistingDirectory(self, "The child vault's folder")
        if not folder or self.recheck is None:
            return
        self.reverify_result.setText("Re-verifying…")
        recheck = self.recheck
        run_op(self, lambda: recheck(Path(folder))).success(self._rechecked).failure(
            lambda exc: self.reverify_result.setText(f"\u26a0 {exc}"))

    def _rechecked(self, doc: dict[str, Any]) -> None:
        a = doc["attested"]
        if doc["ok"]:
            self.reverify_result.setText(
                f"Vault {doc['vault_uid']} still holds everything {a['attestation_event_id']} "
                f"attested ({a['event_count']} events): {doc['status']}, {doc['grown_by']} "
                "new event(s) since.")
        else:
            self.reverify_result.setText(
                f"\u26a0 DRIFT: vault {doc['vault_uid']} no longer holds what "
                f"{a['attestation_event_id']} attested: "
                + "; ".join(f"{d['code']}: {d['message']}" for d in doc["drift"])
                + (f" (recorded as alert {doc['alert_event_id']})"
                   if doc.get("alert_event_id") else ""))

    def _federation(self, layout: QVBoxLayout, fed: dict[str, Any] | None) -> None:
        """The contract in force, what this partial replica leaves out, and the revocation
        ceremony: who has acknowledged each revocation (`federation status`)."""
        if fed is None:
            return
        st, status = fed["statement"], fed["status"]
        text = (f"Federation contract {st['contract_id']} revision {st['revision']}, this "
                f"replica as {st['member']} (digest {st['digest'][:16]}…).")
        if st["partial"]:
            text += " A partial replica: its state hash is of what the contract lets flow " \
                    "here. Left out: " + "; ".join(
                        f"from {m}: {w}" for m, what in st["leaves_out"].items() for w in what)
        label = QLabel(text, self)
        label.setObjectName("federationStatement")
        label.setWordWrap(True)
        layout.addWidget(label)
        revs = status["revocations"]
        self.ceremony = QTableWidget(len(revs), 4, self)
        self.ceremony.setObjectName("federationCeremony")
        self.ceremony.setHorizontalHeaderLabels(["Revoked key", "Acknowledged by",
                                                 "Waiting for", "Complete"])
        for row, r in enumerate(revs):
            cells = (f"{r['revoked_key_id']} ({r['member'] or 'no member'})",
                     ", ".join(a["member"] for a in r["acknowledged"]) or "nobody yet",
                     ", ".join(r["waiting_for"]) or "nobody", "yes" if r["complete"] else "no")
            for col, cell in enumerate(cells):
                self.ceremony.setItem(row, col, QTableWidgetItem(cell))
        if revs:
            self.ceremony.resizeColumnsToContents()
            layout.addWidget(self.ceremony)

    def _draw(self, hier: dict[str, Any], links: list[dict[str, Any]]) -> None:
        """This vault in the middle, its peers around it (the line labelled with the role,
        red when the hub broke its word), the vaults rolled up into it below."""
        pen, radius = QPen(QColor("#607080")), 150.0
        self._node(QPointF(0, 0), "this vault", QColor("#2d6cdf"))
        for i, link in enumerate(links):
            angle = math.pi * (1 + i) / (len(links) + 1)  # the upper half
            at = QPointF(radius * math.cos(angle), -radius * 0.8 * math.sin(angle))
            bad = link["hub_alerts"] > 0
            self.scene.addLine(0, 0, at.x(), at.y(), QPen(QColor("#c0392b")) if bad else pen)
            label = self.scene.addText(", ".join(link["roles"]))
            label.setPos((at.x()) / 2, (at.y()) / 2)
            self._node(at, link["name"] or link["key_id"],
                       QColor("#c0392b") if bad else QColor("#3c8d5a"))
        children = hier["tree"]["children"]
        for i, child in enumerate(children):
            x = (i - (len(children) - 1) / 2) * 140.0
            self.scene.addLine(0, 0, x, 110, pen)
            self._node(QPointF(x, 110), f"child {child['vault_uid'][:8]}…",
                       QColor("#a0522d") if child["void"] else QColor("#8e6bbf"))

    def _node(self, at: QPointF, text: str, color: QColor) -> None:
        self.scene.addEllipse(at.x() - 8, at.y() - 8, 16, 16, QPen(color), QBrush(color))
        label = self.scene.addText(text)
        label.setPos(at.x() + 10, at.y() - 10)

    def _add_children(self, parent: QTreeWidgetItem, children: list[dict[str, Any]]) -> None:
        for node in children:
            a = node["attested"]
            item = QTreeWidgetItem(parent, [node["vault_uid"], str(a.get("event_count")),
                                            str(a.get("state_hash")),
                                            str(node["attested_by"]), _standing(node)])
            self._add_children(item, node["children"])

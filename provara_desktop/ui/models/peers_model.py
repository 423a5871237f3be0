"""The peers panel's table: a thin adapter over net/app_peer.py's PeerState rows.

Rows are keyed by ``PeerState.ident`` (the key id when known). A new snapshot is applied as
a diff (rows gone are removed, new ones appended, the others updated in place), so the
selection survives the periodic refresh and a view never sees a reset for a peer's new
"last seen".
"""

from __future__ import annotations

import threading
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.net.app_peer import PeerState

PeerIdentRole = Qt.ItemDataRole.UserRole + 1
PeerStateRole = Qt.ItemDataRole.UserRole + 2

SOURCE_TEXT = {"mdns": "found on the LAN", "manual": "added by address",
               "known": "not in view"}


class Column(IntEnum):
    PEER = 0
    ADDRESS = 1
    SEEN = 2
    TRUST = 3
    STATUS = 4
    LAST_SYNC = 5
    THEY_HAVE = 6
    YOU_HAVE = 7


HEADERS = {Column.PEER: "Peer", Column.ADDRESS: "Address", Column.SEEN: "Seen",
           Column.TRUST: "Trust", Column.STATUS: "Status", Column.LAST_SYNC: "Last sync",
           Column.THEY_HAVE: "They have (you lack)", Column.YOU_HAVE: "You have (they lack)"}


def status_text(row: PeerState) -> str:
    if row.syncing:
        return "connected, syncing…"
    if row.trust == "unknown":
        return "not paired"
    last = row.last_sync
    if last is None:
        return "paired, never synced"
    if not last.ok:
        return f"last sync stopped ({last.error_code or 'failed'})"
    return f"synced, {last.held_back} held back" if last.held_back else "synced"


def _cell(row: PeerState, col: Column) -> str:
    if col is Column.PEER:
        return row.name
    if col is Column.ADDRESS:
        return ", ".join(row.addresses) or "—"
    if col is Column.SEEN:
        return SOURCE_TEXT.get(row.source, row.source)
    if col is Column.TRUST:
        return row.trust
    if col is Column.STATUS:
        return status_text(row)
    if col is Column.LAST_SYNC:
        last = row.last_sync
        if last is None:
            return "never"
        when = last.at_utc[:19].replace("T", " ")
        return f"{when} ({'ok' if last.ok else last.error_code or 'failed'})"
    gap = row.gap
    if gap is None:
        return "unknown until a sync"
    they, you = gap.describe()
    return they if col is Column.THEY_HAVE else you


class PeersModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[PeerState] = []
        self._gui_thread = threading.get_ident()

    # -- Qt API ----------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col is Column.TRUST:
                return row.trust_detail
            if col is Column.LAST_SYNC and row.last_sync is not None:
                return row.last_sync.describe()
            return row.key_id or row.ident
        if role == PeerIdentRole:
            return row.ident
        if role == PeerStateRole:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(Column)):
            return HEADERS[Column(section)]
        return None

    # -- updates ---------------------------------------------------------------------------

    def rows(self) -> list[PeerState]:
        return list(self._rows)

    def row_of(self, ident: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.ident == ident), -1)

    def set_rows(self, rows: Sequence[PeerState]) -> None:
        assert threading.get_ident() == self._gui_thread, "PeersModel off the GUI thread"
        new = {r.ident: r for r in rows}
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].ident not in new:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        for i, old in enumerate(self._rows):
            fresh = new.pop(old.ident)
            if fresh != old:
                self._rows[i] = fresh
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(Column) - 1))
        if new:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            self._rows.extend(new.values())
            self.endInsertRows()

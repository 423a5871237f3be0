"""The contested beliefs as a table: one row per contested subject:predicate.

Rows are replaced by diffing the new snapshot against the old one (removals and insertions
at their sorted place, dataChanged for the rest), so the selection survives a refresh and a
resolved belief simply leaves the list.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QThread
from PySide6.QtGui import QBrush, QColor

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.store.belief_standing import ContestedSummary

KeyRole = Qt.ItemDataRole.UserRole + 1
SummaryRole = Qt.ItemDataRole.UserRole + 2

_REASONS = {
    "conflicts_with_local": "two sources disagree",
    "conflicts_with_canonical": "disputes the canonical value",
}


class Column(IntEnum):
    SUBJECT = 0
    PREDICATE = 1
    VALUES = 2
    EVIDENCE = 3
    REASON = 4


_HEADERS = {Column.SUBJECT: "Subject", Column.PREDICATE: "Predicate",
            Column.VALUES: "Values", Column.EVIDENCE: "Evidence", Column.REASON: "Why"}


class ContestedModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ContestedSummary] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        s = self._rows[index.row()]
        if role == KeyRole:
            return s.key
        if role == SummaryRole:
            return s
        col = Column(index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{s.key}: {s.values} competing values, {s.evidence} pieces of evidence"
        if role == Qt.ItemDataRole.ForegroundRole and s.involves_fork:
            return QBrush(QColor("#c2185b"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (Column.VALUES,
                                                                  Column.EVIDENCE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return {Column.SUBJECT: s.subject, Column.PREDICATE: s.predicate,
                Column.VALUES: s.values, Column.EVIDENCE: s.evidence,
                Column.REASON: ("⚠ a forked chain (equivocation), see the fork alert"
                                if s.involves_fork else _REASONS.get(s.reason, s.reason))}[col]

    def belief_keys(self) -> list[str]:
        return [s.key for s in self._rows]

    def row_of(self, key: str) -> int | None:
        for i, s in enumerate(self._rows):
            if s.key == key:
                return i
        return None

    def set_rows(self, rows: Sequence[ContestedSummary]) -> None:
        """Move to a new snapshot with row removals/insertions, never a reset."""
        assert QThread.currentThread() is self.thread(), "model changed off its thread"
        new = sorted(rows, key=lambda s: s.key)
        wanted = {s.key for s in new}
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].key not in wanted:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        have = {s.key for s in self._rows}
        for s in new:
            if s.key in have:
                continue
            at = next((i for i, r in enumerate(self._rows) if r.key > s.key), len(self._rows))
            self.beginInsertRows(QModelIndex(), at, at)
            self._rows.insert(at, s)
            self.endInsertRows()
        by_key = {s.key: s for s in new}
        self._rows = [by_key[r.key] for r in self._rows]
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(Column) - 1))

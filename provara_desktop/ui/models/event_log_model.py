"""The event log as a table, fetched lazily from the SQLite index.

Rows are positions in the vault's total order; only the rows a view asks for are read, in
pages, into a bounded cache, so a million-event vault costs a few hundred rows of memory.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    from provara_desktop.store.index import EventIndex, IndexRow

EventIdRole = Qt.ItemDataRole.UserRole + 1
_PAGE = 256
_MAX_PAGES = 64


class Column(IntEnum):
    TIME = 0
    TYPE = 1
    ACTOR = 2
    SUBJECT = 3
    PREDICATE = 4
    EVENT_ID = 5


_HEADERS = {Column.TIME: "Claimed time", Column.TYPE: "Type", Column.ACTOR: "Actor",
            Column.SUBJECT: "Subject", Column.PREDICATE: "Predicate",
            Column.EVENT_ID: "Event id"}


class EventLogModel(QAbstractTableModel):
    def __init__(self, index: EventIndex, parent: Any = None) -> None:
        super().__init__(parent)
        self._index = index
        self._count = index.count()
        self._pages: OrderedDict[int, list[IndexRow]] = OrderedDict()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    def _row(self, pos: int) -> IndexRow | None:
        page_no = pos // _PAGE
        page = self._pages.get(page_no)
        if page is None:
            page = self._index.query(after_pos=page_no * _PAGE - 1, limit=_PAGE)
            self._pages[page_no] = page
            while len(self._pages) > _MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        i = pos - page_no * _PAGE
        return page[i] if i < len(page) else None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._count:
            return None
        row = self._row(index.row())
        if row is None:
            return None
        if role == EventIdRole:
            return row.event_id
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        col = Column(index.column())
        return {Column.TIME: row.timestamp_utc, Column.TYPE: row.type, Column.ACTOR: row.actor,
                Column.SUBJECT: row.subject, Column.PREDICATE: row.predicate,
                Column.EVENT_ID: row.event_id}[col]

    def refresh(self) -> None:
        """Show events appended since the last refresh: inserted rows, never a reset, so
        selection and scroll position survive."""
        new_count = self._index.count()
        self._pages.clear()
        if new_count > self._count:
            self.beginInsertRows(QModelIndex(), self._count, new_count - 1)
            self._count = new_count
            self.endInsertRows()
        elif new_count < self._count:
            self.beginResetModel()
            self._count = new_count
            self.endResetModel()
        else:
            self.dataChanged.emit(self.index(0, 0), self.index(max(0, self._count - 1),
                                                               len(Column) - 1))

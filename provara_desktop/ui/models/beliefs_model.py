"""Beliefs in the four namespaces as a table.

The model shows a list of (namespace, key) pairs and looks each entry up in the reducer only
when a row is painted, so 150k beliefs cost two references a row. Which pairs, and in which
order, is decided off the GUI thread (``arrange``: namespace filter, search, sort, run on
the session's query thread): the GUI thread only swaps lists. On a million-event vault
re-filtering 143k beliefs on every key press froze the window for 0.6 s when it ran in a
QSortFilterProxyModel, which asks Python about every row on the GUI thread.

A new snapshot in the default order is applied as row insertions and removals computed off
the GUI thread (``diff_rows``), not as a reset: the selection and scroll position survive.
Between a change and the next snapshot a row whose entry moved away shows blank cells; the
snapshot that follows drops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from provara_desktop.core.reducer import NAMESPACES
from provara_desktop.ui.models.belief_cells import (
    Column,
    RowOp,
    SortSpec,
    _cells,
    arrange,
    diff_rows,
    haystack,
    value_text,
)

if TYPE_CHECKING:
    from provara_desktop.core.reducer import Reducer
    from provara_desktop.core.reducer_state import KeptTable
    from provara_desktop.session import BeliefRow

    # What rows are read from: the reducer, or the kept rows while the state loads.
    Beliefs = Reducer | KeptTable

# The Qt-free parts live in belief_cells.py; these names stay importable from here.
__all__ = ["NAMESPACES", "BeliefsModel", "Column", "KeyRole", "NamespaceRole", "ProvenanceRole",
           "RowOp", "SortSpec", "arrange", "diff_rows", "haystack", "value_text"]

KeyRole = Qt.ItemDataRole.UserRole + 1
NamespaceRole = Qt.ItemDataRole.UserRole + 2
ProvenanceRole = Qt.ItemDataRole.UserRole + 3  # an event id the row rests on (or None)


_HEADERS = {Column.NAMESPACE: "Namespace", Column.KEY: "Subject : predicate",
            Column.VALUE: "Value", Column.DETAIL: "Details", Column.PROVENANCE: "Rests on",
            Column.TAGS: "Tags · review"}


class BeliefsModel(QAbstractTableModel):
    """``rows``: what the table shows (filtered, sorted); ``all_rows``: the whole snapshot
    they were chosen from (for "12 of 143,000 beliefs")."""

    # A header click (QTableView calls sort()): the view arranges the rows off the GUI
    # thread and hands them back; the model never sorts on the GUI thread itself.
    sort_requested = Signal(int, Qt.SortOrder)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[BeliefRow] = []
        self.all_rows: list[BeliefRow] = []
        self._reducer: Beliefs | None = None
        # Contested cells build grouped evidence (O(evidence)): computed once per change.
        self._cache: dict[BeliefRow, tuple[str, str, str | None] | None] = {}
        self.labels: dict[str, str] = {}  # belief key -> its tags and review mark

    def set_labels(self, labels: dict[str, str]) -> None:
        """The Tags · review column (annotations, folded on the query thread)."""
        if labels == self.labels:
            return
        self.labels = labels
        if self.rows:
            self.dataChanged.emit(self.index(0, Column.TAGS),
                                  self.index(len(self.rows) - 1, Column.TAGS))

    @property
    def reducer(self) -> Beliefs | None:
        return self._reducer

    def set_rows(self, rows: list[BeliefRow], reducer: Beliefs | None,
                 all_rows: list[BeliefRow] | None = None) -> None:
        self.beginResetModel()
        self.rows = rows
        self.all_rows = rows if all_rows is None else all_rows
        self._reducer = reducer
        self._cache.clear()
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_requested.emit(column, order)

    def apply_rows(self, ops: list[RowOp], reducer: Beliefs | None,
                   all_rows: list[BeliefRow] | None = None) -> None:
        """Apply ``diff_rows`` output (GUI thread), then repaint the cells that stayed."""
        self._reducer = reducer
        # A copy: the list handed to the query thread for the next arrangement must not
        # change under it.
        self.rows = list(self.rows)
        self.all_rows = self.rows if all_rows is None else all_rows
        for at, removed, inserted in ops:
            if removed:
                self.beginRemoveRows(QModelIndex(), at, at + removed - 1)
                del self.rows[at:at + removed]
                self.endRemoveRows()
            if inserted:
                self.beginInsertRows(QModelIndex(), at, at + len(inserted) - 1)
                self.rows[at:at] = inserted
                self.endInsertRows()
        self.invalidate_cells()

    def invalidate_cells(self) -> None:
        """Entries changed but the row set did not: repaint the cells, keep the selection."""
        self._cache.clear()
        if self.rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self.rows) - 1, len(Column) - 1))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(Column)):
            return _HEADERS[Column(section)]
        return None

    def cells(self, row: int) -> tuple[str, str, str | None] | None:
        item = self.rows[row]
        if item not in self._cache:
            self._cache[item] = (_cells(self._reducer, *item)
                                 if self._reducer is not None else None)
        return self._cache[item]

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        ns, key = self.rows[index.row()]
        if role == KeyRole:
            return key
        if role == NamespaceRole:
            return ns
        col = Column(index.column())
        if role == ProvenanceRole:
            cells = self.cells(index.row())
            return cells[2] if cells else None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if col is Column.NAMESPACE:
            return ns
        if col is Column.KEY:
            return key
        if col is Column.TAGS:
            return self.labels.get(key, "")
        cells = self.cells(index.row())
        if cells is None:
            return ""
        return {Column.VALUE: cells[0], Column.DETAIL: cells[1],
                Column.PROVENANCE: cells[2] or ""}[col]

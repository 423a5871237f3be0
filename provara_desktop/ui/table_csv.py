"""File › Export this table as CSV…: the rows a table shows, its filter applied, read from
its model (store/csv_export.py writes them). The timeline is the exception: its filtered
model holds positions only, so its export runs the same query on the query thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt

if TYPE_CHECKING:
    from PySide6.QtCore import QAbstractItemModel


def model_table(model: QAbstractItemModel) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) as the view displays them (the display text of every cell)."""
    columns = model.columnCount()
    header = [str(model.headerData(c, Qt.Orientation.Horizontal,
                                   Qt.ItemDataRole.DisplayRole) or "") for c in range(columns)]
    rows = []
    for r in range(model.rowCount()):
        rows.append([model.data(model.index(r, c), Qt.ItemDataRole.DisplayRole)
                     for c in range(columns)])
    return header, rows

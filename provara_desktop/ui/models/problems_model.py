"""Verification results as a table: every problem, then every fork (one row each).

Problems come from ``VaultReport.all_problems``; a fork (one actor signing two events on the
same predecessor) is shown as a row of its own with code FORK and its first event, so a
reviewer can jump to the proof. A fork fails verification (``LogReport.ok``), so its row is
an error. The tab's summary and the status bar count these rows (``tally``): what they say
and what the table lists cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from provara_desktop.ui import theme

if TYPE_CHECKING:
    from provara_desktop.store.verify_vault import VaultReport

EventIdRole = Qt.ItemDataRole.UserRole + 1


class Column(IntEnum):
    SEVERITY = 0
    CODE = 1
    EVENT = 2
    ACTOR = 3
    WHERE = 4
    MESSAGE = 5


_HEADERS = {Column.SEVERITY: "Severity", Column.CODE: "Code", Column.EVENT: "Event",
            Column.ACTOR: "Actor", Column.WHERE: "Where", Column.MESSAGE: "Message"}


@dataclass(frozen=True)
class ProblemRow:
    severity: str
    code: str
    event_id: str | None
    actor: str | None
    where: str
    message: str


def rows_from_report(report: VaultReport) -> list[ProblemRow]:
    rows = [ProblemRow(p.severity, p.code, p.event_id, p.actor,
                       ":".join(str(x) for x in (p.path, p.line) if x is not None), p.message)
            for p in report.all_problems]
    for fork in report.log.forks:
        ids = list(fork.event_ids)
        rows.append(ProblemRow(
            "error", "FORK", ids[0] if ids else None, fork.actor, "",
            f"{fork.actor} signed {len(ids)} events on the same predecessor "
            f"{fork.prev_event_hash}: {', '.join(ids)}"))
    return rows


@dataclass(frozen=True)
class Tally:
    errors: int  # rows of severity "error", forks included
    warnings: int
    forks: int  # of the errors, how many are forks


def tally(rows: list[ProblemRow]) -> Tally:
    errors = sum(1 for r in rows if r.severity == "error")
    return Tally(errors=errors, warnings=len(rows) - errors,
                 forks=sum(1 for r in rows if r.code == "FORK"))


class ProblemsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[ProblemRow] = []

    def set_rows(self, rows: list[ProblemRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

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

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == EventIdRole:
            return row.event_id
        col = Column(index.column())
        if role == Qt.ItemDataRole.ForegroundRole and col is Column.SEVERITY:
            return theme.accent("error" if row.severity == "error" else "warning")
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        return {Column.SEVERITY: row.severity, Column.CODE: row.code,
                Column.EVENT: row.event_id or "", Column.ACTOR: row.actor or "",
                Column.WHERE: row.where, Column.MESSAGE: row.message}[col]

"""One belief's history: every observation, attestation and retraction on its key, in log
order, with the state each left the belief in (from ``VaultSession.history``)."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    from provara_desktop.session import HistoryStep

EventIdRole = Qt.ItemDataRole.UserRole + 1


class Column(IntEnum):
    POS = 0
    TIME = 1
    TYPE = 2
    ACTOR = 3
    VALUE = 4
    CONFIDENCE = 5
    STATE = 6
    DETAIL = 7
    EVENT_ID = 8


_HEADERS = {Column.POS: "#", Column.TIME: "Claimed time", Column.TYPE: "Type",
            Column.ACTOR: "Actor", Column.VALUE: "Value", Column.CONFIDENCE: "Confidence",
            Column.STATE: "State", Column.DETAIL: "Note / reason", Column.EVENT_ID: "Event id"}


def state_text(step: HistoryStep) -> str:
    if step.state_before == step.state_after:
        return step.state_after
    return f"{step.state_before} → {step.state_after}"


class HistoryModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.key: str | None = None
        self.steps: list[HistoryStep] = []

    def set_history(self, key: str | None, steps: list[HistoryStep]) -> None:
        self.beginResetModel()
        self.key = key
        self.steps = steps
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.steps)

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
        if not index.isValid() or not 0 <= index.row() < len(self.steps):
            return None
        step = self.steps[index.row()]
        if role == EventIdRole:
            return step.event_id
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        col = Column(index.column())
        if col is Column.POS:
            return step.pos + 1  # log line number, as verify reports it
        if col is Column.CONFIDENCE:
            return "" if step.confidence is None else f"{step.confidence:g}"
        if col is Column.STATE:
            return state_text(step)
        if col is Column.VALUE:
            text = step.value if step.value is not None else ""
            # a JSON string shows without its quotes; objects and numbers stay JSON
            return text[1:-1] if text.startswith('"') and text.endswith('"') else text
        return {Column.TIME: step.timestamp_utc or "", Column.TYPE: step.type,
                Column.ACTOR: step.actor, Column.DETAIL: step.detail,
                Column.EVENT_ID: step.event_id}[col]

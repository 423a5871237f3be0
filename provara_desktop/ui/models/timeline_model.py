"""The provenance timeline as a table: one row per event, in log (total) order.

Rows are positions in the SQLite index. Unfiltered, row r IS position r and nothing is
loaded until a view asks; row payloads come in pages into a bounded LRU cache. Filtered (by
actor, type, subject, namespace, time range), the model holds only the matching positions
(ints, not rows), fetched from the index in keyset pages as the view scrolls (Qt's
canFetchMore/fetchMore), so a filter over a million events never stalls the GUI thread.

Filtering happens in the index, not in a QSortFilterProxyModel: a proxy asks the source for
every row to decide, which would read all million events. Appends arrive as
beginInsertRows from the last known position (never a reset); a rewritten tail (a clock that
ran ahead) is removed and re-inserted from the first rewritten position only.
"""

from __future__ import annotations

import bisect
from array import array
from collections import OrderedDict
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QThread
from PySide6.QtGui import QBrush, QColor

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.store.index import EventIndex, IndexRow
    from provara_desktop.ui.provenance_cache import Provenance

EventIdRole = Qt.ItemDataRole.UserRole + 1
PosRole = Qt.ItemDataRole.UserRole + 2
IndexRowRole = Qt.ItemDataRole.UserRole + 3

_PAGE = 256
_MAX_PAGES = 64  # at most 16k rows cached
_FETCH = 5000  # positions per fetchMore in filtered mode


class Column(IntEnum):
    CLAIMED = 0
    FIRST_SEEN = 1
    TYPE = 2
    ACTOR = 3
    SUBJECT = 4
    PREDICATE = 5
    SIGNATURE = 6
    EVENT_ID = 7


_HEADERS = {
    Column.CLAIMED: "Claimed time",
    Column.FIRST_SEEN: "First seen here",
    Column.TYPE: "Type",
    Column.ACTOR: "Actor",
    Column.SUBJECT: "Subject",
    Column.PREDICATE: "Predicate",
    Column.SIGNATURE: "Signature",
    Column.EVENT_ID: "Event id",
}


@dataclass(frozen=True)
class TimelineFilter:
    """What the timeline shows. None = no constraint. Times are ISO-8601 (half-open)."""

    actor: str | None = None
    type: str | None = None
    subject: str | None = None
    namespace: str | None = None
    start: str | None = None
    end: str | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.actor, self.type, self.subject,
                                           self.namespace, self.start, self.end))

    def without_time(self) -> TimelineFilter:
        return replace(self, start=None, end=None)

    def query_args(self) -> dict[str, Any]:
        return {"actor": self.actor, "type": self.type, "subject": self.subject,
                "namespace": self.namespace, "start": self.start, "end": self.end}


class TimelineModel(QAbstractTableModel):
    def __init__(self, index: EventIndex, provenance: Provenance | None = None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self._index = index
        self._prov = provenance
        self._filter = TimelineFilter()
        self._count = index.count()
        # Filtered mode: the matching positions loaded so far, and whether more may exist.
        self._positions: array[int] | None = None
        self._exhausted = True
        self._pages: OrderedDict[int, list[IndexRow]] = OrderedDict()
        self._by_pos: OrderedDict[int, IndexRow] = OrderedDict()
        # event id -> whether a standing annotation names it (the view's folded cache)
        self.annotated: Callable[[str], bool] | None = None

    # -- filter ----------------------------------------------------------------------------

    @property
    def filter(self) -> TimelineFilter:
        return self._filter

    def _on_gui_thread(self) -> None:
        # Views read the model on the GUI thread; a mutation from elsewhere would race them.
        assert QThread.currentThread() is self.thread(), "model changed off its thread"

    def set_filter(self, flt: TimelineFilter) -> None:
        """A new question, so a reset (appends never reset)."""
        self._on_gui_thread()
        self.beginResetModel()
        self._filter = flt
        self._pages.clear()
        self._by_pos.clear()
        if flt.active:
            self._positions = array("q")
            self._exhausted = False
            self._load_positions(_FETCH)
        else:
            self._positions = None
            self._exhausted = True
            self._count = self._index.count()
        self.endResetModel()

    def _load_positions(self, n: int) -> int:
        """Append up to ``n`` more matching positions (no model signals); how many came."""
        assert self._positions is not None
        after = self._positions[-1] if self._positions else -1
        got = self._index.positions(after_pos=after, limit=n, **self._filter.query_args())
        self._positions.extend(got)
        if len(got) < n:
            self._exhausted = True
        return len(got)

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and self._positions is not None and not self._exhausted

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: B008, N802
        if not self.canFetchMore(parent):
            return
        assert self._positions is not None
        before = len(self._positions)
        after = self._positions[-1] if self._positions else -1
        got = self._index.positions(after_pos=after, limit=_FETCH, **self._filter.query_args())
        if len(got) < _FETCH:
            self._exhausted = True
        if got:
            self.beginInsertRows(QModelIndex(), before, before + len(got) - 1)
            self._positions.extend(got)
            self.endInsertRows()

    # -- shape -----------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid():
            return 0
        return self._count if self._positions is None else len(self._positions)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    # -- rows ------------------------------------------------------------------------------

    def pos_at(self, row: int) -> int | None:
        if not 0 <= row < self.rowCount():
            return None
        return row if self._positions is None else self._positions[row]

    def row_at(self, row: int) -> IndexRow | None:
        """The index row shown at table row ``row`` (loaded on demand, cached)."""
        pos = self.pos_at(row)
        if pos is None:
            return None
        if self._positions is None:
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
        cached = self._by_pos.get(pos)
        if cached is None:
            # Filtered rows are scattered: fetch the visible neighbourhood in one go.
            start = row - row % _PAGE
            for p in self._positions[start:start + _PAGE]:
                if p not in self._by_pos:
                    r = self._index.row_at(p)
                    if r is not None:
                        self._by_pos[p] = r
            while len(self._by_pos) > _PAGE * _MAX_PAGES:
                self._by_pos.popitem(last=False)
            cached = self._by_pos.get(pos)
        return cached

    def row_for_pos(self, pos: int, *, load: bool = True) -> int | None:
        """The table row showing position ``pos``, loading filtered positions up to it."""
        if self._positions is None:
            return pos if 0 <= pos < self._count else None
        while load and not self._exhausted and (not self._positions
                                                or self._positions[-1] < pos):
            self.fetchMore()
        i = bisect.bisect_left(self._positions, pos)
        return i if i < len(self._positions) and self._positions[i] == pos else None

    def row_for_event(self, event_id: str) -> int | None:
        found = self._index.get(event_id)
        return None if found is None else self.row_for_pos(found.pos)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        if role == EventIdRole:
            return row.event_id
        if role == PosRole:
            return row.pos
        if role == IndexRowRole:
            return row
        col = Column(index.column())
        if col == Column.SIGNATURE and role in (Qt.ItemDataRole.DisplayRole,
                                                Qt.ItemDataRole.ForegroundRole,
                                                Qt.ItemDataRole.ToolTipRole):
            return self._signature(row, role)
        if col == Column.CLAIMED and role in (Qt.ItemDataRole.ForegroundRole,
                                              Qt.ItemDataRole.ToolTipRole) \
                and self._prov is not None:
            # clock skew: claimed time after first sight here, or before its predecessor
            flags = self._prov.skew_flags(row, self._prov.predecessor(row))
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(QColor("#ef6c00")) if flags else None
            return "; ".join(flags) or f"first seen here {row.first_seen_utc}"
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if col == Column.TYPE and self.annotated is not None and self.annotated(row.event_id):
            # annotated: a reviewer tagged, commented on or marked it (the inspector lists)
            return (f"{row.type} ✎" if role == Qt.ItemDataRole.DisplayRole
                    else f"{row.type}: annotated (the inspector lists who said what)")
        return {
            Column.CLAIMED: row.timestamp_utc,
            Column.FIRST_SEEN: row.first_seen_utc,
            Column.TYPE: row.type,
            Column.ACTOR: row.actor,
            Column.SUBJECT: row.subject,
            Column.PREDICATE: row.predicate,
            Column.EVENT_ID: row.event_id,
        }.get(col)

    def _signature(self, row: IndexRow, role: int) -> Any:
        if self._prov is None:
            return None
        # Checked lazily, only for rows a view actually shows, and cached by the checker.
        check = self._prov.check(row)
        if role == Qt.ItemDataRole.ForegroundRole:
            return None if check.ok else QBrush(QColor("#c62828"))
        if role == Qt.ItemDataRole.ToolTipRole:
            return check.detail
        return str(check.sig)

    # -- growth ----------------------------------------------------------------------------

    def refresh(self, first_new_pos: int | None = None) -> None:
        """Show what changed in the log since the last refresh. ``first_new_pos``: the first
        position that is new or rewritten (None: only appends)."""
        self._on_gui_thread()
        new_count = self._index.count()
        old_count = self._count
        if first_new_pos is None or first_new_pos > old_count:
            first_new_pos = min(old_count, new_count)
        # Forget cached rows from the first changed position on.
        for page_no in [p for p in self._pages if (p + 1) * _PAGE > first_new_pos]:
            del self._pages[page_no]
        for pos in [p for p in self._by_pos if p >= first_new_pos]:
            del self._by_pos[pos]
        if self._positions is None:
            self._refresh_unfiltered(old_count, new_count, first_new_pos)
        else:
            self._count = new_count
            self._refresh_filtered(first_new_pos)

    def _refresh_unfiltered(self, old: int, new: int, first: int) -> None:
        if new < first:  # the log shrank (another tool rewrote it): nothing to keep
            self.beginResetModel()
            self._count = new
            self.endResetModel()
            return
        if first < old:
            # The tail from ``first`` was rewritten in place: same rows, new content.
            last = min(old, new) - 1
            if last >= first:
                self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))
        if new > old:
            self.beginInsertRows(QModelIndex(), old, new - 1)
            self._count = new
            self.endInsertRows()
        elif new < old:
            self.beginRemoveRows(QModelIndex(), new, old - 1)
            self._count = new
            self.endRemoveRows()

    def _refresh_filtered(self, first: int) -> None:
        assert self._positions is not None
        cut = bisect.bisect_left(self._positions, first)
        if cut < len(self._positions):
            self.beginRemoveRows(QModelIndex(), cut, len(self._positions) - 1)
            del self._positions[cut:]
            self.endRemoveRows()
        # Positions after the last one kept may now exist (appended or rewritten): fetch a
        # bounded first page of them; the rest follows through fetchMore as the view scrolls.
        self._exhausted = False
        self.fetchMore()

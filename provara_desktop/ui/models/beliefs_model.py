"""Beliefs in the four namespaces as a table, and the proxy that filters it.

The model holds a snapshot of (namespace, key) pairs (built off the GUI thread by
``VaultSession.belief_rows``) and looks each entry up in the reducer only when a row is
painted, so 150k beliefs cost two references a row. Between a change and the next snapshot
a row whose entry moved away shows blank cells; the snapshot that follows drops it.

A new snapshot is applied as row insertions and removals computed off the GUI thread
(``diff_rows``), not as a reset: the selection and scroll position survive, and the filter
proxy only looks at the rows that are new.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from provara_desktop.core.canonical import canonical_dumps
from provara_desktop.core.reducer import NAMESPACES

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.core.reducer import Reducer
    from provara_desktop.runtime.session import BeliefRow

KeyRole = Qt.ItemDataRole.UserRole + 1
NamespaceRole = Qt.ItemDataRole.UserRole + 2
ProvenanceRole = Qt.ItemDataRole.UserRole + 3  # an event id the row rests on (or None)


class Column(IntEnum):
    NAMESPACE = 0
    KEY = 1
    VALUE = 2
    DETAIL = 3
    PROVENANCE = 4


_HEADERS = {Column.NAMESPACE: "Namespace", Column.KEY: "Subject : predicate",
            Column.VALUE: "Value", Column.DETAIL: "Details", Column.PROVENANCE: "Rests on"}


def value_text(value: Any) -> str:
    """Strings as they are; anything else as canonical JSON (numbers, objects)."""
    return value if isinstance(value, str) else canonical_dumps(value)


# Rows are sorted by namespace (in protocol order), then key: this is their sort key.
_NS_ORDER = {ns: i for i, ns in enumerate(NAMESPACES)}
MAX_DIFF_OPS = 400  # beyond this many separate changes a reset is cheaper
# (at, removed, inserted): remove ``removed`` rows at ``at``, or insert ``inserted`` there.
RowOp = tuple[int, int, list["BeliefRow"]]


def diff_rows(old: list[BeliefRow], new: list[BeliefRow]) -> list[RowOp] | None:
    """The insertions and removals that turn ``old`` into ``new`` (both sorted as
    belief_rows sorts them), with positions valid when applied in order; None when a
    reset is cheaper. Pure Python, meant for a worker thread."""
    ops: list[RowOp] = []
    i = j = pos = 0
    n_old, n_new = len(old), len(new)

    def key(r: BeliefRow) -> tuple[int, str]:
        return _NS_ORDER.get(r[0], 99), r[1]

    while i < n_old or j < n_new:
        if i < n_old and j < n_new and old[i] == new[j]:
            i, j, pos = i + 1, j + 1, pos + 1
            continue
        if j >= n_new or (i < n_old and key(old[i]) < key(new[j])):
            last = ops[-1] if ops else None
            if last is not None and last[0] == pos and last[1] and not last[2]:
                ops[-1] = (pos, last[1] + 1, [])
            else:
                ops.append((pos, 1, []))
            i += 1
        else:
            last = ops[-1] if ops else None
            if last is not None and not last[1] and last[0] + len(last[2]) == pos:
                last[2].append(new[j])
            else:
                ops.append((pos, 0, [new[j]]))
            j, pos = j + 1, pos + 1
        if len(ops) > MAX_DIFF_OPS:
            return None
    return ops


def _value(reducer: Reducer, ns: str, key: str) -> str | None:
    """Just the value text of a row (what search looks at); None for contested rows, whose
    competing values belong to the contested workbench and cost O(evidence) to list."""
    if ns == "canonical" or ns == "local":
        entry = (reducer.canonical if ns == "canonical" else reducer.local).get(key)
        return value_text(entry.get("value")) if entry is not None else None
    if ns == "archived":
        archived = reducer.archived.get(key)
        return value_text(archived[-1].get("value")) if archived else None
    return None


def _cells(reducer: Reducer, ns: str, key: str) -> tuple[str, str, str | None] | None:
    """(value, details, provenance event id) of one row, or None if the entry is gone."""
    if ns == "canonical":
        c = reducer.canonical.get(key)
        if c is None:
            return None
        return (value_text(c.get("value")), f"attested by {c.get('attested_by')}",
                c.get("attestation_event_id") or c.get("provenance"))
    if ns == "local":
        loc = reducer.local.get(key)
        if loc is None:
            return None
        return (value_text(loc.get("value")),
                f"confidence {loc.get('confidence')} · {loc.get('actor')} · "
                f"{loc.get('evidence_count')} evidence", loc.get("provenance"))
    if ns == "contested":
        entry = reducer.contested_entry(key)
        if entry is None:
            return None
        values = list(entry["evidence_by_value"])
        shown = " | ".join(v if len(v) < 40 else v[:39] + "…" for v in values[:4])
        more = f" (+{len(values) - 4})" if len(values) > 4 else ""
        return (f"{len(values)} values: {shown}{more}",
                f"{entry['reason'].replace('_', ' ')} · {entry['total_evidence_count']} evidence",
                None)
    archived = reducer.archived.get(key)
    if not archived:
        return None
    last = archived[-1]
    what = "retracted" if last.get("retracted") else "superseded"
    return (value_text(last.get("value")),
            f"{what} by {last.get('superseded_by')} · {len(archived)} archived",
            last.get("attestation_event_id"))


class BeliefsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[BeliefRow] = []
        self._reducer: Reducer | None = None
        # Contested cells build grouped evidence (O(evidence)): computed once per change.
        self._cache: dict[BeliefRow, tuple[str, str, str | None] | None] = {}
        # What search looks in, casefolded once per change, not once per keystroke.
        self._haystacks: dict[BeliefRow, str] = {}

    @property
    def reducer(self) -> Reducer | None:
        return self._reducer

    def set_rows(self, rows: list[BeliefRow], reducer: Reducer | None) -> None:
        self.beginResetModel()
        self.rows = rows
        self._reducer = reducer
        self._cache.clear()
        self._haystacks.clear()
        self.endResetModel()

    def append_rows(self, rows: list[BeliefRow]) -> None:
        """Add rows that sort after every current row (a snapshot shown in slices)."""
        if rows:
            n = len(self.rows)
            self.beginInsertRows(QModelIndex(), n, n + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()

    def apply_rows(self, ops: list[RowOp], reducer: Reducer | None) -> None:
        """Apply ``diff_rows`` output (GUI thread), then repaint the cells that stayed."""
        self._reducer = reducer
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
        self._haystacks.clear()
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

    def value(self, row: int) -> str | None:
        return _value(self._reducer, *self.rows[row]) if self._reducer is not None else None

    def haystack(self, row: int) -> str:
        """Key and value of a row, casefolded: the text search looks in."""
        item = self.rows[row]
        text = self._haystacks.get(item)
        if text is None:
            value = self.value(row)
            text = self._haystacks[item] = (item[1] + "\n" + (value or "")).casefold()
        return text

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
        cells = self.cells(index.row())
        if cells is None:
            return ""
        return {Column.VALUE: cells[0], Column.DETAIL: cells[1],
                Column.PROVENANCE: cells[2] or ""}[col]


class BeliefFilterProxy(QSortFilterProxyModel):
    """Namespace filter plus a case-insensitive search over key and value (contested
    rows are found by key; their competing values are searched in the contested tab).

    filterAcceptsRow reads the source's row list directly instead of going through data()
    and QModelIndex: on 150k beliefs that is the difference between a smooth keystroke and
    a stall. Values are only looked at when there is search text.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._namespace: str | None = None
        self._needle = ""

    @property
    def namespace(self) -> str | None:
        return self._namespace

    def set_namespace(self, namespace: str | None) -> None:
        if namespace is not None and namespace not in NAMESPACES:
            raise ValueError(f"unknown namespace {namespace!r}")
        if namespace != self._namespace:
            self._change_filter(lambda: setattr(self, "_namespace", namespace))

    def set_search(self, text: str) -> None:
        needle = text.strip().casefold()
        if needle != self._needle:
            self._change_filter(lambda: setattr(self, "_needle", needle))

    def _change_filter(self, change: Callable[[], None]) -> None:
        # Qt 6.9 replaced invalidateFilter() (now deprecated) by a begin/end pair around
        # the change; older Qt only has the former.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int,  # noqa: N802
                         source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        src = self.sourceModel()
        if not isinstance(src, BeliefsModel) or source_row >= len(src.rows):
            return True
        ns = src.rows[source_row][0]
        if self._namespace is not None and ns != self._namespace:
            return False
        return not self._needle or self._needle in src.haystack(source_row)

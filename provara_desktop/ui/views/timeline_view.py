"""The provenance timeline: filters, the painted canvas with its scroll bar, the event table
and the inspector, kept on one selected event.

Selecting an event anywhere (a mark on the canvas, a table row, a predecessor link in the
inspector, ``show_event`` from another view) selects it everywhere. New events only mark the
view dirty; a 250 ms timer refreshes it (STYLE rule 2), and not at all while it is hidden.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QDateTime, Qt, QTimer, QTimeZone, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollBar,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.event import CORE_TYPES
from provara_desktop.core.reducer import NAMESPACES
from provara_desktop.ui.models.timeline_model import (
    Column,
    EventIdRole,
    TimelineFilter,
    TimelineModel,
)
from provara_desktop.ui.provenance_cache import Provenance
from provara_desktop.ui.views.inspector_view import InspectorView
from provara_desktop.ui.views.timeline_canvas import TimelineCanvas, legend_html
from provara_desktop.ui.views.timeline_fetch import to_epoch, to_iso

if TYPE_CHECKING:
    from PySide6.QtCore import QModelIndex
    from PySide6.QtGui import QShowEvent

    from provara_desktop.core.annotations import Folded
    from provara_desktop.runtime.bus import Changes
    from provara_desktop.session import VaultSession
    from provara_desktop.store.index import IndexRow

log = logging.getLogger(__name__)

_ALL = "(all)"
_SCROLL_UNITS = 100_000
_FOCUS_MARKS = 150  # show_event zooms in until about this many events are on screen


def _combo(parent: QWidget, name: str, items: list[str]) -> QComboBox:
    box = QComboBox(parent)
    box.setObjectName(name)
    box.addItem(_ALL)
    box.addItems(items)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    return box


class TimelineView(QWidget):
    event_selected = Signal(str)
    vouch_requested = Signal(str)  # the inspector's "vouch up to here" (File > Rotate my key)
    annotate_requested = Signal(str)  # the inspector's "Annotate…" on an event
    attachment_requested = Signal(str, str)  # event id, sha256 (the inspector's link)

    def __init__(self, session: VaultSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineView")
        self._session = session
        index = session.vault.index
        self.provenance = Provenance(session.vault)
        self._dirty_from: int | None = None
        self._dirty = False
        self._syncing = False  # guards against selection ping-pong between the widgets
        self._bounds_shown = False

        # -- filter bar
        # Filled from the first fetched window (the actor list is a grouped scan of the
        # index: ~70 ms per million events, not for the GUI thread).
        self.actor_filter = _combo(self, "actorFilter", [])
        self.type_filter = _combo(self, "typeFilter", sorted(CORE_TYPES))
        self.subject_filter = QLineEdit(self)
        self.subject_filter.setObjectName("subjectFilter")
        self.subject_filter.setPlaceholderText("subject (exact)")
        self.subject_filter.setClearButtonEnabled(True)
        self.namespace_filter = _combo(self, "namespaceFilter", list(NAMESPACES))
        self.time_filter = QCheckBox("Time from", self)
        self.time_filter.setObjectName("timeFilter")
        self.time_from = self._datetime_edit("timeFrom")
        self.time_to = self._datetime_edit("timeTo")
        clear = QPushButton("Clear filters", self)
        clear.setObjectName("clearFilters")
        clear.clicked.connect(self.clear_filters)
        # Two rows, so the window still fits half of a laptop screen: in one row the
        # filters alone asked for 1,170 px.
        who = QHBoxLayout()
        for label, w in (("Actor", self.actor_filter), ("Type", self.type_filter),
                         ("Subject", self.subject_filter),
                         ("Namespace", self.namespace_filter)):
            who.addWidget(QLabel(label, self))
            who.addWidget(w)
        who.addStretch(1)
        when = QHBoxLayout()
        when.addWidget(self.time_filter)
        when.addWidget(self.time_from)
        when.addWidget(QLabel("to", self))
        when.addWidget(self.time_to)
        when.addWidget(clear)
        when.addStretch(1)
        bar = QVBoxLayout()
        bar.addLayout(who)
        bar.addLayout(when)
        for box in (self.actor_filter, self.type_filter, self.namespace_filter):
            box.currentIndexChanged.connect(self.on_filter_edited)
        self.subject_filter.editingFinished.connect(self.on_filter_edited)
        self.time_filter.toggled.connect(self.on_filter_edited)
        self.time_from.editingFinished.connect(self.on_filter_edited)
        self.time_to.editingFinished.connect(self.on_filter_edited)

        # -- zoom bar and canvas
        self.canvas = TimelineCanvas(index, self.provenance, self)
        self.canvas.event_clicked.connect(self.on_canvas_clicked)
        self.canvas.range_changed.connect(self.on_range_changed)
        self.canvas.window_shown.connect(self.on_window_shown)
        self.canvas.types_known.connect(self.on_types_known)
        self.canvas.step_requested.connect(self.on_step)
        zoom_bar = QHBoxLayout()
        for text, name, slot in (("−", "zoomOut", lambda: self.canvas.zoom(1 / 1.5)),
                                 ("+", "zoomIn", lambda: self.canvas.zoom(1.5)),
                                 ("Fit", "zoomFit", self.canvas.fit_all)):
            b = QPushButton(text, self)
            b.setObjectName(name)
            b.setMaximumWidth(48)
            b.clicked.connect(slot)
            zoom_bar.addWidget(b)
        self.status = QLabel("", self)
        # Its text may be cut rather than widen the window (the tooltip has all of it).
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setObjectName("timelineStatus")
        zoom_bar.addWidget(self.status, 1)
        legend = QLabel(legend_html(), self)
        legend.setObjectName("timelineLegend")
        legend.setToolTip("Wheel or +/- to zoom, drag or Shift+wheel or arrows to pan, "
                          "Home/End to jump, 0 to see everything; click a mark to inspect it, "
                          "N / P for the next / previous event")
        # Wrapped (one long row asked for most of the window's minimum width), but not into
        # a narrow column that would push the canvas down.
        legend.setWordWrap(True)
        legend.setMinimumWidth(400)
        zoom_bar.addWidget(legend)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal, self)
        self.scrollbar.setObjectName("timelineScroll")
        self.scrollbar.setRange(0, 0)
        self.scrollbar.valueChanged.connect(self.on_scrolled)

        # -- table and inspector
        self._annotated: tuple[int, Folded] | None = None  # (log size, the annotations)
        self._annotated_ids: tuple[Folded, set[str | None]] | None = None
        self.model = TimelineModel(index, self.provenance, self)
        self.model.annotated = self._is_annotated
        self.table = QTableView(self)
        self.table.setObjectName("timelineTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setResizeContentsPrecision(0)
        for col, width in ((Column.CLAIMED, 230), (Column.FIRST_SEEN, 230), (Column.TYPE, 110),
                           (Column.ACTOR, 150), (Column.SIGNATURE, 110)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self.on_table_row)
        self.inspector = InspectorView(self.provenance, session.beliefs, self,
                                       report=lambda: getattr(session, "last_report", None),
                                       annotations=self._annotations)
        self.inspector.event_requested.connect(self.show_event)
        self.inspector.context_requested.connect(self.show_context)
        self.inspector.vouch_requested.connect(self.vouch_requested)
        self.inspector.annotate_requested.connect(self.annotate_requested)
        self.inspector.attachment_requested.connect(self.attachment_requested)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(zoom_bar)
        top_layout.addWidget(self.canvas, 1)
        top_layout.addWidget(self.scrollbar)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(self.table)
        lower.addWidget(self.inspector)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        main = QSplitter(Qt.Orientation.Vertical, self)
        main.setObjectName("timelineSplitter")
        main.addWidget(top)
        main.addWidget(lower)
        main.setStretchFactor(0, 2)
        main.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(main, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.on_refresh_timer)
        self.canvas.fit_all()

    def _annotations(self) -> Folded | None:
        """The vault's annotations, folded once per change of the log (the inspector asks
        at every event it shows)."""
        count = self._session.event_count
        if self._annotated is None or self._annotated[0] != count:
            from provara_desktop.store.annotations import folded

            self._annotated = (count, folded(self._session.vault))
        return self._annotated[1]

    def _is_annotated(self, event_id: str) -> bool:
        found = self._annotations()
        if found is None:
            return False
        if self._annotated_ids is None or self._annotated_ids[0] is not found:
            self._annotated_ids = (found, {a.target.get("event_id") for a in found.standing})
        return event_id in self._annotated_ids[1]

    def _datetime_edit(self, name: str) -> QDateTimeEdit:
        edit = QDateTimeEdit(self)
        edit.setObjectName(name)
        edit.setTimeZone(QTimeZone.utc())
        edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss.zzz 'UTC'")
        edit.setCalendarPopup(True)
        return edit

    def shutdown(self) -> None:
        """Stop fetching and wait for a fetch in flight: the window calls this before the
        view is deleted (a fetch thread still emitting into a deleted canvas crashes)."""
        self.canvas.shutdown()

    def closeEvent(self, event: object) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)  # type: ignore[arg-type]

    # -- filters ---------------------------------------------------------------------------

    def current_filter(self) -> TimelineFilter:
        def pick(box: QComboBox) -> str | None:
            text = box.currentText()
            return None if text == _ALL else text

        start = end = None
        if self.time_filter.isChecked():
            start = to_iso(self.time_from.dateTime().toMSecsSinceEpoch() / 1000)
            end = to_iso(self.time_to.dateTime().toMSecsSinceEpoch() / 1000)
        return TimelineFilter(actor=pick(self.actor_filter), type=pick(self.type_filter),
                              subject=self.subject_filter.text().strip() or None,
                              namespace=pick(self.namespace_filter), start=start, end=end)

    def on_filter_edited(self, *_: object) -> None:
        if not self._syncing:  # widgets set by the view itself apply once, at the end
            self.apply_filter(self.current_filter())

    def apply_filter(self, flt: TimelineFilter) -> None:
        if flt == self.model.filter:
            return
        self.model.set_filter(flt)
        self.canvas.set_filter(flt)
        if flt.start is not None and flt.end is not None:
            t0, t1 = to_epoch(flt.start), to_epoch(flt.end)
            if t0 is not None and t1 is not None and t1 > t0:
                pad = (t1 - t0) * 0.05
                self.canvas.set_range(t0 - pad, t1 + pad)
        self._reselect()

    def clear_filters(self) -> None:
        self._syncing = True
        try:
            for box in (self.actor_filter, self.type_filter, self.namespace_filter):
                box.setCurrentIndex(0)
            self.subject_filter.clear()
            self.time_filter.setChecked(False)
        finally:
            self._syncing = False
        self.apply_filter(TimelineFilter())

    def _set_time_widgets(self, t0: float, t1: float, *, tick: bool = True) -> None:
        self._syncing = True
        try:
            utc = QTimeZone.utc()
            self.time_from.setDateTime(QDateTime.fromMSecsSinceEpoch(int(t0 * 1000), utc))
            self.time_to.setDateTime(QDateTime.fromMSecsSinceEpoch(int(t1 * 1000) + 1, utc))
            if tick:
                self.time_filter.blockSignals(True)
                self.time_filter.setChecked(True)
                self.time_filter.blockSignals(False)
        finally:
            self._syncing = False

    def on_types_known(self, types: list[str]) -> None:
        have = {self.type_filter.itemText(i) for i in range(self.type_filter.count())}
        self.type_filter.blockSignals(True)
        for t in types:
            if t not in have:
                self.type_filter.addItem(t)
        self.type_filter.blockSignals(False)

    # -- selection -------------------------------------------------------------------------

    def show_event(self, event_id: str) -> None:
        """Scroll the timeline to ``event_id``, select it and open it in the inspector."""
        row = self.provenance.row(event_id)
        if row is None:
            self.inspector.show_event(event_id)  # says it is not in this vault
            return
        flt = self.model.filter
        if flt.active and self.model.row_for_pos(row.pos) is None:
            self.clear_filters()  # the event is filtered out: show everything again
        t = to_epoch(row.timestamp_utc)
        if t is not None:
            self.canvas.center_on(t, self._focus_span(t, row))
        self._select(event_id)

    def _focus_span(self, t: float, row: IndexRow) -> float:
        """The current span, narrowed until the event stands apart from its chain
        neighbours (which share its lane) and the window around ``t`` is sparse enough
        that every event in it is drawn (a dense window only shows samples)."""
        t0, t1 = self.canvas.visible_range()
        span = max(t1 - t0, 1e-6)
        gaps = []
        pred = self.provenance.predecessor(row)
        for other in ([pred] if pred is not None else []) + self.provenance.successors(row):
            ot = to_epoch(other.timestamp_utc)
            if ot is not None and ot != t:
                gaps.append(abs(ot - t))
        if gaps:
            # about 40 px between the event and its nearest chain neighbour
            span = min(span, max(1e-6, min(gaps) * max(100, self.canvas.width() - 180) / 40))
        index = self._session.vault.index
        flt = self.model.filter
        for _ in range(40):
            n = index.count_time_range(to_iso(t - span / 2), to_iso(t + span / 2),
                                       actor=flt.actor, type=flt.type, subject=flt.subject,
                                       namespace=flt.namespace, cap=_FOCUS_MARKS + 1)
            if n <= _FOCUS_MARKS or span <= 2e-6:
                break
            span /= 4
        return span

    def show_context(self, event_id: str, seconds: float) -> None:
        """The events within ± ``seconds`` of ``event_id``: in the table (time filter) and
        on the canvas."""
        row = self.provenance.row(event_id)
        t = to_epoch(row.timestamp_utc) if row is not None else None
        if t is None:
            return
        self._set_time_widgets(t - seconds, t + seconds)
        self.apply_filter(TimelineFilter(start=to_iso(t - seconds), end=to_iso(t + seconds),
                                         actor=self.model.filter.actor,
                                         type=self.model.filter.type,
                                         subject=self.model.filter.subject,
                                         namespace=self.model.filter.namespace))
        self._select(event_id)

    def _select(self, event_id: str) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.canvas.select(event_id)
            table_row = self.model.row_for_event(event_id)
            if table_row is not None:
                idx = self.model.index(table_row, 0)
                self.table.selectionModel().setCurrentIndex(
                    idx, self.table.selectionModel().SelectionFlag.ClearAndSelect
                    | self.table.selectionModel().SelectionFlag.Rows)
                self.table.scrollTo(idx, QAbstractItemView.ScrollHint.PositionAtCenter)
            else:
                self.table.clearSelection()
            self.inspector.show_event(event_id)
        finally:
            self._syncing = False
        self.event_selected.emit(event_id)

    def _reselect(self) -> None:
        eid = self.inspector.event_id()
        if eid is not None:
            self._select(eid)

    def on_step(self, delta: int) -> None:
        """Keyboard navigation from the canvas: the neighbouring row of the table (same
        filters, log order), shown and selected everywhere."""
        current = self.table.currentIndex()
        row = current.row() + delta if current.isValid() else 0
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        if 0 <= row < self.model.rowCount():
            eid = self.model.data(self.model.index(row, 0), EventIdRole)
            if eid:
                self.show_event(str(eid))
                self.canvas.setFocus()

    def on_canvas_clicked(self, event_id: str) -> None:
        self._select(event_id)

    def on_table_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing:
            return
        eid = self.model.data(current, EventIdRole)
        if eid:
            row = self.provenance.row(eid)
            t = to_epoch(row.timestamp_utc) if row is not None else None
            t0, t1 = self.canvas.visible_range()
            if t is not None and not t0 <= t <= t1:
                self.canvas.center_on(t)
            self._select(eid)

    # -- range and scroll bar ----------------------------------------------------------------

    def _extent(self) -> tuple[float, float] | None:
        bounds = self.canvas.data_bounds()
        if bounds is None:
            return None
        lo, hi = bounds
        pad = (hi - lo) * 0.03 or 0.5
        return lo - pad, hi + pad

    def on_range_changed(self, t0: float, t1: float) -> None:
        ext = self._extent()
        if ext is None:
            return
        lo, hi = ext
        full = max(hi - lo, 1e-9)
        page = max(1, min(_SCROLL_UNITS, int((t1 - t0) / full * _SCROLL_UNITS)))
        self.scrollbar.blockSignals(True)
        self.scrollbar.setRange(0, max(0, _SCROLL_UNITS - page))
        self.scrollbar.setPageStep(page)
        self.scrollbar.setSingleStep(max(1, page // 10))
        # the window may lie outside the data (panned past the end): pin the handle
        value = (t0 - lo) / full * _SCROLL_UNITS
        self.scrollbar.setValue(int(min(max(value, 0), self.scrollbar.maximum())))
        self.scrollbar.blockSignals(False)

    def on_scrolled(self, value: int) -> None:
        ext = self._extent()
        if ext is None:
            return
        lo, hi = ext
        t0, t1 = self.canvas.visible_range()
        start = lo + value / _SCROLL_UNITS * (hi - lo)
        self.canvas.set_range(start, start + (t1 - t0))

    def on_window_shown(self) -> None:
        if not self.model.filter.actor:
            self._add_actors(self.canvas.lanes())
        bounds = self.canvas.data_bounds()
        if bounds is not None and not self.time_filter.isChecked() and not self._bounds_shown:
            # offer the vault's own time span in the (still unticked) range filter
            self._bounds_shown = True
            self._set_time_widgets(bounds[0], bounds[1], tick=False)
        t0, t1 = self.canvas.visible_range()
        self.on_range_changed(t0, t1)
        marks = len(self.canvas.marks())
        sampled = " (dense lanes sampled: one mark per few pixels)" \
            if self.canvas.is_sampled() else ""
        span = t1 - t0
        self.status.setText(f"{marks} marks on screen{sampled} · window {span:.6g} s · "
                            f"{self.model.rowCount()} rows in the table"
                            + ("+" if self.model.canFetchMore() else ""))
        self.status.setToolTip(self.status.text())

    # -- live updates ----------------------------------------------------------------------

    def on_changes(self, changes: Changes) -> None:
        if getattr(changes, "verification", False):
            self._reselect()  # the inspector shows the new verdicts of the last verification
        if not (changes.events or changes.vault or changes.keys):
            return
        if changes.keys:
            self.provenance.invalidate()
        first = changes.first_new_pos
        if first is not None:
            self._dirty_from = first if self._dirty_from is None else min(first,
                                                                           self._dirty_from)
        self._dirty = True
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._dirty and not self._timer.isActive():
            self._timer.start()

    def on_refresh_timer(self) -> None:
        if not self._dirty:
            return
        first, self._dirty_from, self._dirty = self._dirty_from, None, False
        if first is not None and first < self.model.rowCount() and not self.model.filter.active:
            self.provenance.invalidate()  # a rewritten tail: verdicts by id still hold, but
            # chain ranks and successors may not
        else:
            self.provenance.appended()
        self.model.refresh(first)
        self.canvas.refetch(facets=True)  # brings new actors and types along
        self._reselect()

    def _add_actors(self, actors: list[str]) -> None:
        have = {self.actor_filter.itemText(i) for i in range(self.actor_filter.count())}
        missing = [a for a in actors if a not in have]
        if missing:
            self.actor_filter.blockSignals(True)
            self.actor_filter.addItems(missing)
            self.actor_filter.blockSignals(False)

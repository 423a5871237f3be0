"""The painted provenance timeline: one lane per actor along a time axis.

Each event is a dot coloured by type, ringed by its signature status; an arc joins it to its
chain predecessor when both are on screen (two arcs from one dot are a fork, also marked).
Wheel or +/- zooms (around the pointer), drag / Shift+wheel / arrow keys pan, Home/End jump,
0 fits everything, N / P select the next / previous event (in the table's order). Only
what is visible is fetched (timeline_fetch), and paint never touches the disk.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from provara_desktop.store.event_check import SigStatus
from provara_desktop.ui.models.timeline_model import TimelineFilter
from provara_desktop.ui.views.timeline_fetch import (
    Facets,
    Mark,
    Request,
    Window,
    WindowFetcher,
    to_iso,
)

if TYPE_CHECKING:
    from PySide6.QtGui import QKeyEvent, QMouseEvent, QPaintEvent, QResizeEvent, QWheelEvent

    from provara_desktop.store.index import EventIndex
    from provara_desktop.ui.provenance_cache import Provenance

TYPE_COLORS = {
    "GENESIS": QColor("#455a64"),
    "OBSERVATION": QColor("#1e88e5"),
    "ASSERTION": QColor("#00897b"),
    "ATTESTATION": QColor("#43a047"),
    "RETRACTION": QColor("#fb8c00"),
    "KEY_REVOCATION": QColor("#8e24aa"),
    "KEY_PROMOTION": QColor("#5e35b1"),
}
OTHER_COLOR = QColor("#9e9e9e")
BAD_COLOR = QColor("#d32f2f")
WARN_COLOR = QColor("#f57c00")
FORK_COLOR = QColor("#c2185b")

LABEL_W = 170  # lane labels on the left
AXIS_H = 26  # time axis on top
LANE_H = 44
RADIUS = 5.0
PX_PER_BUCKET = 6  # a dense lane shows one sampled mark per this many pixels
_SMOOTH_MARKS = 400  # fewer marks than this on screen are drawn antialiased
MIN_SPAN = 1e-6  # one microsecond: timestamps carry no finer detail


def legend_html() -> str:
    """The key to the marks, for a label next to the canvas."""
    def dot(color: QColor, text: str) -> str:
        return f'<span style="color:{color.name()}">&#9679;</span>&nbsp;{text}'

    parts = [dot(c, t.title()) for t, c in TYPE_COLORS.items()
             if t in ("OBSERVATION", "ASSERTION", "ATTESTATION", "RETRACTION", "GENESIS")]
    parts.append(dot(OTHER_COLOR, "other"))
    parts.append(f'<span style="color:{BAD_COLOR.name()}">&#10006;</span>&nbsp;bad signature')
    parts.append(f'<span style="color:{WARN_COLOR.name()}">&#9711;</span>&nbsp;unknown / '
                 "revoked key")
    parts.append(f'<span style="color:{FORK_COLOR.name()}">&#9633;</span>&nbsp;fork')
    return " &nbsp; ".join(parts)


class TimelineCanvas(QWidget):
    event_clicked = Signal(str)
    range_changed = Signal(float, float)
    window_shown = Signal()  # a fetched window was installed (tests and status bars)
    step_requested = Signal(int)  # N / P: the next (+1) or previous (-1) event, in log order
    types_known = Signal(list)  # the event types the vault holds (for a filter menu)
    # (forks are learnt the same way and drawn as boxes; see forked())

    def __init__(self, index: EventIndex, provenance: Provenance | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineCanvas")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(AXIS_H + 2 * LANE_H)
        self._fetcher = WindowFetcher(index, provenance, self)
        self._fetcher.fetched.connect(self.on_window_fetched)
        self._fetcher.facets.connect(self.on_facets)
        self._filter = TimelineFilter()
        self._t0, self._t1 = 0.0, 1.0
        self._have_range = False
        self._generation = 0
        self._want_types = True
        self._window: Window | None = None
        self._points: dict[str, QPointF] = {}
        self._selected: str | None = None
        self._forked: set[str] = set()
        self._groups: tuple[dict[str, QPolygonF], QPolygonF, list[QPointF],
                            list[tuple[QPointF, str]]] = ({}, QPolygonF(), [], [])
        self._links: tuple[QPainterPath, QPainterPath] = (QPainterPath(), QPainterPath())
        self._press: QPointF | None = None
        self._press_range = (0.0, 1.0)
        self._dragged = False
        # Zooming with a wheel fires many events: coalesce them into one fetch.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(15)
        self._debounce.timeout.connect(self.on_fetch_timer)

    # -- public API ------------------------------------------------------------------------

    def shutdown(self) -> None:
        self._debounce.stop()
        self._fetcher.shutdown()

    def visible_range(self) -> tuple[float, float]:
        return self._t0, self._t1

    def data_bounds(self) -> tuple[float, float] | None:
        return self._window.bounds if self._window is not None else None

    def set_filter(self, flt: TimelineFilter) -> None:
        self._filter = flt
        self.refetch()

    def forked(self) -> set[str]:
        """Events known to take part in a fork (drawn boxed, their links in red)."""
        return set(self._forked)

    def set_forked(self, event_ids: set[str]) -> None:
        self._forked = set(event_ids)
        self._layout_points()
        self.update()

    def set_range(self, t0: float, t1: float) -> None:
        if not (math.isfinite(t0) and math.isfinite(t1)):
            return
        if t1 - t0 < MIN_SPAN:
            mid = (t0 + t1) / 2
            t0, t1 = mid - MIN_SPAN / 2, mid + MIN_SPAN / 2
        self._t0, self._t1 = t0, t1
        self._have_range = True
        self.range_changed.emit(t0, t1)
        self.refetch()

    def fit_all(self) -> None:
        """Show the whole (filtered) vault: wait for the bounds if they are not known."""
        self._have_range = False
        self.refetch()

    def zoom(self, factor: float, anchor_x: float | None = None) -> None:
        """factor > 1 zooms in. The time under ``anchor_x`` stays put (centre by default)."""
        span = self._t1 - self._t0
        ax = self._time_at(anchor_x) if anchor_x is not None else self._t0 + span / 2
        frac = (ax - self._t0) / span if span else 0.5
        new_span = max(MIN_SPAN, span / factor)
        bounds = self.data_bounds()
        if bounds is not None:
            new_span = min(new_span, max(MIN_SPAN, (bounds[1] - bounds[0]) * 4 + 1.0))
        self.set_range(ax - frac * new_span, ax - frac * new_span + new_span)

    def pan(self, fraction: float) -> None:
        span = self._t1 - self._t0
        self.set_range(self._t0 + span * fraction, self._t1 + span * fraction)

    def center_on(self, t: float, span: float | None = None) -> None:
        span = span if span is not None else self._t1 - self._t0
        self.set_range(t - span / 2, t + span / 2)

    def select(self, event_id: str | None) -> None:
        self._selected = event_id
        self.update()

    def selected(self) -> str | None:
        return self._selected

    def lanes(self) -> list[str]:
        """The actors of the lanes on screen, top to bottom."""
        return list(self._window.lanes) if self._window is not None else []

    def marks(self) -> list[Mark]:
        return list(self._window.marks) if self._window is not None else []

    def mark_position(self, event_id: str) -> QPointF | None:
        """Where the mark of ``event_id`` is painted (None when it is not on screen)."""
        return self._points.get(event_id)

    def is_sampled(self) -> bool:
        return bool(self._window and self._window.sampled)

    def refetch(self, *, facets: bool = False) -> None:
        """Fetch the visible window again (``facets``: also the vault's event types)."""
        self._want_types = self._want_types or facets
        if not self._debounce.isActive():
            self._debounce.start()

    # -- fetching --------------------------------------------------------------------------

    def on_fetch_timer(self) -> None:
        self._generation += 1
        width = max(50, self.width() - LABEL_W)
        self._fetcher.request(Request(self._generation, self._t0, self._t1,
                                      max(8, width // PX_PER_BUCKET), self._filter,
                                      want_types=self._want_types))

    def on_facets(self, facets: Facets) -> None:
        self._want_types = False
        self.types_known.emit(facets.types)
        if facets.forked != self._forked:
            self.set_forked(facets.forked)

    def on_window_fetched(self, window: Window) -> None:
        if window.generation != self._generation:
            return  # an older answer overtaken by a newer request
        if not self._have_range and window.bounds is not None:
            lo, hi = window.bounds
            pad = (hi - lo) * 0.03 or 0.5
            self._t0, self._t1 = lo - pad, hi + pad
            self._have_range = True
            self.range_changed.emit(self._t0, self._t1)
            self.refetch()  # the marks for the range just learnt
            return
        lanes_before = len(self._window.lanes) if self._window is not None else -1
        self._window = window
        if len(window.lanes) != lanes_before:
            # every lane visible (up to a dozen; more scroll with the splitter)
            self.setMinimumHeight(AXIS_H + LANE_H * max(2, min(12, len(window.lanes))) + 8)
            self.updateGeometry()
        self._layout_points()
        self.update()
        self.window_shown.emit()

    # -- geometry --------------------------------------------------------------------------

    def _x_of(self, t: float) -> float:
        w = max(1, self.width() - LABEL_W - 10)
        return LABEL_W + (t - self._t0) / (self._t1 - self._t0) * w

    def _time_at(self, x: float) -> float:
        w = max(1, self.width() - LABEL_W - 10)
        return self._t0 + (x - LABEL_W) / w * (self._t1 - self._t0)

    def _lane_y(self, lane: int) -> float:
        return AXIS_H + lane * LANE_H + LANE_H * 0.62

    def _layout_points(self) -> None:
        self._points = {}
        siblings: dict[tuple[int, str | None], int] = {}
        if self._window is not None:
            for m in self._window.marks:
                y = self._lane_y(m.lane)
                if m.row.event_id in self._forked:
                    # the branches of a fork sit above and below the lane, so both stay
                    # visible however close in time they were signed
                    k = siblings.get((m.lane, m.row.prev_event_hash), 0)
                    siblings[(m.lane, m.row.prev_event_hash)] = k + 1
                    y += (-1) ** (k + 1) * (RADIUS + 3) * (1 + k // 2)
                self._points[m.row.event_id] = QPointF(self._x_of(m.t), y)
        self._group_marks()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._layout_points()
        self.refetch()

    def sizeHint(self) -> QSize:  # noqa: N802
        lanes = len(self._window.lanes) if self._window else 3
        return QSize(900, AXIS_H + LANE_H * max(2, lanes) + 8)

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            # Ended here, not when the object is collected: after an exception the
            # traceback keeps the painter alive past the end of the paint event, and Qt
            # finishing a backing store under an active painter can crash the process.
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        text = pal.text().color()
        self._paint_axis(p, text)
        win = self._window
        if win is None:
            p.setPen(text)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Loading the timeline…")
            return
        mid = QColor(text)
        mid.setAlpha(60)
        for lane, actor in enumerate(win.lanes):
            top = AXIS_H + lane * LANE_H
            p.setPen(QPen(mid, 1))
            p.drawLine(0, int(top + LANE_H), self.width(), int(top + LANE_H))
            p.drawLine(LABEL_W, int(self._lane_y(lane)), self.width(), int(self._lane_y(lane)))
            p.setPen(text)
            label = actor if len(actor) <= 24 else actor[:23] + "…"
            p.drawText(QRectF(6, top + 4, LABEL_W - 10, 18), Qt.AlignmentFlag.AlignLeft, label)
            if actor in win.sampled:
                small = QFont(self.font())
                small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
                p.setFont(small)
                p.drawText(QRectF(6, top + 20, LABEL_W - 10, 16), Qt.AlignmentFlag.AlignLeft,
                           f"dense: one mark per {PX_PER_BUCKET} px")
                p.setFont(self.font())
        self._paint_links(p)
        self._paint_marks(p)
        if not win.marks:
            p.setPen(text)
            p.drawText(QRectF(LABEL_W, AXIS_H, self.width() - LABEL_W, 40),
                       Qt.AlignmentFlag.AlignCenter, "No events in this time window")

    def _paint_axis(self, p: QPainter, text: QColor) -> None:
        span = self._t1 - self._t0
        if span <= 0:
            return
        width = max(1, self.width() - LABEL_W - 10)
        raw = span / max(1, width / 110)  # about one tick per 110 px
        mag = 10 ** math.floor(math.log10(raw))
        step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
        p.setPen(text)
        t = math.ceil(self._t0 / step) * step
        while t <= self._t1:
            x = self._x_of(t)
            p.drawLine(int(x), AXIS_H - 6, int(x), AXIS_H)
            p.drawText(QRectF(x - 55, 2, 110, AXIS_H - 8), Qt.AlignmentFlag.AlignCenter,
                       _tick_label(t, step))
            t += step

    def _paint_links(self, p: QPainter) -> None:
        link = QColor(self.palette().text().color())
        link.setAlpha(110)
        plain, forked = self._links
        p.setBrush(Qt.BrushStyle.NoBrush)
        if not plain.isEmpty():
            p.setPen(QPen(link, 1))
            p.drawPath(plain)
        if not forked.isEmpty():
            p.setPen(QPen(FORK_COLOR, 2))
            p.drawPath(forked)

    def _build_links(self) -> None:
        """The chain links of the on-screen marks as two paths (plain and fork), built once
        per layout: a frame then draws them in two calls instead of a pen, a path and a
        draw per link (thousands of Python calls into Qt on the GUI thread per repaint)."""
        plain, forked = QPainterPath(), QPainterPath()
        win = self._window
        if win is not None:
            pts = self._points
            sampled = {lane for lane, actor in enumerate(win.lanes) if actor in win.sampled}
            for m in win.marks:
                if m.lane in sampled:
                    continue  # samples are not chain neighbours: a link would mislead
                prev = m.row.prev_event_hash
                a = pts.get(prev) if prev else None
                b = pts.get(m.row.event_id)
                if a is None or b is None:
                    continue
                path = forked if m.row.event_id in self._forked else plain
                lift = min(LANE_H * 0.45, 6 + abs(b.x() - a.x()) * 0.25)
                path.moveTo(a)
                path.quadTo(QPointF((a.x() + b.x()) / 2, a.y() - lift), b)
        self._links = (plain, forked)

    def _group_marks(self) -> None:
        """Sort the on-screen marks into batches by colour, once per layout (not per paint):
        a frame then costs a handful of drawPoints calls however many marks it shows. Few
        calls also matter because each one may hand the GIL to the fetch thread."""
        left, right = LABEL_W - RADIUS, self.width() + RADIUS
        fills: dict[str, list[QPointF]] = {}
        warn: list[QPointF] = []
        bad: list[QPointF] = []
        special: list[tuple[QPointF, str]] = []
        win = self._window
        for m in win.marks if win is not None else ():
            c = self._points.get(m.row.event_id)
            if c is None or not left <= c.x() <= right:
                continue
            fills.setdefault(m.row.type or "", []).append(c)
            sig = m.check.sig if m.check is not None else None
            if sig in (SigStatus.BAD_SIGNATURE, SigStatus.UNREADABLE):
                bad.append(c)
            elif sig is not None and sig is not SigStatus.VALID:
                warn.append(c)
            if m.row.event_id in self._forked:
                special.append((c, m.row.event_id))
        self._groups = ({t: QPolygonF(pts) for t, pts in fills.items()}, QPolygonF(warn),
                        bad, special)
        self._build_links()

    def _paint_marks(self, p: QPainter) -> None:
        fills, warn, bad, special = self._groups
        # Antialiased round points cost ~3x more to rasterise; a dense screen of marks
        # (sampled lanes) gains nothing from it, a sparse one looks better with it.
        p.setRenderHint(QPainter.RenderHint.Antialiasing,
                        sum(poly.size() for poly in fills.values()) < _SMOOTH_MARKS)
        # status rings first (wider points underneath), then the type colour on top
        if bad:
            p.setPen(QPen(BAD_COLOR, 2 * RADIUS + 7, Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.RoundCap))
            p.drawPoints(QPolygonF(bad))
        if not warn.isEmpty():
            p.setPen(QPen(WARN_COLOR, 2 * RADIUS + 5, Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.RoundCap))
            p.drawPoints(warn)
        for etype, points in fills.items():
            color = TYPE_COLORS.get(etype, OTHER_COLOR)
            p.setPen(QPen(color, 2 * RADIUS, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints(points)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if bad:
            p.setPen(QPen(BAD_COLOR, 2))
            d = RADIUS + 3
            for c in bad:
                p.drawLine(QPointF(c.x() - d, c.y() - d), QPointF(c.x() + d, c.y() + d))
                p.drawLine(QPointF(c.x() - d, c.y() + d), QPointF(c.x() + d, c.y() - d))
        if special:
            p.setPen(QPen(FORK_COLOR, 2))
            for c, _eid in special:
                p.drawRect(QRectF(c.x() - RADIUS - 4, c.y() - RADIUS - 4, 2 * RADIUS + 8,
                                  2 * RADIUS + 8))
        sel = self._points.get(self._selected) if self._selected else None
        if sel is not None:
            p.setPen(QPen(self.palette().highlight().color(), 2))
            p.drawEllipse(sel, RADIUS + 5, RADIUS + 5)

    # -- interaction -----------------------------------------------------------------------

    def mark_at(self, pos: QPointF, tolerance: float = 8.0) -> str | None:
        best, best_d = None, tolerance
        for eid, c in self._points.items():
            d = math.hypot(c.x() - pos.x(), c.y() - pos.y())
            if d <= best_d:
                best, best_d = eid, d
        return best

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position()
            self._press_range = (self._t0, self._t1)
            self._dragged = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._press is None:
            return
        dx = event.position().x() - self._press.x()
        if abs(dx) > 3:
            self._dragged = True
        if self._dragged:
            t0, t1 = self._press_range
            w = max(1, self.width() - LABEL_W - 10)
            shift = -dx / w * (t1 - t0)
            self._t0, self._t1 = t0 + shift, t1 + shift
            self._layout_points()  # move the marks we have now; the fetch refines them
            self.update()
            self.range_changed.emit(self._t0, self._t1)
            self.refetch()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            if not self._dragged:
                eid = self.mark_at(event.position())
                if eid is not None:
                    self.select(eid)
                    self.event_clicked.emit(eid)
            self._press = None
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier or delta.x():
            steps = (delta.x() or delta.y()) / 120
            self.pan(-steps * 0.1)
        elif delta.y():
            self.zoom(1.25 ** (delta.y() / 120), event.position().x())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.5)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom(1 / 1.5)
        elif key == Qt.Key.Key_Left:
            self.pan(-0.1)
        elif key == Qt.Key.Key_Right:
            self.pan(0.1)
        elif key == Qt.Key.Key_PageUp:
            self.pan(-0.9)
        elif key == Qt.Key.Key_PageDown:
            self.pan(0.9)
        elif key == Qt.Key.Key_0:
            self.fit_all()
        elif key in (Qt.Key.Key_N, Qt.Key.Key_P):
            self.step_requested.emit(1 if key == Qt.Key.Key_N else -1)
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            bounds = self.data_bounds()
            if bounds is not None:
                span = self._t1 - self._t0
                if key == Qt.Key.Key_Home:
                    self.set_range(bounds[0] - span * 0.05, bounds[0] + span * 0.95)
                else:
                    self.set_range(bounds[1] - span * 0.95, bounds[1] + span * 0.05)
        else:
            super().keyPressEvent(event)
            return
        event.accept()


def _tick_label(t: float, step: float) -> str:
    iso = to_iso(t)  # 2026-11-26T14:45:37.706341+00:00
    date, _, rest = iso.partition("T")
    clock = rest[:15] if "." in rest[:15] else rest[:8]
    if step >= 86400:
        return date
    if step >= 1:
        return f"{date[5:]} {clock[:8]}"
    digits = min(6, max(1, -math.floor(math.log10(step))))
    whole = clock[:8]
    frac = (clock[9:] + "000000")[:digits]
    return f"{whole}.{frac}"

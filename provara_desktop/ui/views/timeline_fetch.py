"""What the timeline canvas shows for a time window, fetched off the GUI thread.

The canvas asks for "these actors' events between t0 and t1, about this many per lane"; a
single background thread answers from the SQLite index: every event when a lane holds few
enough in the window, otherwise one event per time bucket (``EventIndex.time_samples``, one
index seek per bucket), so a million-event window costs a few hundred seeks, not a million
rows. Signatures of the marks are checked there too (cached by the Provenance object), so
paint never does I/O. Results come back through a Qt signal (queued onto the GUI thread);
a newer request makes older results stale and they are dropped.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypedDict

from PySide6.QtCore import QObject, Signal

from provara_desktop.ui.gui_thread_calls import Inbox
from provara_desktop.ui.provenance_cache import parse_time

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from provara_desktop.store.event_check import EventCheck
    from provara_desktop.store.index import EventIndex, IndexRow
    from provara_desktop.ui.models.timeline_model import TimelineFilter
    from provara_desktop.ui.provenance_cache import Provenance

log = logging.getLogger(__name__)


def to_iso(t: float) -> str:
    """Epoch seconds as the protocol writes times (isoformat, +00:00): such strings sort in
    time order, which is what the index's string comparison relies on."""
    return datetime.fromtimestamp(t, UTC).isoformat()


def to_epoch(text: str | None) -> float | None:
    dt = parse_time(text)
    return None if dt is None else dt.timestamp()


@dataclass(frozen=True)
class Mark:
    row: IndexRow
    t: float  # claimed time, epoch seconds
    lane: int
    check: EventCheck | None


@dataclass
class Window:
    """The answer for one request."""

    generation: int
    t0: float
    t1: float
    lanes: list[str]
    marks: list[Mark] = field(default_factory=list)
    sampled: dict[str, int] = field(default_factory=dict)  # lane -> events in window (capped)
    bounds: tuple[float, float] | None = None  # of the whole (filtered) vault
    checked: bool = False  # every mark carries its signature verdict


@dataclass(frozen=True)
class Request:
    generation: int
    t0: float
    t1: float
    buckets: int  # wanted marks per lane when the lane is dense
    flt: TimelineFilter
    check_signatures: bool = True
    want_types: bool = False  # for the filter bar; a grouped scan (~70 ms per 1M events)


class _Facets(TypedDict):
    """The filter's constraints every lane's query repeats (keyword arguments)."""

    type: str | None
    subject: str | None
    namespace: str | None


def fetch_window(index: EventIndex, prov: Provenance | None, req: Request) -> Window:
    flt = req.flt
    lanes = [flt.actor] if flt.actor else index.actor_names()
    out = Window(req.generation, req.t0, req.t1, lanes)
    bounds = index.time_bounds(actor=flt.actor)
    if bounds is not None:
        lo, hi = to_epoch(bounds[0]), to_epoch(bounds[1])
        if lo is not None and hi is not None:
            out.bounds = (lo, hi)
    start, end = to_iso(req.t0), to_iso(req.t1)
    # The explicit time-range filter narrows the window further.
    if flt.start is not None and flt.start > start:
        start = flt.start
    if flt.end is not None and flt.end < end:
        end = flt.end
    if start >= end:
        return out
    common = _Facets(type=flt.type, subject=flt.subject, namespace=flt.namespace)
    cap = max(1, req.buckets)
    for lane, actor in enumerate(lanes):
        n = index.count_time_range(start, end, actor=actor, cap=cap + 1, **common)
        if n <= cap:
            rows = index.in_time_range(start, end, actor=actor, **common)
        else:
            out.sampled[actor] = n
            step = (req.t1 - req.t0) / cap
            edges = [start] + [to_iso(req.t0 + step * i) for i in range(1, cap)] + [end]
            edges = sorted(set(edges))
            rows = index.time_samples(edges, actor=actor, **common)
        for row in rows:
            t = to_epoch(row.timestamp_utc)
            if t is None:
                continue
            # Verdicts already known come along; the rest are checked in a second phase
            # (check_window), so the marks appear without waiting for Ed25519.
            check = prov.cached_check(row.event_id) if prov is not None else None
            out.marks.append(Mark(row, t, lane, check))
    out.checked = prov is None or all(m.check is not None for m in out.marks)
    return out


def check_window(window: Window, prov: Provenance,
                 cancelled: Callable[[], bool] | None = None) -> Window | None:
    """The same window with every mark's signature verdict, or None if cancelled."""
    verdicts = prov.check_rows([m.row for m in window.marks if m.check is None], cancelled)
    if cancelled is not None and cancelled():
        return None
    marks = [m if m.check is not None else Mark(m.row, m.t, m.lane,
                                                 verdicts.get(m.row.event_id))
             for m in window.marks]
    return replace(window, marks=marks, checked=True)


@dataclass(frozen=True)
class Facets:
    """Vault-wide facts the canvas needs besides the window (grouped scans of the index,
    ~0.1-0.7 s per million events, so fetched after the window, not before it)."""

    types: list[str]
    forked: set[str]  # every event that takes part in a fork


class WindowFetcher(QObject):
    """One background thread; ``fetched`` carries each Window (on the GUI thread).

    The thread never emits a signal itself: the signals are emitted on the GUI thread
    through an Inbox (a signal emitted on the worker can deadlock: see ui/inbox.py)."""

    fetched = Signal(object)
    facets = Signal(object)
    failed = Signal(str)

    def __init__(self, index: EventIndex, prov: Provenance | None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._index = index
        self._prov = prov
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timeline-fetch")
        self._latest = -1
        self._pending: Future[Window | None] | None = None
        self._closed = False
        self._inbox = Inbox(self)
        # A view deleted without being closed (the window swapped vaults) must not leave
        # its thread behind; the pool object outlives this QObject in the closure.
        pool = self._pool
        self.destroyed.connect(lambda: pool.shutdown(wait=False, cancel_futures=True))

    def request(self, req: Request) -> None:
        if self._closed:
            return
        self._latest = req.generation
        if self._pending is not None:
            self._pending.cancel()  # not started yet: skip it (a newer window is wanted)
        self._pending = self._pool.submit(self._run, req)

    def _run(self, req: Request) -> Window | None:
        try:
            return self._fetch_and_check(req)
        except Exception as exc:
            log.exception("timeline fetch failed")
            self._inbox.call(self.failed.emit, str(exc))
            raise

    def _fetch_and_check(self, req: Request) -> Window | None:
        def stale() -> bool:
            return req.generation != self._latest

        if stale():
            return None
        window = fetch_window(self._index, self._prov, req)
        if stale():
            return None
        self._inbox.call(self.fetched.emit, window)
        if self._prov is not None and req.check_signatures and not window.checked:
            checked = check_window(window, self._prov, stale)
            if checked is not None:
                self._inbox.call(self.fetched.emit, checked)
                window = checked
        if req.want_types and not stale():
            forks = self._prov.forks() if self._prov is not None else []
            self._inbox.call(self.facets.emit, Facets([t for t, _ in self._index.types()],
                                            {r.event_id for f in forks for r in f.rows}))
        return window

    def shutdown(self) -> None:
        self._closed = True
        self._latest = -1
        self._pool.shutdown(wait=True, cancel_futures=True)

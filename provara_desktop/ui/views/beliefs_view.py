"""The beliefs tab: the four namespaces as one filterable, searchable table, and the full
history of the selected belief underneath.

Refreshes are throttled (STYLE rule 2): a change only marks the view dirty and a 250 ms
timer takes one snapshot; while the tab is hidden nothing is refreshed until it is shown.
Snapshots, their filtering, searching and sorting (``arrange``) and histories all run on the
session's query thread, never on the GUI thread: the GUI thread only swaps in the result.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.reducer import NAMESPACES
from provara_desktop.session import belief_rows
from provara_desktop.ui.models.beliefs_model import (
    BeliefsModel,
    Column,
    KeyRole,
    NamespaceRole,
    arrange,
    diff_rows,
)
from provara_desktop.ui.models.history_model import EventIdRole, HistoryModel
from provara_desktop.ui.ops import run_op
from provara_desktop.ui.views.elided_label import ElidedLabel

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtGui import QShowEvent

    from provara_desktop.runtime.bus import Changes
    from provara_desktop.session import BeliefRow, HistoryStep, VaultSession
    from provara_desktop.ui.models.beliefs_model import RowOp, SortSpec

    # (snapshot, the rows shown, ops turning the shown rows into them or None, generation,
    # the Tags · review labels, the tags in use)
    Arranged = tuple[list[BeliefRow], list[BeliefRow], list[RowOp] | None, int,
                     dict[str, str], list[str]]

log = logging.getLogger(__name__)
REFRESH_MS = 250


def _annotation_view(session: VaultSession, review: str | None, cache: dict[str, Any]
                     ) -> tuple[dict[str, str], list[str], Callable[[str], bool] | None]:
    """(belief key -> its tags and review mark, the tags in use, the review filter as a
    predicate on belief keys or None), from the vault's annotations (query thread; folded
    once per change of the log, kept in ``cache``: a search keystroke reads nothing)."""
    from provara_desktop.store.annotations import folded

    count = session.vault.index.count()
    if cache.get("count") != count:
        cache.update(count=count, found=folded(session.vault))
    found = cache["found"]
    tags_of: dict[str, set[str]] = {}
    for a in found.standing:
        belief = a.target.get("belief")
        if a.kind == "tag" and a.tag and belief is not None:
            tags_of.setdefault(belief, set()).add(a.tag)
    marked = {k: m.mark for k in {a.target.get("belief") for a in found.standing
                                  if a.kind == "mark"} if k is not None
              and (m := found.mark_of(k)) is not None and m.mark}
    labels = {k: " · ".join(p for p in (", ".join(sorted(tags_of.get(k, ()))),
                                        marked.get(k, "")) if p)
              for k in set(tags_of) | set(marked)}
    wanted: Callable[[str], bool] | None = None
    if review == "mark:none":
        wanted = lambda k: k not in marked  # noqa: E731
    elif review is not None and review.startswith("mark:"):
        mark = review[5:]
        wanted = lambda k: marked.get(k) == mark  # noqa: E731
    elif review is not None and review.startswith("tag:"):
        tag = review[4:]
        wanted = lambda k: tag in tags_of.get(k, ())  # noqa: E731
    return labels, sorted({t for ts in tags_of.values() for t in ts}), wanted


def set_widths(table: QTableView, widths: list[int]) -> None:
    """Readable first-run column widths (the user's own widths are restored later)."""
    for col, width in enumerate(widths):
        table.setColumnWidth(col, width)


def make_table(parent: QWidget, name: str) -> QTableView:
    table = QTableView(parent)
    table.setObjectName(name)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    header.setResizeContentsPrecision(0)  # never measure every row of a big model
    header.setSectionsMovable(True)
    return table


class BeliefsView(QWidget):
    event_selected = Signal(str)  # a history row the user wants to see in the timeline
    attest_requested = Signal(str)  # belief key ("subject:predicate")
    retract_requested = Signal(str)
    # The new vault's next steps (the empty state): record, import, find collaborators.
    observe_requested = Signal()
    import_requested = Signal()
    peers_requested = Signal()

    def __init__(self, session: VaultSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("beliefsView")
        self._session = session
        self._dirty = True
        self._history_key: str | None = None
        self._applying = False
        # What the table is asked to show; each change starts an arrangement on the query
        # thread, and only the latest one's result is applied.
        self._namespace: str | None = None
        self._needle = ""
        self._sort: SortSpec = None
        self._generation = 0
        # A snapshot was asked for and not applied yet: a filter change that supersedes it
        # must take the snapshot too, or the refresh would be lost.
        self._snapshot_pending = False
        self._haystacks: dict[BeliefRow, str] = {}  # search text per row, per snapshot

        self.namespace = QComboBox(self)
        self.namespace.setObjectName("namespaceFilter")
        self.namespace.addItem("All namespaces", None)
        for ns in NAMESPACES:
            self.namespace.addItem(ns.capitalize(), ns)
        self.namespace.currentIndexChanged.connect(self.on_namespace_changed)
        self.search = QLineEdit(self)
        self.search.setObjectName("beliefSearch")
        self.search.setPlaceholderText("Search subject, predicate or value")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.on_search_edited)
        # Annotations: only beliefs with a review mark, or a tag (docs/ANNOTATIONS.md).
        self.review_filter = QComboBox(self)
        self.review_filter.setObjectName("reviewFilter")
        self.review_filter.addItem("Any review", None)
        for label, data in (("Reviewed", "mark:reviewed"),
                            ("Needs follow-up", "mark:follow-up"),
                            ("Disputed", "mark:disputed"), ("Not marked", "mark:none")):
            self.review_filter.addItem(label, data)
        self.review_filter.currentIndexChanged.connect(lambda _i: self._arrange(snapshot=False))
        self._folded_cache: dict[str, Any] = {}
        self.status = QLabel("Computing beliefs…", self)
        self.status.setObjectName("beliefsStatus")

        self.model = BeliefsModel(self)
        self.table = make_table(self, "beliefsTable")
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.model.sort_requested.connect(self.on_sort_requested)
        self.table.selectionModel().currentRowChanged.connect(self.on_current_changed)
        set_widths(self.table, [90, 230, 260, 330])

        # one line however long the history: a plain label would widen the window to fit it
        self.history_title = ElidedLabel("Select a belief to see its history.", self)
        self.history_title.setObjectName("historyTitle")
        self.history_model = HistoryModel(self)
        self.history = make_table(self, "historyTable")
        self.history.setModel(self.history_model)
        self.history.activated.connect(self.on_history_activated)
        self.history_notes = QLabel("", self)  # the belief's annotations (signed reviews)
        self.history_notes.setObjectName("historyAnnotations")
        self.history_notes.setWordWrap(True)
        set_widths(self.history, [50, 200, 105, 180, 180, 80, 190, 220])
        self.attest_button = QPushButton("Attest…", self)
        self.attest_button.setObjectName("attestBeliefButton")
        self.attest_button.setToolTip("Make a value of this belief canonical, citing evidence")
        self.attest_button.clicked.connect(self.on_attest_clicked)
        self.retract_button = QPushButton("Retract…", self)
        self.retract_button.setObjectName("retractBeliefButton")
        self.retract_button.clicked.connect(self.on_retract_clicked)
        for b in (self.attest_button, self.retract_button):
            b.setEnabled(False)

        bar = QHBoxLayout()
        bar.addWidget(self.namespace)
        bar.addWidget(self.review_filter)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.status)
        hist_bar = QHBoxLayout()
        hist_bar.addWidget(self.history_title, 1)
        hist_bar.addWidget(self.attest_button)
        hist_bar.addWidget(self.retract_button)
        lower = QWidget(self)
        lower_lay = QVBoxLayout(lower)
        lower_lay.setContentsMargins(0, 0, 0, 0)
        lower_lay.addLayout(hist_bar)
        lower_lay.addWidget(self.history)
        lower_lay.addWidget(self.history_notes)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(lower)
        self.splitter.setSizes([400, 250])
        self.empty_panel = self._empty_state()
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.empty_panel)
        lay.addWidget(self.splitter, 1)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.on_refresh_timer)
        self._search_timer = QTimer(self)  # debounce typing on big vaults
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self.on_search_timer)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(300)
        self._progress_timer.timeout.connect(self.on_progress_timer)
        self._refresh_timer.start()

    def _empty_state(self) -> QWidget:
        """What a new vault says instead of a table with one "system:status" row: what to
        do next, each a button."""
        panel = QWidget(self)
        panel.setObjectName("emptyVault")
        text = QLabel("<h3>This vault holds no evidence yet</h3>"
                      "<p>Record what you have seen, bring in a colleague's evidence from a "
                      "bundle, or find the collaborators on your network and sync with "
                      "them. Every record is signed with your key and chained to your "
                      "previous one.</p>", panel)
        text.setWordWrap(True)
        buttons = QHBoxLayout()
        for label, name, signal in (
                ("Record an observation…", "emptyObserve", self.observe_requested),
                ("Import a bundle…", "emptyImport", self.import_requested),
                ("Find collaborators on the LAN", "emptyPeers", self.peers_requested)):
            b = QPushButton(label, panel)
            b.setObjectName(name)
            b.clicked.connect(signal.emit)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(panel)
        lay.addWidget(text)
        lay.addLayout(buttons)
        lay.addStretch(1)
        panel.hide()
        return panel

    def _show_empty_state(self, keys: set[str]) -> None:
        # Only the bootstrap's own "system:status initialized" (or nothing at all).
        empty = keys <= {"system:status"}
        self.empty_panel.setVisible(empty)
        self.splitter.setVisible(not empty)

    # -- refresh ---------------------------------------------------------------------------

    def on_changes(self, changes: Changes) -> None:
        if changes.beliefs or changes.vault or changes.events:
            self._dirty = True
            if not self.model.all_rows and self._session.table_beliefs() is not None:
                # The first rows (kept ones, or the first reducer): now, not after the
                # pause that gathers later changes into one refresh.
                self._refresh_timer.stop()
                QTimer.singleShot(0, self.on_refresh_timer)
            elif not self._refresh_timer.isActive():
                self._refresh_timer.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._dirty and not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def on_refresh_timer(self) -> None:
        if self._session.closed or not self._dirty:
            return
        if not self.isVisible() and self.model.rows:
            return  # deferred: showEvent picks it up
        self._dirty = False
        if self._session.table_beliefs() is None:
            self._dirty = True  # the reducer's arrival publishes a change; poll meanwhile
            self.on_progress_timer()
            self._progress_timer.start()
            return
        self._progress_timer.stop()
        self._haystacks = {}  # values may have changed: search text is re-read
        self._arrange(snapshot=True)

    def _arrange(self, *, snapshot: bool) -> None:
        """Choose and order the rows on the query thread: a new snapshot of the beliefs
        (``snapshot``) or the current one under a new filter, search or sort."""
        if self._session.closed:
            return
        snapshot = self._snapshot_pending = snapshot or self._snapshot_pending
        self._generation += 1
        generation, session = self._generation, self._session
        shown, everything = self.model.rows, self.model.all_rows  # never mutated in place
        namespace, needle, sort = self._namespace, self._needle, self._sort
        haystacks = self._haystacks  # only the query thread touches it from here on
        review = self.review_filter.currentData()
        folded_cache = self._folded_cache  # the query thread's alone, like haystacks

        def job() -> Arranged:
            with session.reading_table() as reducer:
                rows = belief_rows(reducer) if snapshot else everything
                visible = arrange(rows, reducer, namespace=namespace, needle=needle,
                                  sort=sort, haystacks=haystacks)
            labels, tags, wanted = _annotation_view(session, review, folded_cache)
            if wanted is not None:
                visible = [r for r in visible if wanted(r[1])]
            # Insertions and removals keep the selection and scroll position, but only
            # rows in snapshot order can be diffed.
            ops = diff_rows(shown, visible) if shown and sort is None else None
            return rows, visible, ops, generation, labels, tags

        run_op(self, lambda: session.query(job)).success(self.on_rows)

    def on_progress_timer(self) -> None:
        if self._session.beliefs_error:
            self.status.setText(f"Cannot compute beliefs: {self._session.beliefs_error}")
            self._progress_timer.stop()
            return
        if self._session.table_beliefs() is not None:
            self._progress_timer.stop()
            if self._dirty:
                self._refresh_timer.start()
            return
        p = self._session.beliefs_progress
        self.status.setText(f"Computing beliefs… {p.done:,} of {p.total:,} events"
                            if p.total > 1 else "Computing beliefs…")

    def on_rows(self, result: Arranged) -> None:
        rows, visible, ops, generation, labels, tags = result
        if generation != self._generation:
            return  # the user asked for something else meanwhile: its result follows
        self.model.set_labels(labels)
        self._offer_tags(tags)
        self._snapshot_pending = False
        selected = self.selected_belief()
        reducer = self._session.table_beliefs()  # the kept rows while the state loads
        self._applying = True  # the selection may blink while rows move: not a user choice
        try:
            if ops is not None and len(self.model.rows) + sum(
                    len(ins) - rem for _at, rem, ins in ops) == len(visible):
                self.model.apply_rows(ops, reducer, rows)  # keeps selection and scroll
            else:
                self.model.set_rows(visible, reducer, rows)
            if selected is not None and self.selected_belief() != selected:
                # the selected belief moved namespace (local -> contested...), or the rows
                # were replaced: follow it
                present = set(visible)
                ns = next((n for n in NAMESPACES if (n, selected[1]) in present), None)
                if ns is not None:
                    self.select_belief(ns, selected[1])
        finally:
            self._applying = False
        self._update_status()
        self._show_empty_state({k for _ns, k in rows})
        if self._history_key is None:
            return
        if self._history_key in {k for _ns, k in rows}:
            # Follow the belief even when the filter now hides its row: the history panel
            # is about the belief the user picked.
            self._load_history(self._history_key)
        else:
            self.on_current_changed()  # the belief is gone: say so, not a stale history

    def _offer_tags(self, tags: list[str]) -> None:
        """The tags in use, as filters after the marks (kept while chosen)."""
        have = {self.review_filter.itemData(i) for i in range(self.review_filter.count())}
        for tag in tags:
            if f"tag:{tag}" not in have:
                self.review_filter.blockSignals(True)
                self.review_filter.addItem(f"Tag: {tag}", f"tag:{tag}")
                self.review_filter.blockSignals(False)

    def _update_status(self) -> None:
        shown, total = len(self.model.rows), len(self.model.all_rows)
        self.status.setText(f"{total:,} beliefs" if shown == total else
                            f"{shown:,} of {total:,} beliefs")

    # -- filtering -------------------------------------------------------------------------

    def on_namespace_changed(self) -> None:
        namespace = self.namespace.currentData()
        if namespace != self._namespace:
            self._namespace = namespace
            self._arrange(snapshot=False)

    def on_search_edited(self) -> None:
        # Each pause in the typing starts one search (on the query thread): waiting for the
        # pause spares it a search per keystroke on a big vault.
        self._search_timer.start(150 if len(self.model.all_rows) < 20_000 else 300)

    def on_search_timer(self) -> None:
        needle = self.search.text().strip().casefold()
        if needle != self._needle:
            self._needle = needle
            self._arrange(snapshot=False)

    def on_sort_requested(self, column: int, order: Qt.SortOrder) -> None:
        descending = order == Qt.SortOrder.DescendingOrder
        # Namespace ascending is the snapshot's own order: rows can then be diffed again.
        sort = (None if column < 0 or column == Column.TAGS
                or (column == Column.NAMESPACE and not descending)
                else (column, descending))
        if sort != self._sort:
            self._sort = sort
            self._arrange(snapshot=False)

    # -- selection and history ---------------------------------------------------------------

    def selected_belief(self) -> tuple[str, str] | None:
        """(namespace, key) of the selected row, or None."""
        idx = self.table.selectionModel().currentIndex()
        if not idx.isValid():
            return None
        return idx.data(NamespaceRole), idx.data(KeyRole)

    def selected_key(self) -> str | None:
        sel = self.selected_belief()
        return sel[1] if sel else None

    def select_belief(self, namespace: str, key: str) -> bool:
        try:
            row = self.model.rows.index((namespace, key))
        except ValueError:
            return False  # not a belief, or hidden by the filter or search
        idx = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(idx)
        return True

    def on_current_changed(self) -> None:
        if self._applying:
            return
        key = self.selected_key()
        for b in (self.attest_button, self.retract_button):
            b.setEnabled(key is not None)
        if key != self._history_key:
            self._history_key = key
            if key is None:
                self.history_title.setText("Select a belief to see its history.")
                self.history_model.set_history(None, [])
            else:
                self.history_title.setText(f"History of {key}: loading…")
                self._load_history(key)

    def _load_history(self, key: str) -> None:
        if self._session.closed:
            return
        run_op(self, lambda: self._session.history(key)).success(
            lambda steps: self.on_history(key, steps))

    def on_history(self, key: str, steps: list[HistoryStep]) -> None:
        if key != self._history_key:
            return  # the user moved on while it loaded
        self.history_model.set_history(key, steps)
        path = [steps[0].state_before] if steps else []
        for s in steps:
            if s.state_after != path[-1]:
                path.append(s.state_after)
        self.history_title.setText(
            f"History of {key}: {len(steps)} event{'' if len(steps) == 1 else 's'} · "
            + " → ".join(path))
        self._show_history_annotations(key, {s.event_id for s in steps})

    def _show_history_annotations(self, key: str, event_ids: set[str]) -> None:
        """Every annotation on the belief and on the events of its history, with its
        reviewer, key and time (the folded annotations of the last arrangement)."""
        found = self._folded_cache.get("found")
        notes = [] if found is None else [
            a for a in found.all if a.target.get("belief") == key
            or a.target.get("event_id") in event_ids]
        lines = []
        for a in notes:
            what = html.escape(a.tag or a.mark or a.text or f"withdraws {a.withdraws}")
            on = "the belief" if "belief" in a.target else html.escape(a.target["event_id"])
            line = (f"<b>{html.escape(a.kind)}</b> {what} — {html.escape(a.actor or '?')} "
                    f"(<code>{html.escape(a.signer or '?')}</code>), "
                    f"{html.escape(a.timestamp_utc or '?')}, on {on}")
            lines.append(f"<s>{line}</s> (withdrawn)" if a.withdrawn_by else line)
        self.history_notes.setText("Annotations: " + ("<br>".join(lines) if lines
                                                      else "none"))

    def on_history_activated(self) -> None:
        idx = self.history.currentIndex()
        eid = idx.data(EventIdRole) if idx.isValid() else None
        if eid:
            self.event_selected.emit(eid)

    def on_attest_clicked(self) -> None:
        key = self.selected_key()
        if key:
            self.attest_requested.emit(key)

    def on_retract_clicked(self) -> None:
        key = self.selected_key()
        if key:
            self.retract_requested.emit(key)

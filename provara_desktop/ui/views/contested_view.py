"""The contested workbench: where honest disagreement is reviewed and settled, and where
equivocation (a fork) is raised as an alert, never confused with disagreement.

Left: fork alerts, then the contested beliefs (searchable). Right: the selected belief's
competing values side by side, one card per value with its evidence; "Attest this value"
(or a new value) signs an ATTESTATION whose targets are exactly the contested evidence, and
the belief leaves the list. Selecting a fork alert shows both forked events in full.

Snapshots of the beliefs are taken on the session's writer thread, the only thread that
advances the reducer, so they are consistent; the view refreshes on a 250 ms timer.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.store.belief_standing import contested_detail
from provara_desktop.ui.contested_cache import ContestedCache
from provara_desktop.ui.models.contested_model import ContestedModel, KeyRole
from provara_desktop.ui.models.evidence_model import EvidenceModel
from provara_desktop.ui.ops import run_op
from provara_desktop.ui.provenance_cache import Provenance
from provara_desktop.ui.views.contested_cards import ValueCard
from provara_desktop.ui.views.fork_view import ForkProofView

if TYPE_CHECKING:
    from PySide6.QtGui import QShowEvent

    from provara_desktop.runtime.bus import Changes
    from provara_desktop.session import VaultSession
    from provara_desktop.store.belief_standing import ContestedDetail, ContestedSummary
    from provara_desktop.ui.provenance_cache import ForkAlert

log = logging.getLogger(__name__)
_FORK_COLOR = QColor("#c2185b")


def _parse_value(text: str) -> Any:
    """A typed value: JSON when it parses (42, true, {"a": 1}, "quoted"), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Snapshot:
    def __init__(self, rows: list[ContestedSummary], forks: list[ForkAlert],
                 detail: ContestedDetail | None, beliefs_ready: bool, event_count: int,
                 annotations: Any = None) -> None:
        self.rows, self.forks, self.detail = rows, forks, detail
        self.beliefs_ready, self.event_count = beliefs_ready, event_count
        self.annotations = annotations  # the vault's, folded (core/annotations.Folded)


class ContestedView(QWidget):
    event_selected = Signal(str)  # an event id the user wants to see in the timeline
    attachment_requested = Signal(str, str)  # event id, sha256: look at an attachment
    attested = Signal(str)  # the new attestation's event id (after it is written)

    def __init__(self, session: VaultSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contestedView")
        self._session = session
        self.provenance = Provenance(session.vault)
        self._detail: ContestedDetail | None = None
        self._selected_key: str | None = None
        self._forks: list[ForkAlert] = []
        self._forked_ids: set[str] = set()
        self._dirty = True
        self._busy = False
        self._cache = ContestedCache()  # used on the writer thread only
        self._forks_upto = -1  # events already searched for forks (-1: none yet)

        # -- left: fork alerts, contested list
        self.fork_list = QListWidget(self)
        self.fork_list.setObjectName("forkList")
        self.fork_list.currentRowChanged.connect(self.on_fork_selected)
        forks_box = QGroupBox("Fork alerts — one actor signed two events on one predecessor",
                              self)
        forks_box.setObjectName("forkAlerts")
        QVBoxLayout(forks_box).addWidget(self.fork_list)
        self.model = ContestedModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.search = QLineEdit(self)
        self.search.setObjectName("contestedSearch")
        self.search.setPlaceholderText("Search contested beliefs")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.search.textChanged.connect(lambda _t: self._show_progress())
        self._found: Any = None  # the vault's annotations, folded at the last snapshot
        self.table = QTableView(self)
        self.table.setObjectName("contestedTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self.on_belief_selected)
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("contestedCount")
        self.progress_label = QLabel("", self)  # "312 of 480 contested beliefs reviewed, …"
        self.progress_label.setObjectName("reviewProgress")
        self.progress_label.setWordWrap(True)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(forks_box, 1)
        left_layout.addWidget(self.count_label)
        left_layout.addWidget(self.progress_label)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.table, 3)

        # -- right: belief page and fork page
        self.stack = QStackedWidget(self)
        self.header = QLabel("Select a contested belief to review its competing values.", self)
        self.header.setObjectName("contestedHeader")
        self.header.setWordWrap(True)
        self.cards_host = QWidget(self)
        self.cards_layout = QHBoxLayout(self.cards_host)
        self.cards_layout.addStretch(0)  # keeps the cards left-aligned; they take the width
        cards_scroll = QScrollArea(self)
        cards_scroll.setWidgetResizable(True)
        cards_scroll.setWidget(self.cards_host)
        self.new_value = QLineEdit(self)
        self.new_value.setObjectName("newValue")
        self.new_value.setPlaceholderText("or a new value (JSON or text)")
        self.new_value_button = QPushButton("Attest new value", self)
        self.new_value_button.setObjectName("attestNewValue")
        self.new_value_button.clicked.connect(self.on_attest_new_value)
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_value, 1)
        new_row.addWidget(self.new_value_button)
        self.result_label = QLabel("", self)
        self.result_label.setObjectName("attestResult")
        self.result_label.setWordWrap(True)
        belief_page = QWidget(self)
        bl = QVBoxLayout(belief_page)
        bl.addWidget(self.header)
        bl.addWidget(cards_scroll, 1)
        bl.addLayout(new_row)
        bl.addWidget(self.result_label)

        self.fork_view = ForkProofView(self.provenance, self)
        self.fork_view.event_selected.connect(self.event_selected)
        self.stack.addWidget(belief_page)
        self.stack.addWidget(self.fork_view)
        self._set_controls_enabled(False)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(self.stack)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.on_refresh_timer)
        self._timer.start()

    # -- refresh ---------------------------------------------------------------------------

    def on_changes(self, changes: Changes) -> None:
        if not (changes.events or changes.beliefs or changes.keys or changes.vault):
            return
        if changes.keys or (changes.first_new_pos is not None and changes.events):
            self.provenance.appended()
        if changes.first_new_pos is not None and 0 <= changes.first_new_pos < self._forks_upto:
            self._forks_upto = -1  # the log was rewritten from there: search it all again
        self._dirty = True
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._dirty and not self._timer.isActive():
            self._timer.start()

    def is_idle(self) -> bool:
        """No refresh pending or running (tests and status bars)."""
        return not self._dirty and not self._busy and not self._timer.isActive()

    def refresh(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def on_refresh_timer(self) -> None:
        if not self._dirty:
            return
        if self._busy:
            self._timer.start()  # one snapshot at a time; try again shortly
            return
        self._dirty = False
        self._busy = True
        key = self._selected_key
        session = self._session
        prov = self.provenance
        cache = self._cache
        known_forks, forks_upto = list(self._forks), self._forks_upto

        def job() -> _Snapshot:
            # Forks: grouped over the whole index once (and after a rewrite); afterwards
            # only the new events are looked at (a new fork needs a new event).
            count = session.vault.index.count()
            if forks_upto < 0 or count < forks_upto:
                forks = prov.forks()
            else:
                merged = {(f.actor, f.prev_event_hash): f for f in known_forks}
                new_rows = session.vault.index.query(after_pos=forks_upto - 1)
                for f in prov.forks_among(new_rows):
                    merged[(f.actor, f.prev_event_hash)] = f
                forks = sorted(merged.values(), key=lambda f: (f.actor, f.prev_event_hash or ""))
            reducer = session.beliefs()
            if reducer is None:
                return _Snapshot([], forks, None, False, count)
            forked = {r.event_id for f in forks for r in f.rows}
            rows = cache.summaries(reducer, session.vault, forked)
            detail = contested_detail(reducer, session.vault, key, forked) if key else None
            from provara_desktop.store.annotations import folded

            return _Snapshot(rows, forks, detail, True, count, folded(session.vault))

        run_op(self, lambda: session.submit(job)).success(self.on_snapshot).failure(
            self.on_snapshot_failed)

    def on_snapshot_failed(self, exc: BaseException) -> None:
        self._busy = False
        self.count_label.setText(f"Cannot read the contested beliefs: {exc}")

    def on_snapshot(self, snap: _Snapshot) -> None:
        self._busy = False
        self._forks_upto = snap.event_count
        self._set_forks(snap.forks)
        self.model.set_rows(snap.rows)
        n = len(snap.rows)
        self.count_label.setText(
            "Beliefs are being computed…" if not snap.beliefs_ready else
            f"{n} contested belief{'s' if n != 1 else ''}" if n else
            "No contested beliefs: the team agrees on everything recorded.")
        self._found = snap.annotations
        self._show_progress()
        if self._selected_key is not None and self.stack.currentIndex() == 0:
            if snap.detail is None and snap.beliefs_ready:
                self._show_resolved(self._selected_key)
            elif snap.detail is not None and (self._detail is None
                                              or snap.detail.by_value != self._detail.by_value):
                self._show_detail(snap.detail)
        self._reselect_row()

    def _show_progress(self) -> None:
        """Review progress over the contested beliefs listed (the search applied): "312 of
        480 contested beliefs reviewed, 41 need follow-up"; the tooltip, who reviewed what."""
        from provara_desktop.core.annotations import progress
        from provara_desktop.ui.models.contested_model import KeyRole

        keys = [str(self.proxy.index(r, 0).data(KeyRole)) for r in range(self.proxy.rowCount())]
        if self._found is None or not keys:
            self.progress_label.setText("")
            return
        review = progress(self._found, keys)
        scope = "" if not self.search.text() else " (these search results)"
        self.progress_label.setText(f"Review{scope}: {review['text']}")
        self.progress_label.setToolTip("\n".join(
            f"{who}: " + ", ".join(f"{len(keys)} {mark}" for mark, keys in marks.items())
            for who, marks in review["by_reviewer"].items()))

    # -- contested beliefs ------------------------------------------------------------------

    def _reselect_row(self) -> None:
        if self._selected_key is None:
            return
        row = self.model.row_of(self._selected_key)
        if row is None:
            return
        proxy_index = self.proxy.mapFromSource(self.model.index(row, 0))
        if proxy_index.isValid() and self.table.currentIndex().row() != proxy_index.row():
            self.table.selectionModel().blockSignals(True)
            self.table.selectRow(proxy_index.row())
            self.table.selectionModel().blockSignals(False)

    def on_belief_selected(self, current: Any, _previous: Any) -> None:
        key = self.proxy.data(current, KeyRole) if current.isValid() else None
        if not key:
            return
        self._selected_key = str(key)
        self._detail = None
        self.stack.setCurrentIndex(0)
        self.fork_list.blockSignals(True)
        self.fork_list.setCurrentRow(-1)
        self.fork_list.blockSignals(False)
        self.header.setText(f"Loading {key}…")
        self._clear_cards()
        self._set_controls_enabled(False)
        self.refresh()

    def _clear_cards(self) -> None:
        while self.cards_layout.count() > 1:
            item = self.cards_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def cards(self) -> list[ValueCard]:
        items = (self.cards_layout.itemAt(i) for i in range(self.cards_layout.count()))
        return [w for item in items
                if item is not None and isinstance(w := item.widget(), ValueCard)]

    def _show_detail(self, detail: ContestedDetail) -> None:
        self._detail = detail
        s = detail.summary
        canonical = ("" if detail.canonical_value is None else
                     f" The canonical value when it was contested: "
                     f"{json.dumps(detail.canonical_value)}.")
        why = ("Two or more sources disagree with enough confidence."
               if s.reason == "conflicts_with_local"
               else "New evidence disputes the canonical value.")
        self.header.setText(f"<b>{s.subject} : {s.predicate}</b> — {s.values} competing "
                            f"values, {s.evidence} pieces of evidence. {why}{canonical} "
                            "Attesting a value settles every piece of evidence listed "
                            "here.")
        self._clear_cards()
        canonical_json = (json.dumps(detail.canonical_value, sort_keys=True,
                                     separators=(",", ":"), ensure_ascii=False)
                          if detail.canonical_value is not None else None)
        for value_json, evidence in detail.by_value.items():
            model = EvidenceModel(self.provenance, evidence, self._forked_ids, self)
            card = ValueCard(value_json, model, value_json == canonical_json, self.cards_host,
                             attachments_of=self._attachments_of)
            card.attest_clicked.connect(self.on_attest_value)
            card.evidence_activated.connect(self.event_selected)
            card.attachment_requested.connect(self.attachment_requested)
            self.cards_layout.insertWidget(self.cards_layout.count() - 1, card, 1)
        self._set_controls_enabled(True)

    def _attachments_of(self, event_id: str) -> list[Any]:
        row = self.provenance.row(event_id)
        if row is None:
            return []
        try:
            return list(self.provenance.attachments(self.provenance.event(row)))
        except Exception:  # noqa: BLE001 - an unreadable event shows no attachment link
            return []

    def _show_resolved(self, key: str) -> None:
        self._detail = None
        self._clear_cards()
        self._set_controls_enabled(False)
        self.header.setText(f"{key} is no longer contested.")

    def _set_controls_enabled(self, on: bool) -> None:
        self.new_value.setEnabled(on)
        self.new_value_button.setEnabled(on)

    # -- resolving -------------------------------------------------------------------------

    def on_attest_value(self, value_json: str) -> None:
        self._attest(json.loads(value_json), chosen=value_json)

    def on_attest_new_value(self) -> None:
        text = self.new_value.text().strip()
        if not text:
            self.result_label.setText("Type the value to attest first.")
            return
        self._attest(_parse_value(text), chosen=None)

    def _attest(self, value: Any, *, chosen: str | None) -> None:
        detail = self._detail
        if detail is None:
            return
        s = detail.summary
        targets = detail.targets_for(chosen)
        self._set_controls_enabled(False)
        for card in self.cards():
            card.button.setEnabled(False)
        self.result_label.setText(f"Signing an attestation of {json.dumps(value)}…")

        def done(result: Any) -> None:
            eid = str(result.events[-1].get("event_id")) if result.events else ""
            self.result_label.setText(
                f"Attested {json.dumps(value)} for {s.key} in {eid}, settling "
                f"{len(targets)} piece(s) of contested evidence.")
            self.new_value.clear()
            self.refresh()
            self.attested.emit(eid)

        def failed(exc: BaseException) -> None:
            from provara_desktop.ui.errors import describe, show_exception

            self._set_controls_enabled(True)
            for card in self.cards():
                card.button.setEnabled(True)
            what, advice = describe(exc)
            self.result_label.setText(f"Not attested: {what} {advice}")
            show_exception(self, exc)

        run_op(self, lambda: self._session.attest(
            subject=s.subject, predicate=s.predicate, value=value,
            targets=targets)).success(done).failure(failed)

    # -- forks -----------------------------------------------------------------------------

    def _set_forks(self, forks: list[ForkAlert]) -> None:
        ids = {r.event_id for f in forks for r in f.rows}
        if ids == self._forked_ids and len(forks) == len(self._forks):
            return
        current = self.fork_list.currentRow()
        self._forks = forks
        self._forked_ids = ids
        self.fork_list.blockSignals(True)
        self.fork_list.clear()
        for f in forks:
            prev = f.prev_event_hash or "(no predecessor: two first events)"
            item = QListWidgetItem(f"⚠ FORK: {f.actor} signed {len(f.rows)} events on "
                                   f"{prev}")
            item.setForeground(_FORK_COLOR)
            item.setToolTip("Equivocation: one key holder told two different stories from the "
                            "same point of their chain. This is not a disagreement between "
                            "sources; both events are the proof.")
            self.fork_list.addItem(item)
        if 0 <= current < len(forks):
            self.fork_list.setCurrentRow(current)
        self.fork_list.blockSignals(False)

    def forks(self) -> list[ForkAlert]:
        return list(self._forks)

    def on_fork_selected(self, row: int) -> None:
        if not 0 <= row < len(self._forks):
            return
        self.table.selectionModel().blockSignals(True)
        self.table.clearSelection()
        self.table.selectionModel().blockSignals(False)
        self._selected_key = None
        self.stack.setCurrentIndex(1)
        self.fork_view.show_fork(self._forks[row])

    @property
    def fork_proofs(self) -> list[QPlainTextEdit]:
        return self.fork_view.proofs

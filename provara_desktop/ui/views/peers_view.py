"""The Peers tab: who is in view (mDNS and by address), paired or not, connected, the last
sync and what each side lacks; Sync now / Sync all with progress in phases and Cancel; the
history of sync sessions of the selected peer; diagnostics ("why can't I see Bob?");
pairing; and a notice when new evidence arrived.

All network work is net/app_peer.py's LanService on the app's asyncio loop: this view
submits, and renders what comes back through the GUI-thread inbox or what the running
sync's SyncProgress says (polled by a timer: STYLE rules 3 and 4). New events written by a
sync reach the other tabs through VaultSession.check_external, the window's external-change
path (the same one that notices the CLI's writes), never a replay here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.net.app_peer import PHASE_TEXT, SyncProgress
from provara_desktop.net.sync_session import PHASES
from provara_desktop.runtime.progress import CancelToken
from provara_desktop.ui.gui_thread_calls import Inbox
from provara_desktop.ui.models.peers_model import PeersModel, PeerStateRole
from provara_desktop.ui.settings import LAN_ENABLED

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.app_peer import LanService, PeerState, Snapshot
    from provara_desktop.net.refusals import Refusal
    from provara_desktop.net.sync_history import SyncRecord
    from provara_desktop.session import VaultSession
    from provara_desktop.ui.settings import Settings

log = logging.getLogger(__name__)
REFRESH_MS = 1500
PROGRESS_MS = 100
CHANGE_DEBOUNCE_MS = 150
REASONS = {
    "UNTRUSTED_PEER": "the peer does not trust your key, or you do not trust its key: pair "
                      "with it first (Pair…)",
    "UNEXPECTED_PEER": "someone else answers at that address now",
    "CONNECT": "the peer cannot be reached at its address",
    "VAULT_MISMATCH": "the peer holds another vault, not this one",
    "BATCH_REFUSED": "events the peer sent did not verify, and were refused whole",
    "CANCELLED": "you cancelled it; what was committed before stays",
}


def _error_of(f: Future[Any]) -> BaseException | None:
    """The future's exception; a cancelled one (the loop stopped: the app quits) is one
    too, never a raise inside a done-callback."""
    if f.cancelled():
        from concurrent.futures import CancelledError

        return CancelledError("stopped")
    return f.exception()


def _log_failure(f: Future[Any]) -> None:
    exc = _error_of(f)
    if exc is not None:
        log.warning("cannot read the synced events: %s", exc)


def _titled(parent: QSplitter, title: str, widget: QWidget) -> None:
    """``widget`` under a one-line title, as the next pane of ``parent``."""
    box = QWidget(parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(QLabel(title, box))
    widget.setParent(box)
    layout.addWidget(widget)


def stop_reason(record: SyncRecord) -> str:
    """The plain sentence shown when a sync stops or a peer is refused."""
    head = REASONS.get(record.error_code or "", "")
    detail = record.error or "it stopped"
    return f"Sync stopped: {head}. ({detail})" if head else f"Sync stopped: {detail}"


class PeersView(QWidget):
    evidence_arrived = Signal(str)  # a one-line message: new evidence from a peer
    status_message = Signal(str)

    def __init__(self, session: VaultSession | None, parent: QWidget | None = None, *,
                 lan: LanService | None = None, settings: Settings | None = None,
                 key_provider: Callable[[], SigningKey | None] = lambda: None,
                 name_provider: Callable[[], str] = lambda: "",
                 offer_host: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("peersView")
        self.session, self.lan, self.settings = session, lan, settings
        self.key_provider, self.name_provider = key_provider, name_provider
        # Pairing offers listen where the peer listens (all addresses, or loopback only).
        self.offer_host = offer_host or (lan.options.host if lan is not None else "0.0.0.0")
        self._inbox = Inbox(self)
        self._started_for: tuple[str, str] | None = None
        self._starting = False
        self._snapshot_pending = False
        self.snapshot: Snapshot | None = None
        self.progress: SyncProgress | None = None
        self.cancel_token: CancelToken | None = None
        self._queue: list[PeerState] = []
        self.last_record: SyncRecord | None = None
        self.dialog: QWidget | None = None
        self._build()
        if lan is not None:
            lan.on_change = lambda: self._inbox.call(self.on_lan_changed)
            lan.on_evidence = lambda rec: self._inbox.call(self.on_evidence, rec)
        self._refresh = QTimer(self)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self.on_refresh_timer)
        self._refresh.start()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(CHANGE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.request_snapshot)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self.on_progress_timer)
        QTimer.singleShot(0, self.on_refresh_timer)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        self.state_label = QLabel("", self)
        self.state_label.setObjectName("lanState")
        self.state_label.setWordWrap(True)
        self.lan_toggle = QCheckBox("LAN sync on", self)
        self.lan_toggle.setObjectName("lanToggle")
        self.lan_toggle.setChecked(self._enabled())
        self.lan_toggle.toggled.connect(self.on_lan_toggled)
        top.addWidget(self.state_label, 1)
        top.addWidget(self.lan_toggle)
        outer.addLayout(top)

        self.banner = QLabel("", self)
        self.banner.setObjectName("peersBanner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        outer.addWidget(self.banner)

        buttons = QHBoxLayout()
        self.sync_button = self._button("Sync now", "syncNow", self.on_sync_now, buttons)
        self.sync_all_button = self._button("Sync all", "syncAll", self.on_sync_all, buttons)
        self.pair_button = self._button("Pair…", "pairButton", self.on_pair, buttons)
        self.add_button = self._button("Add peer by address…", "addPeer", self.on_add_peer,
                                       buttons)
        buttons.addStretch(1)
        outer.addLayout(buttons)

        self.progress_box = QWidget(self)
        self.progress_box.setObjectName("syncProgressBox")
        pl = QHBoxLayout(self.progress_box)
        pl.setContentsMargins(0, 0, 0, 0)
        self.phase_label = QLabel("", self.progress_box)
        self.phase_label.setObjectName("syncPhase")
        self.phase_bar = QProgressBar(self.progress_box)
        self.phase_bar.setObjectName("syncPhaseBar")
        self.phase_bar.setRange(0, len(PHASES))
        self.phase_bar.setFormat("%v of %m phases")
        self.cancel_button = QPushButton("Cancel", self.progress_box)
        self.cancel_button.setObjectName("cancelSync")
        self.cancel_button.clicked.connect(self.on_cancel)
        pl.addWidget(self.phase_label, 1)
        pl.addWidget(self.phase_bar, 1)
        pl.addWidget(self.cancel_button)
        self.progress_box.hide()
        outer.addWidget(self.progress_box)
        self.reason_label = QLabel("", self)
        self.reason_label.setObjectName("syncReason")
        self.reason_label.setWordWrap(True)
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.reason_label)

        split = QSplitter(Qt.Orientation.Vertical, self)
        self.model = PeersModel(self)
        self.table = QTableView(split)
        self.table.setObjectName("peersTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setResizeContentsPrecision(0)
        self.table.selectionModel().selectionChanged.connect(self.on_selection)
        lower = QSplitter(Qt.Orientation.Horizontal, split)
        self.history = QListWidget()
        self.history.setObjectName("syncHistory")
        _titled(lower, "Sync history of the selected peer", self.history)
        self.diagnostics = QPlainTextEdit()
        self.diagnostics.setObjectName("peersDiagnostics")
        self.diagnostics.setReadOnly(True)
        _titled(lower, "Diagnostics: why can't I see a peer?", self.diagnostics)
        self.refused = QListWidget()
        self.refused.setObjectName("refusedConnections")
        self.refused.setWordWrap(True)
        _titled(lower, "Connections you refused", self.refused)
        outer.addWidget(split, 1)
        self._update_buttons()

    def _button(self, text: str, name: str, slot: Callable[[], None],
                layout: QHBoxLayout) -> QPushButton:
        b = QPushButton(text, self)
        b.setObjectName(name)
        b.clicked.connect(slot)
        layout.addWidget(b)
        return b

    def _enabled(self) -> bool:
        return self.settings.get(LAN_ENABLED) if self.settings is not None else True

    # -- running the peer -------------------------------------------------------------------

    def on_lan_toggled(self, on: bool) -> None:
        if self.settings is not None:
            self.settings.set(LAN_ENABLED, on)
        if not on and self.lan is not None:
            self._started_for = None
            self.lan.stop_peer()
            self.snapshot = None
            self.model.set_rows([])
            log.info("LAN sync turned off: this app no longer listens or announces")
        self.on_refresh_timer()

    def _ensure_peer(self) -> None:
        lan, session = self.lan, self.session
        if lan is None:
            self.state_label.setText("LAN sync is not available in this window.")
            return
        if not self._enabled():
            self.state_label.setText("LAN sync is off: this app neither listens nor "
                                     "announces. Tick “LAN sync on” to take part.")
            return
        if session is None:
            self.state_label.setText("No vault is open.")
            return
        key = self.key_provider()
        if key is None:
            self.state_label.setText("Unlock your identity (Ctrl+L) to take part in LAN "
                                     "sync: its key proves who you are to your peers.")
            return
        want = (str(session.vault.root), key.key_id)
        if self._started_for == want or self._starting:
            return
        self._starting = True
        self.state_label.setText("Starting the LAN peer…")

        def done(f: Future[Any]) -> None:
            exc = _error_of(f)
            self._inbox.call(self._on_started, want, exc)

        lan.start_for(session.vault.root, key, self.name_provider()).add_done_callback(done)

    def _on_started(self, want: tuple[str, str], exc: BaseException | None) -> None:
        self._starting = False
        if exc is not None:
            self.state_label.setText(f"The LAN peer could not start: {exc}")
            log.warning("the LAN peer could not start: %s", exc)
            return
        self._started_for = want
        self.request_snapshot()

    def shutdown(self) -> None:
        """The window retires this view (another vault, or closing): stop its timers; the
        service is stopped by app.py, or restarted for the next vault by the next view."""
        for t in (self._refresh, self._debounce, self._progress_timer):
            t.stop()
        if self.cancel_token is not None:
            self.cancel_token.cancel()

    # -- snapshots --------------------------------------------------------------------------

    def on_refresh_timer(self) -> None:
        # The peer runs whether or not this tab is shown; its table refreshes only while
        # shown (changes still refresh it at once, see on_lan_changed).
        self._ensure_peer()
        if self._started_for is not None and (self.isVisible() or self.snapshot is None):
            self.request_snapshot()

    def on_lan_changed(self) -> None:
        self._debounce.start()

    def request_snapshot(self) -> None:
        if self.lan is None or self._snapshot_pending or self._started_for is None:
            return
        self._snapshot_pending = True

        def done(f: Future[Snapshot | None]) -> None:
            exc = _error_of(f)
            self._inbox.call(self._on_snapshot, None if exc else f.result(), exc)

        self.lan.snapshot().add_done_callback(done)

    def _on_snapshot(self, snap: Snapshot | None, exc: BaseException | None) -> None:
        self._snapshot_pending = False
        if exc is not None:
            log.warning("cannot read the peers in view: %s", exc)
            return
        if snap is None:
            return
        self.snapshot = snap
        first = self.model.rowCount() == 0
        self.model.set_rows(snap.peers)
        # A few rows: fit the columns once, unless the window restored the user's widths.
        restored = (self.settings is not None
                    and not self.settings.header_state("Peers/peersTable").isEmpty())
        if first and snap.peers and not restored:
            self.table.resizeColumnsToContents()
        listening = snap.listening or "not listening"
        d = snap.diagnostics
        disc = ("discovery announcing and browsing" if d.get("browsing") else
                "discovery off")
        refused = (f" · {len(snap.refused)} connection(s) refused" if snap.refused else "")
        self.state_label.setText(f"Listening on {listening} · {disc} · "
                                 f"{len(snap.peers)} peer(s){refused}")
        self.diagnostics.setPlainText("\n".join(self._diagnostic_lines(snap)))
        self._show_refused(snap.refused)
        self.on_selection()
        self._update_buttons()

    def _show_refused(self, refused: tuple[Refusal, ...]) -> None:
        """Who knocked and was turned away, newest first, with why: the answer to "Carol
        says she cannot sync with me" on this side."""
        self.refused.clear()
        if not refused:
            self.refused.addItem("none since LAN sync started")
            return
        for r in refused:
            who = f"{r.address}" + (f", key {r.key_id}" if r.key_id else "")
            times = f" ({r.count} times, the last at {r.at})" if r.count > 1 else f" at {r.at}"
            self.refused.addItem(f"{who}{times}: {r.reason}")

    @staticmethod
    def _diagnostic_lines(snap: Snapshot) -> list[str]:
        d = snap.diagnostics
        lines = [f"Listening for peers on {snap.listening or '—'}"]
        mode = ("the system's choice" if d.get("mode") == "default"
                else "the addresses chosen")
        lines.append(f"Interfaces ({mode}, {d.get('ip_version')}):")
        for i in d.get("interfaces", []):
            state = "joined" if i.get("joined") else f"NOT joined: {i.get('problem')}"
            lines.append(f"  {i.get('address')}: {state}")
        if not d.get("interfaces"):
            lines.append("  none")
        lines.append(f"Multicast answers received: {d.get('multicast_answers', 0)} (our own "
                     f"echo: {d.get('own_echoes', 0)}; from Provara peers: "
                     f"{d.get('provara_answers', 0)})")
        lines.append(f"Last answer: {d.get('last_answer_utc') or 'none yet'}")
        lines.append(f"Announcing: {'yes' if d.get('announcing') else 'no'} · browsing: "
                     f"{'yes' if d.get('browsing') else 'no'} · peers added by address: "
                     f"{d.get('manual_peers', 0)}")
        lines += [f"Error: {e}" for e in d.get("errors", [])]
        lines += [f"Hint: {h}" for h in d.get("hints", [])]
        lines += [f"Note: {n}" for n in snap.notes]
        return lines

    # -- selection and history ---------------------------------------------------------------

    def selected(self) -> PeerState | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        row = rows[0].data(PeerStateRole)
        return row if row is not None else None

    def select_peer(self, ident: str) -> None:
        i = self.model.row_of(ident)
        if i >= 0:
            self.table.selectRow(i)

    def on_selection(self, *_args: Any) -> None:
        row = self.selected()
        self.history.clear()
        if row is not None:
            for rec in row.history:
                self.history.addItem(rec.describe())
            if not row.history:
                self.history.addItem("no sync with this peer yet")
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self._started_for is not None
        busy = self.progress is not None
        row = self.selected()
        self.sync_button.setEnabled(running and not busy and row is not None)
        self.sync_all_button.setEnabled(running and not busy)
        self.pair_button.setEnabled(self.lan is not None and self._enabled()
                                    and self.key_provider() is not None)
        self.add_button.setEnabled(running)

    # -- sync ---------------------------------------------------------------------------------

    def on_sync_now(self) -> None:
        row = self.selected()
        if row is not None:
            self.sync_peers([row])

    def on_sync_all(self) -> None:
        rows = [r for r in self.model.rows() if r.trust in ("trusted", "paired")
                and r.addresses]
        if not rows:
            self.reason_label.setText("No paired peer with a known address to sync with: "
                                      "pair with one (Pair…), or add it by address.")
            return
        self.sync_peers(rows)

    def sync_peers(self, rows: list[PeerState]) -> None:
        if self.lan is None or self.progress is not None:
            return
        self._queue = list(rows)
        self._next_sync()

    def _next_sync(self) -> None:
        if not self._queue or self.lan is None:
            self.progress = self.cancel_token = None
            self._progress_timer.stop()
            self.progress_box.hide()
            self._update_buttons()
            return
        row = self._queue.pop(0)
        self.progress, self.cancel_token = SyncProgress(), CancelToken()
        self.reason_label.setText("")
        self.phase_label.setText(f"{row.name}: connecting")
        self.phase_bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.progress_box.show()
        self._progress_timer.start()
        self._update_buttons()

        def done(f: Future[SyncRecord]) -> None:
            exc = _error_of(f)
            self._inbox.call(self._on_synced, row, None if exc else f.result(), exc)

        self.lan.sync(row, self.progress, self.cancel_token).add_done_callback(done)

    def on_progress_timer(self) -> None:
        p = self.progress
        if p is None:
            return
        step = PHASES.index(p.phase) + 1 if p.phase in PHASES else 0
        self.phase_bar.setValue(step)
        text = PHASE_TEXT.get(p.phase, p.phase)
        gap = f" · {p.gap.describe()[0]}" if p.gap is not None and p.phase == "transfer" else ""
        self.phase_label.setText(f"{text}{': ' + p.detail if p.detail else ''}{gap}")

    def on_cancel(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self._queue.clear()  # Cancel during Sync all stops the rest too
            self.cancel_button.setEnabled(False)
            self.phase_label.setText("cancelling…")

    def _on_synced(self, row: PeerState, record: SyncRecord | None,
                   exc: BaseException | None) -> None:
        if exc is not None:
            self.reason_label.setText(f"Sync with {row.name} could not run: {exc}")
            log.warning("sync with %s could not run: %s", row.name, exc)
        elif record is not None:
            self.last_record = record
            if record.ok:
                self.reason_label.setText(
                    f"Synced with {row.name}: received {record.received}, sent "
                    f"{record.sent}, held back {record.held_back} (keys you do not trust), "
                    f"{record.forks} fork(s), {record.duration_ms} ms")
            else:
                self.reason_label.setText(f"{row.name}: {stop_reason(record)}")
                log.warning("sync with %s stopped: %s", row.name, record.error)
        self.request_snapshot()
        self._next_sync()

    # -- new evidence ---------------------------------------------------------------------------

    def on_evidence(self, record: SyncRecord) -> None:
        """Events from a peer were written: have the views pick them up through the
        session's external-change path, and tell the user."""
        name = record.name or next((r.name for r in self.model.rows()
                                    if r.ident == record.peer), record.peer)
        text = (f"New evidence from {name}: {record.received} event"
                f"{'' if record.received == 1 else 's'} arrived"
                + (f", {record.forks} fork(s) to look at" if record.forks else ""))
        log.info("%s", text)
        self.banner.setText(text)
        self.banner.show()
        self.evidence_arrived.emit(text)
        session = self.session
        if session is not None and not session.closed:
            session.check_external().add_done_callback(_log_failure)

    # -- pairing and manual peers --------------------------------------------------------------

    def on_pair(self) -> None:
        key = self.key_provider()
        if self.lan is None or key is None:
            return
        from provara_desktop.ui.dialogs.pairing_dialog import PairingDialog

        dialog = PairingDialog(self.lan, key, self.name_provider(), self,
                               peers=[r for r in self.model.rows() if r.addresses],
                               offer_host=self.offer_host)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.paired.connect(lambda _p: self.request_snapshot())
        self.dialog = dialog
        dialog.open()

    def on_add_peer(self) -> None:
        text, ok = QInputDialog.getText(self, "Add peer by address",
                                        "The peer's HOST:PORT (where multicast is blocked):")
        if ok and text.strip():
            self.add_peer(text.strip())

    def add_peer(self, address: str) -> None:
        if self.lan is None:
            return
        try:
            fut = self.lan.add_manual(address)
        except ProvaraDesktopError as exc:
            self.reason_label.setText(str(exc))
            return

        def done(f: Future[None]) -> None:
            exc = _error_of(f)
            self._inbox.call(self._on_added, address, exc)

        fut.add_done_callback(done)

    def _on_added(self, address: str, exc: BaseException | None) -> None:
        if exc is not None:
            self.reason_label.setText(f"Cannot add {address}: {exc}")
            return
        self.reason_label.setText(f"Added {address}; its key is known after the first sync.")
        self.request_snapshot()

    def on_changes(self, _changes: Any) -> None:
        """Bus events (the window forwards them to every view): nothing to redraw here."""

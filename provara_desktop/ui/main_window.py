"""The investigator's main window: tabs (Beliefs, Contested, Timeline, Verify, Peers), menus with
standard shortcuts, a status bar (vault, identity, last verification) and the log panel.

Services come in as keyword arguments from app.py (the composition root); the window owns
the current VaultSession and replaces it when another vault is opened. Bus events arrive
through the bridge on the GUI thread and are forwarded to every view's ``on_changes``; each
view only marks itself dirty and refreshes on its own timer (STYLE rule 2). First launch,
identity and opening vaults live in the base class (ui/vault_lifecycle.py).
"""

from __future__ import annotations

import importlib
import logging
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QTableView,
    QTabWidget,
    QToolButton,
    QWidget,
)

from provara_desktop.runtime.bus import VaultChanged
from provara_desktop.session import VaultSession
from provara_desktop.ui import theme
from provara_desktop.ui.errors import show_exception
from provara_desktop.ui.log_panel import LogPanel, install_handler
from provara_desktop.ui.models.problems_model import rows_from_report, tally
from provara_desktop.ui.ops import run_op
from provara_desktop.ui.settings import (
    CURRENT_TAB,
    THEME,
    WINDOW_GEOMETRY,
    WINDOW_STATE,
)
from provara_desktop.ui.vault_lifecycle import VaultLifecycle

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.app_peer import LanService
    from provara_desktop.runtime.bus import EventBus
    from provara_desktop.store.identity import Identity, IdentityStore
    from provara_desktop.store.vault import Vault
    from provara_desktop.ui.bridge import QtBridge
    from provara_desktop.ui.log_panel import DequeHandler
    from provara_desktop.ui.settings import Settings

log = logging.getLogger(__name__)
TAB_NAMES = ("Beliefs", "Contested", "Timeline", "Verify", "Peers")
GUARDED_VIEWS = ("contested_view", "timeline_view")  # built by _guarded_view
# Every module _make_views imports, imported before the first paint (_preload_views).
VIEW_MODULES = ("beliefs_view", "verify_view", "peers_view", *GUARDED_VIEWS)
BUNDLE_SUFFIX = ".provara-bundle"
EXTERNAL_POLL_MS = 2000


class MainWindow(VaultLifecycle):
    def __init__(self, *, bus: EventBus, bridge: QtBridge, settings: Settings,
                 identity_store: IdentityStore, session: VaultSession | None = None,
                 log_handler: DequeHandler | None = None,
                 session_factory: Callable[[Vault], VaultSession] | None = None,
                 lan: LanService | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("provara-desktop")
        self.setAcceptDrops(True)
        self.bus, self.bridge, self.settings = bus, bridge, settings
        # Each vault the user opens gets its own session on the one bus (app.py decides how
        # sessions are made; tests and the default build them the same way).
        self._new_session = session_factory or (lambda v: VaultSession(v, bus=bus))
        self.identity_store = identity_store
        self.lan = lan  # the app's LAN peer (net/app_peer.py); None: the Peers tab says so
        self.home = identity_store.home
        self.session: VaultSession | None = None
        self.key: SigningKey | None = None
        self.identity: Identity | None = (identity_store.load() if identity_store.exists()
                                          else None)
        self.views: dict[str, QWidget] = {}
        self._poll_pending = False
        self._dialog: QWidget | None = None  # the evidence dialog open now (tests find it)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self._placeholders()
        self.log_panel = LogPanel(log_handler or install_handler(), self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_panel)
        self.log_panel.hide()
        self._build_status_bar()
        self._build_evidence_banner()
        self._build_menus()
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):  # Qt >= 6.5
            hints.colorSchemeChanged.connect(self.on_color_scheme_changed)
        bridge.event_received.connect(self.on_bus_event)
        self._poll = QTimer(self)
        self._poll.setInterval(EXTERNAL_POLL_MS)
        self._poll.timeout.connect(self.on_poll_timer)
        self.resize(1200, 760)
        self._restore_window_state()
        self.evidence_banner.hide()  # a notice is never restored from the last run
        self._preload_views()
        if session is not None:
            self.set_session(session)
        self.update_status()

    # -- layout --------------------------------------------------------------------------------

    def _placeholders(self) -> None:
        for name in TAB_NAMES:
            label = QLabel("No vault is open. Use File › Open vault… (Ctrl+O) or "
                           "File › New vault…", self.tabs)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setObjectName(f"placeholder{name}")
            self.tabs.addTab(label, name)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.vault_label = QLabel("No vault", bar)
        self.vault_label.setObjectName("vaultStatus")
        # a long vault path must not force a wide window: it is cut, and whole in the tooltip
        self.vault_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.identity_button = QToolButton(bar)
        self.identity_button.setObjectName("identityStatus")
        self.identity_button.setAutoRaise(True)
        self.identity_button.clicked.connect(self.on_toggle_lock)
        self.verify_label = QLabel("Not verified", bar)
        self.verify_label.setObjectName("verifyStatus")
        # Until the recovery file is stored away (or when there is no recovery key at all).
        self.recovery_button = QToolButton(bar)
        self.recovery_button.setObjectName("recoveryWarning")
        self.recovery_button.setAutoRaise(True)
        self.recovery_button.setStyleSheet(f"color: {theme.accent('warning').name()}")
        self.recovery_button.clicked.connect(self.on_recovery_warning)
        self.recovery_button.hide()
        # A hub caught withholding, rolling back or showing two logs (docs/TOPOLOGIES.md):
        # the alerts this vault records, each with the hub's signed notes as proof.
        self.hub_alert_button = QToolButton(bar)
        self.hub_alert_button.setObjectName("hubAlerts")
        self.hub_alert_button.setAutoRaise(True)
        self.hub_alert_button.setStyleSheet(f"color: {theme.accent('error').name()}")
        self.hub_alert_button.clicked.connect(self.on_hub_alerts)
        self.hub_alert_button.hide()
        self._hub_alerts_at: tuple[object, int] | None = None
        self.topology_dialog: QWidget | None = None  # Vault › Topology…, while open
        self.attachment_dialog: QWidget | None = None  # the last attachment looked at
        self.partial_label = QLabel(bar)  # under a federation contract (docs/FEDERATION.md)
        self.partial_label.setObjectName("partialReplica")
        self.partial_label.hide()
        self._partial_at: tuple[object, int] | None = None
        bar.addPermanentWidget(self.vault_label, 1)
        bar.addPermanentWidget(self.hub_alert_button)
        bar.addPermanentWidget(self.partial_label)
        bar.addPermanentWidget(self.recovery_button)
        bar.addPermanentWidget(self.identity_button)
        bar.addPermanentWidget(self.verify_label)

    def _build_evidence_banner(self) -> None:
        """An in-window notice (no tray icon) when a peer's sync brought new evidence."""
        from PySide6.QtWidgets import QToolBar

        bar = QToolBar("New evidence", self)
        bar.setObjectName("evidenceBanner")
        bar.setMovable(False)
        self.evidence_label = QLabel("", bar)
        self.evidence_label.setObjectName("evidenceBannerText")
        bar.addWidget(self.evidence_label)
        bar.addAction("Show peers", lambda: self.tabs.setCurrentIndex(TAB_NAMES.index("Peers")))
        bar.addAction("Dismiss", bar.hide)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        bar.hide()
        self.evidence_banner = bar

    def on_new_evidence(self, text: str) -> None:
        self.evidence_label.setText(text)
        self.evidence_banner.show()
        self.statusBar().showMessage(text, 15000)

    def _action(self, menu: Any, text: str, slot: Callable[[], Any], *,
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
                name: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if name:
            act.setObjectName(name)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        K = QKeySequence.StandardKey  # noqa: N806 - reads like the Qt enum it is
        mb = self.menuBar()
        file = mb.addMenu("&File")
        self.act_new_identity = self._action(file, "New &identity…", self.on_new_identity,
                                             name="actNewIdentity")
        self.act_lock = self._action(file, "&Unlock identity…", self.on_toggle_lock,
                                     shortcut="Ctrl+L", name="actLock")
        file.addSeparator()
        self.act_new_vault = self._action(file, "&New vault…", self.on_new_vault,
                                          shortcut="Ctrl+Shift+N", name="actNewVault")
        self.act_open_vault = self._action(file, "&Open vault…", self.on_open_vault,
                                           shortcut=K.Open, name="actOpenVault")
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file.addSeparator()
        self.act_export = self._action(file, "&Export bundle…", self.on_export_bundle,
                                       shortcut="Ctrl+E", name="actExport")
        self.act_import = self._action(file, "&Import bundle…", self.on_import_bundle,
                                       shortcut="Ctrl+I", name="actImport")
        self.act_report = self._action(file, "Evidence &report…", self.on_evidence_report,
                                       name="actReport")
        self.act_export_csv = self._action(file, "Export this &table as CSV…",
                                           self.on_export_csv, name="actExportCsv")
        self.act_trusted_keys = self._action(file, "&Trusted keys…", self.on_trusted_keys,
                                             name="actTrustedKeys")
        self.act_pair = self._action(file, "&Pair with a peer…", self.on_pair_peer,
                                     name="actPair")
        self.act_vault_keys = self._action(file, "&Keys of this vault…", self.on_vault_keys,
                                           name="actVaultKeys")
        # (a lambda: triggered's `checked` must not land in on_rotate_key's boundary)
        self.act_rotate_key = self._action(file, "Rotate &my key…",
                                           lambda: self.on_rotate_key(), name="actRotateKey")
        self.act_add_device = self._action(file, "Add a &device…", self.on_add_device,
                                           name="actAddDevice")
        self.act_passphrase = self._action(file, "Change &passphrase…",
                                           self.on_change_passphrase,
                                           name="actChangePassphrase")
        file.addSeparator()
        self.act_quit = self._action(file, "&Quit", self.close, shortcut="Ctrl+Q",
                                     name="actQuit")
        self.act_quit.setMenuRole(QAction.MenuRole.QuitRole)

        ev = mb.addMenu("&Evidence")
        self.act_observe = self._action(ev, "&Observe…", self.on_observe, shortcut=K.New,
                                        name="actObserve")
        self.act_attest = self._action(ev, "&Attest…", self.on_attest, shortcut="Ctrl+T",
                                       name="actAttest")
        self.act_retract = self._action(ev, "&Retract…", self.on_retract,
                                        shortcut="Ctrl+Shift+R", name="actRetract")

        view = mb.addMenu("&View")
        for i, name in enumerate(TAB_NAMES):
            self._action(view, f"&{name}", partial(self.tabs.setCurrentIndex, i),
                         shortcut=f"Ctrl+{i + 1}", name=f"actTab{name}")
        view.addSeparator()
        self.act_log = self.log_panel.toggleViewAction()
        self.act_log.setText("&Log panel")
        self.act_log.setShortcut(QKeySequence("Ctrl+Shift+L"))
        view.addAction(self.act_log)
        theme_menu = view.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        current = self.settings.get(THEME)
        for name in theme.THEMES:
            act = QAction(name.capitalize(), self, checkable=True)
            act.setObjectName(f"actTheme{name.capitalize()}")
            act.setChecked(name == current)
            act.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            group.addAction(act)
            theme_menu.addAction(act)
            self.theme_actions[name] = act

        vault = mb.addMenu("&Vault")
        self.act_verify = self._action(vault, "&Verify", self.on_verify, shortcut=K.Refresh,
                                       name="actVerify")
        if self.act_verify.shortcut() != QKeySequence("F5"):
            self.act_verify.setShortcuts([self.act_verify.shortcut(), QKeySequence("F5")])
        self.act_reindex = self._action(vault, "&Reindex", self.on_reindex, name="actReindex")
        self.act_topology = self._action(vault, "&Topology…", self.on_topology,
                                         name="actTopology")

        help_menu = mb.addMenu("&Help")
        self._action(help_menu, "&About provara-desktop", self.on_about, name="actAbout")
        self._update_actions()

    def _update_actions(self) -> None:
        has_vault = self.session is not None
        for act in (self.act_observe, self.act_attest, self.act_retract, self.act_verify,
                    self.act_reindex, self.act_topology, self.act_export, self.act_import,
                    self.act_report, self.act_pair, self.act_export_csv):
            act.setEnabled(has_vault)
        self.act_lock.setText("&Lock identity" if self.key is not None else
                              "&Unlock identity…")
        self.act_lock.setEnabled(self.identity is not None)

    # -- the session ---------------------------------------------------------------------------

    def set_session(self, session: VaultSession) -> None:
        """Show ``session``'s vault in every tab (the previous session is closed)."""
        old, self.session = self.session, session
        current = self.tabs.currentIndex()
        self._retire_views()
        self.views = self._make_views(session)
        while self.tabs.count():
            w = self.tabs.widget(0)
            self.tabs.removeTab(0)
            if w is not None:
                w.deleteLater()
        for name in TAB_NAMES:
            self.tabs.addTab(self.views[name], name)
        self.tabs.setCurrentIndex(max(0, current))
        if old is not None:
            old.close()
        if self.key is not None and self.identity is not None:
            session.unlock(self.key, self.identity.actor, self.identity)
        if session.beliefs() is None:
            session.start()
        self._warm_key_life(session)
        self.settings.add_recent_vault(str(session.vault.root))
        self.setWindowTitle(f"{session.vault.root.name} — provara-desktop")
        for note in session.vault.notes:
            log.warning("%s: %s", session.vault.root, note)
        self._alert_loss()
        self._poll.start()
        self._update_actions()
        self.update_status()

    @staticmethod
    def _warm_key_life(session: VaultSession) -> None:
        """In a vault with a revoked or rotated key, every view's provenance check asks the
        key life, whose first computation walks the revoked key's chain (seconds at 1M
        events): do it now on the query thread, so no view asks first on the GUI thread."""
        keys = session.vault.keys_doc.get("keys", [])
        if any(isinstance(k, dict) and k.get("status") in ("revoked", "rotated") for k in keys):
            from provara_desktop.store import vault_keys

            session.query(lambda: vault_keys.key_life(session.vault))

    def _retire_views(self) -> None:
        """Save the views' state and stop their refresh timers: a view about to be deleted
        must not refresh against a session that is being closed."""
        self._save_view_state()
        for view in self.views.values():
            for timer in view.findChildren(QTimer):
                timer.stop()
            # Views with threads of their own (the timeline's fetcher) stop them and wait:
            # they are deleted soon after, and their thread must not outlive them.
            shutdown = getattr(view, "shutdown", None)
            if callable(shutdown):
                shutdown()
            view.setEnabled(False)

    def _make_views(self, session: VaultSession) -> dict[str, QWidget]:
        from provara_desktop.ui.views.beliefs_view import BeliefsView
        from provara_desktop.ui.views.verify_view import VerifyView

        beliefs = BeliefsView(session, self.tabs)
        contested = self._guarded_view("contested_view", "ContestedView", session)
        timeline = self._guarded_view("timeline_view", "TimelineView", session)
        verify = VerifyView(session, self.tabs)
        from provara_desktop.ui.views.peers_view import PeersView

        peers = PeersView(session, self.tabs, lan=self.lan, settings=self.settings,
                          key_provider=lambda: self.key,
                          name_provider=lambda: self.identity.name if self.identity else "")
        peers.evidence_arrived.connect(self.on_new_evidence)
        for v in (beliefs, contested, verify):
            signal = getattr(v, "event_selected", None)
            if signal is not None:
                signal.connect(self.show_event)
        if hasattr(timeline, "event_selected"):
            timeline.event_selected.connect(self.on_timeline_event_selected)
        if hasattr(timeline, "vouch_requested"):
            timeline.vouch_requested.connect(lambda eid: self.on_rotate_key(boundary=eid))
        if hasattr(timeline, "annotate_requested"):
            timeline.annotate_requested.connect(self.on_annotate)
        for v in (timeline, contested):  # their inspector and evidence cards link to them
            if hasattr(v, "attachment_requested"):
                v.attachment_requested.connect(self.on_attachment)
        beliefs.attest_requested.connect(lambda key: self.on_attest(key=key))
        beliefs.observe_requested.connect(self.on_observe)
        beliefs.import_requested.connect(self.on_import_bundle)
        beliefs.peers_requested.connect(lambda: self.tabs.setCurrentWidget(peers))
        beliefs.retract_requested.connect(lambda key: self.on_retract(key=key))
        views: dict[str, QWidget] = {"Beliefs": beliefs, "Contested": contested,
                                     "Timeline": timeline, "Verify": verify, "Peers": peers}
        for name, view in views.items():
            for table, key in self._tables_of(name, view):
                state = self.settings.header_state(key)
                if not state.isEmpty():
                    table.horizontalHeader().restoreState(state)
        return views

    @staticmethod
    def _tables_of(name: str, view: QWidget) -> list[tuple[QTableView, str]]:
        """Every named table of a view, with the settings key of its column state: widths,
        order and sort of every table in every tab are kept, whoever built the tab."""
        return [(t, f"{name}/{t.objectName()}") for t in view.findChildren(QTableView)
                if t.objectName()]

    @staticmethod
    def _preload_views() -> None:
        """Import every view's module now, before the first paint: imported as the vault
        opened (set_session), the guarded views were half of a 120 ms stall just after it,
        and the Beliefs, Verify and Peers views (with the Peers tab's net modules) later
        took set_session from ~40 to ~110 ms on an idle machine, the bulk of the 110-180
        ms start-up stall at a million events. A module that fails here fails again in
        _guarded_view, which shows why in its tab."""
        for module in VIEW_MODULES:
            try:
                importlib.import_module(f"provara_desktop.ui.views.{module}")
            except Exception:  # noqa: BLE001 - reported when the tab is built
                log.debug("view module %s did not import", module, exc_info=True)

    def _guarded_view(self, module: str, cls: str, session: VaultSession) -> QWidget:
        """Build one of the workbench views; if it cannot be built, the tab says why and
        the rest of the window keeps working (the error is in the log panel)."""
        try:
            mod = importlib.import_module(f"provara_desktop.ui.views.{module}")
            view: QWidget = getattr(mod, cls)(session, self.tabs)
        except Exception as exc:
            log.exception("cannot show the %s", cls)
            view = QLabel(f"This view could not be shown: {exc}", self.tabs)
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view.setWordWrap(True)
        return view

    def show_event(self, event_id: str) -> None:
        """Switch to the timeline and show ``event_id`` there (with its inspector)."""
        timeline = self.views.get("Timeline")
        if timeline is None or not hasattr(timeline, "show_event"):
            return
        self.tabs.setCurrentWidget(timeline)
        timeline.show_event(event_id)

    def on_timeline_event_selected(self, event_id: str) -> None:
        self.statusBar().showMessage(f"Selected {event_id}", 5000)

    def _alert_loss(self) -> None:
        """Open the alert for evidence gone from the vault, once per loss. Not modal: the
        views stay readable (and Verify shows EVENTS_REMOVED) while the user decides; the
        vault refuses writes until they accept."""
        session = self.session
        loss = session.vault.loss if session is not None else None
        shown = getattr(self, "loss_dialog", None)
        if session is None or loss is None or (shown is not None and shown.isVisible()):
            return
        from provara_desktop.ui.dialogs.loss_dialog import LossAlertDialog

        self.loss_dialog = LossAlertDialog(session, loss, self)
        self.loss_dialog.open()

    def on_bus_event(self, event: object) -> None:
        if not isinstance(event, VaultChanged):
            return
        if event.source == "external":
            self._alert_loss()  # another program may have cut events while we were open
        for view in self.views.values():
            on_changes = getattr(view, "on_changes", None)
            if on_changes is not None:
                on_changes(event.changes)
        self.update_status()
        if event.changes.verification and self.session and self.session.last_report:
            report = self.session.last_report
            if not report.ok:
                self.statusBar().showMessage("Verification found problems: see the Verify "
                                             "tab", 10000)

    def on_poll_timer(self) -> None:
        """Notice appends by another program (the CLI, a sync) without blocking the GUI."""
        session = self.session
        if session is None or session.closed or self._poll_pending:
            return
        self._poll_pending = True

        def done(_r: object = None) -> None:
            self._poll_pending = False

        def failed(exc: BaseException) -> None:
            self._poll_pending = False
            log.warning("cannot read changes to the vault: %s", exc)

        run_op(None, session.check_external).success(done).failure(failed)

    def update_status(self) -> None:
        s = self.session
        if s is None:
            self.vault_label.setText("No vault open")
        else:
            self.vault_label.setText(f"Vault {s.vault.root}  ·  {s.event_count:,} "
                                     "events")
            self.vault_label.setToolTip(str(s.vault.root))
        if self.identity is None:
            self.identity_button.setText("No identity: File › New identity…")
        elif self.key is None:
            self.identity_button.setText(f"Locked: {self.identity.actor} (click to unlock)")
        else:
            self.identity_button.setText(f"Signing as {self.identity.actor}  ·  "
                                         f"{self.identity.fingerprint}")
        self.identity_button.setToolTip("Click to lock your identity" if self.key is not None
                                        else "Click to unlock your identity and sign evidence")
        from provara_desktop.ui.dialogs.keys_dialog import recovery_warning

        warning = recovery_warning(self.identity)
        self.recovery_button.setText(warning)
        self.recovery_button.setVisible(bool(warning))
        self._update_hub_alerts(s)
        self._update_partial(s)
        report = s.last_report if s is not None else None
        if report is None:
            self.verify_label.setText("Not verified")
            self.verify_label.setStyleSheet("")
        else:
            bad = tally(rows_from_report(report)).errors  # as the Verify tab counts them
            self.verify_label.setText(f"Verified {report.log.event_count:,} events: OK"
                                      if report.ok else f"Verification FAILED: {bad} problem"
                                      + ("" if bad == 1 else "s"))
            colour = theme.accent("ok" if report.ok else "error").name()
            self.verify_label.setStyleSheet(f"color: {colour}")
        self._update_actions()

    # -- evidence ---------------------------------------------------------------------------------

    def _open_dialog(self, dialog: QWidget) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._dialog = dialog
        dialog.open()  # type: ignore[attr-defined]

    def _selected_key(self) -> str | None:
        beliefs = self.views.get("Beliefs")
        return beliefs.selected_key() if beliefs is not None else None  # type: ignore[attr-defined]

    def on_observe(self) -> None:
        if self.session is None:
            return
        from provara_desktop.ui.dialogs.evidence_dialogs import ObserveDialog

        self._open_dialog(ObserveDialog(self.session, self, unlocker=self.ensure_unlocked,
                                        key=self._selected_key()))

    def on_attest(self, key: str | None = None) -> None:
        if self.session is None:
            return
        from provara_desktop.ui.dialogs.evidence_dialogs import AttestDialog

        self._open_dialog(AttestDialog(self.session, self, unlocker=self.ensure_unlocked,
                                       key=key or self._selected_key()))

    def on_annotate(self, event_id: str) -> None:
        """The inspector's "Annotate…" (ui/dialogs/annotate_dialog.py)."""
        if self.session is None:
            return
        from provara_desktop.store.belief_standing import belief_key
        from provara_desktop.ui.dialogs.annotate_dialog import AnnotateDialog

        vault = self.session.vault
        row = vault.index.get(event_id)
        belief = belief_key(vault.read_row(row)) if row is not None else None
        self._open_dialog(AnnotateDialog(self.session, event_id, belief, self,
                                         unlocker=self.ensure_unlocked))

    def on_attachment(self, event_id: str, sha256: str) -> None:
        """An attachment of an event, looked at (ui/dialogs/attachment_dialog.py): checked
        again against its sha256 before anything is shown."""
        if self.session is None:
            return
        from provara_desktop.intake.attachment_refs import attachment_refs
        from provara_desktop.ui.dialogs.attachment_dialog import AttachmentDialog

        vault = self.session.vault
        row = vault.index.get(event_id)
        refs = [r for r in attachment_refs(vault.read_row(row)) if r["sha256"] == sha256] \
            if row is not None else []
        ref = refs[0] if refs else {"sha256": sha256}
        self.attachment_dialog = AttachmentDialog(
            vault.root, name=str(ref.get("name") or sha256[:12]), sha256=sha256,
            media_type=str(ref.get("media_type") or ""), size=ref.get("size", "?"),
            parent=self)
        self.attachment_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.attachment_dialog.show()

    def on_retract(self, key: str | None = None) -> None:
        if self.session is None:
            return
        from provara_desktop.ui.dialogs.evidence_dialogs import RetractDialog

        self._open_dialog(RetractDialog(self.session, self, unlocker=self.ensure_unlocked,
                                        key=key or self._selected_key()))

    # -- bundles (the dialogs live in bundle_dialogs.py, imported when used) ---------------

    def _bundle(self, name: str, *args: Any) -> None:
        if self.session is None:
            return
        try:  # D's module; looked up when used so this window works without it
            bundle_dialogs = importlib.import_module("provara_desktop.ui.dialogs.bundle_dialogs")
        except ImportError as exc:
            show_exception(self, exc)
            return
        getattr(bundle_dialogs, name)(self, self.session, *args)

    def on_export_bundle(self) -> None:
        self._bundle("export_bundle")

    def on_import_bundle(self) -> None:
        self._bundle("import_bundle")

    def on_evidence_report(self) -> None:
        self._bundle("evidence_report")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(self._dropped_target(u.toLocalFile()) for u in event.mimeData().urls()
               if u.isLocalFile()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            kind = self._dropped_target(url.toLocalFile()) if url.isLocalFile() else None
            if kind == "bundle":
                self._bundle("import_bundle", url.toLocalFile())
            elif kind == "vault":
                self.open_vault(Path(url.toLocalFile()))
        event.acceptProposedAction()

    @staticmethod
    def _dropped_target(path: str) -> str | None:
        if path.endswith(BUNDLE_SUFFIX) and os.path.isfile(path):
            return "bundle"
        if os.path.isfile(os.path.join(path, "manifest.json")):
            return "vault"
        return None

    def on_pair_peer(self) -> None:
        peers = self.views.get("Peers")
        if peers is None or not hasattr(peers, "on_pair"):
            return
        self.tabs.setCurrentWidget(peers)
        peers.on_pair()

    def _update_partial(self, s: VaultSession | None) -> None:
        """Under a federation contract, a status-bar note that this is a partial replica and
        what it leaves out (docs/FEDERATION.md): its state_hash is of that part only. One
        indexed count per change of the event count; the statement on the query thread."""
        if s is None:
            self.partial_label.hide()
            return
        at = (s, s.event_count)
        if self._partial_at == at:
            return
        self._partial_at = at
        from provara_desktop.store import federation

        if s.vault.index.count(type=federation.CONTRACT_EVENT) == 0:
            self.partial_label.hide()
            return
        mine = self.key.key_id if self.key is not None else (
            self.identity.key_id if self.identity is not None else "")

        def job() -> dict[str, Any] | None:
            applied = federation.in_force(s.vault)
            return None if applied is None else federation.statement(s.vault, applied, mine)

        def show(doc: dict[str, Any] | None) -> None:
            if doc is None or not doc["partial"]:
                self.partial_label.hide()
                return
            self.partial_label.setText(f"Partial replica ({doc['contract_id']} r"
                                       f"{doc['revision']})")
            self.partial_label.setToolTip("\n".join(
                [f"Under federation contract {doc['contract_id']} revision {doc['revision']}"
                 f" as {doc['member']}: this replica holds only what the contract lets flow "
                 "here, and its state hash is of that part. Left out:"]
                + [f"from {m}: {w}" for m, what in doc["leaves_out"].items() for w in what]))
            self.partial_label.show()

        run_op(self, lambda: s.query(job)).success(show)

    def _update_hub_alerts(self, s: VaultSession | None) -> None:
        """The count of hub alerts in the vault (one indexed count, asked again only when
        the vault's event count changed)."""
        if s is None:
            self.hub_alert_button.hide()
            return
        at = (s, s.event_count)
        if self._hub_alerts_at == at:
            return
        from provara_desktop.net.hub_side import ALERT_EVENT

        self._hub_alerts_at = at
        n = s.vault.index.count(type=ALERT_EVENT)
        self.hub_alert_button.setText(f"\u26a0 {n} hub alert{'s' if n != 1 else ''}: "
                                      "click to see")
        self.hub_alert_button.setVisible(n > 0)

    def on_export_csv(self, path: str | None = None) -> None:
        """The current tab's table, exactly its filtered rows, as CSV (store/csv_export.py).
        ``path``: given by a test; the user picks it in a file dialog."""
        from PySide6.QtWidgets import QFileDialog

        from provara_desktop.store import csv_export
        from provara_desktop.ui.table_csv import model_table

        session, view = self.session, self.tabs.currentWidget()
        name = next((n for n, v in self.views.items() if v is view), None)
        table = getattr(view, "table", None)  # each tab's main table (not a detail one)
        if session is None or name is None or not isinstance(table, QTableView):
            QMessageBox.information(self, "Export as CSV", "This tab has no table to export.")
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, f"Export the {name} table",
                                                  f"{name.lower()}.csv", "CSV (*.csv)")
            if not path:
                return
        out = Path(path)

        def done(n: int) -> None:
            self.statusBar().showMessage(f"{n:,} rows of the {name} table written to {out}",
                                         8000)

        if name == "Timeline":  # positions only in the model: the same query, off the GUI
            query = view.model.filter.query_args()  # type: ignore[attr-defined]
            run_op(self, lambda: session.query(lambda: csv_export.write_csv(
                out, csv_export.TIMELINE_HEADER,
                csv_export.timeline_rows(session.vault.index, query)))).success(done).failure(
                    lambda exc: show_exception(self, exc))
            return
        header, rows = model_table(table.model())
        try:
            done(csv_export.write_csv(out, header, rows))
        except Exception as exc:  # noqa: BLE001 - shown: the user picked the place
            show_exception(self, exc)

    def on_topology(self) -> None:
        """The vaults rolled up here and the copies on peers (ui/dialogs/topology_dialog),
        gathered on the query thread: the mesh picture recomputes a peer's state."""
        from provara_desktop.net.mesh_picture import picture
        from provara_desktop.net.topology_links import links
        from provara_desktop.store.hierarchy import hierarchy
        from provara_desktop.ui.dialogs.topology_dialog import TopologyDialog

        session = self.session
        if session is None:
            return
        home = self.home
        mine = self.key.key_id if self.key is not None else ""  # read here, not in the job

        def gather() -> dict[str, Any]:
            from provara_desktop.store import federation

            applied = federation.in_force(session.vault)
            return {"hierarchy": hierarchy(session.vault), "mesh": picture(session.vault, home),
                    "links": links(session.vault, home),
                    "federation": None if applied is None else {
                        "statement": federation.statement(session.vault, applied, mine),
                        "status": federation.status(session.vault)}}

        def recheck(child: Path) -> Future[dict[str, Any]]:
            from provara_desktop.bundle import rollup as bundle_rollup
            from provara_desktop.intake.trust_view import trust_for

            key, actor = session.key, session.actor  # a drift is recorded, signed
            return session.submit(lambda: bundle_rollup.check(
                session.vault, child, trust=trust_for(home), key=key, actor=actor).to_json())

        def show(loaded: dict[str, Any]) -> None:
            self.topology_dialog = TopologyDialog(loaded, self, recheck=recheck)
            self.topology_dialog.show()

        run_op(self, lambda: session.query(gather)).success(show).failure(
            lambda exc: show_exception(self, exc))

    def on_hub_alerts(self) -> None:
        from provara_desktop.net.hub_side import ALERT_EVENT

        s = self.session
        if s is None:
            return
        lines = []
        for row in s.vault.index.query(type=ALERT_EVENT, descending=True, limit=50):
            payload = s.vault.read_row(row).get("payload") or {}
            proof = payload.get("proof") or {}
            lines.append(f"<p><b>{payload.get('code')}</b> — {payload.get('message')}<br>"
                         f"hub {proof.get('hub_key_id')}, recorded by {row.actor} at "
                         f"{row.timestamp_utc} ({row.event_id})</p>")
        box = QMessageBox(QMessageBox.Icon.Warning, "Hub alerts", "", parent=self)
        box.setObjectName("hubAlertsDialog")
        box.setText("A hub this vault syncs with broke its word: each alert below holds "
                    "the hub's own signed statements as proof (the event's JSON, in the "
                    "Timeline's inspector; `hub receipts VAULT` on the command line).")
        box.setInformativeText("".join(lines))
        box.exec()

    def on_recovery_warning(self) -> None:
        from provara_desktop.ui.dialogs.keys_dialog import on_recovery_warning

        if self.identity is None:
            return
        try:
            changed = on_recovery_warning(self, self.identity_store, self.identity)
        except Exception as exc:  # a wrong passphrase, a file that exists: said, not lost
            show_exception(self, exc)
            return
        if changed is not None:
            self.identity = changed
            self.update_status()

    def on_rotate_key(self, boundary: str | None = None) -> None:
        """File › Rotate my key; ``boundary``: the event the user picked in the timeline as
        the last one they vouch for (a compromise rotation)."""
        from provara_desktop.ui.dialogs.rotate_dialog import RotateKeyDialog

        ident, session, store = self.identity, self.session, self.identity_store
        if session is None or ident is None or self.key is None:
            QMessageBox.information(self, "Rotate my key", "Open a vault and unlock your "
                                    "identity first: the rotation is recorded in the vault.")
            return
        if ident.recovery_key_id is None:
            QMessageBox.information(self, "Rotate my key", "Your identity has no recovery "
                                    "key, so nothing may rotate its key: click the warning "
                                    "in the status bar to make one.")
            return
        dialog = RotateKeyDialog(session.vault, ident, self, boundary=boundary)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.recovery_path is None:
            return
        path, pw = dialog.recovery_path, dialog.chosen_passphrase
        reason, boundary = dialog.chosen_reason, dialog.chosen_boundary

        def job() -> tuple[Identity, SigningKey]:
            from provara_desktop.store.recovery_file import read_recovery_file

            recovery, _ = read_recovery_file(path, recovery_key_id=ident.recovery_key_id)
            store.unlock(pw)  # a wrong passphrase stops here, before anything is written
            done = session.rotate_key(recovery=recovery,
                                      recovery_actor=ident.recovery_actor or "",
                                      reason=reason, boundary=boundary).result()
            return store.replace_key(done.new_key, pw), done.new_key

        def rotated(result: tuple[Identity, SigningKey]) -> None:
            self.identity = result[0]
            self.set_key(result[1])
            self.statusBar().showMessage(
                f"Key rotated: you now sign with {result[1].key_id} (fingerprint "
                f"{result[0].fingerprint}); tell the people who trust you to check it.", 20_000)

        from provara_desktop.ui.ops import background

        run_op(self, lambda: background(job)).success(rotated).failure(
            lambda exc: show_exception(self, exc))

    def on_change_passphrase(self) -> None:
        from provara_desktop.ui.dialogs.identity_upkeep import ChangePassphraseDialog

        if self.identity is None:
            QMessageBox.information(self, "Change passphrase", "There is no identity in this "
                                    "profile yet.")
            return
        if ChangePassphraseDialog(self.identity_store, self).exec() == \
                QDialog.DialogCode.Accepted:
            self.identity = self.identity_store.load()
            self.statusBar().showMessage("Passphrase changed: your key (and its fingerprint) "
                                         "is the same.", 10_000)

    def on_add_device(self) -> None:
        from provara_desktop.ui.dialogs.device_dialog import AddDeviceDialog

        ident, session = self.identity, self.session
        if session is None or ident is None or self.key is None:
            QMessageBox.information(self, "Add a device", "Open a vault and unlock your "
                                    "identity first: the device's certificate is recorded "
                                    "in the vault, signed by your key.")
            return
        if ident.person_actor is not None:
            QMessageBox.information(self, "Add a device", "This computer is itself a device "
                                    f"of {ident.person_actor}: add devices from that "
                                    "person's own machine.")
            return
        dialog = AddDeviceDialog(session, self.identity_store, self.key, self.lan, self)
        dialog.added.connect(lambda d: self.statusBar().showMessage(
            f"Device '{d.device_name}' certified: fingerprint {d.fingerprint}", 20_000))
        dialog.exec()

    def on_vault_keys(self) -> None:
        from provara_desktop.ui.dialogs.keys_dialog import KeysDialog, key_rows

        session = self.session
        if session is None:
            return

        def show(loaded: Any) -> None:
            dialog = KeysDialog(session.vault, self,
                                on_revoke=lambda kid: self._revoke_key(kid, dialog),
                                own_key_id=self.key.key_id if self.key is not None else None,
                                loaded=loaded)
            dialog.exec()

        # Off the GUI thread: the first key life of a large rotated vault walks its chain.
        run_op(self, lambda: session.query(lambda: key_rows(session.vault))).success(
            show).failure(lambda exc: show_exception(self, exc))

    def _revoke_key(self, key_id: str, dialog: Any) -> None:
        """Revoke ``key_id`` (a lost device, a leaked key), signed by the recovery file the
        user picks; ``dialog`` (the keys dialog) is refreshed after."""
        from PySide6.QtWidgets import QFileDialog, QInputDialog

        session, ident = self.session, self.identity
        if session is None or ident is None or self.key is None:
            QMessageBox.information(self, "Revoke a key", "Unlock your identity first.")
            return
        if key_id == ident.key_id:
            QMessageBox.information(self, "Revoke a key", "That is your own key: File › "
                                    "Rotate my key replaces it with a new one.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "The recovery file of the key's person",
                                              str(Path.home()),
                                              "Recovery file (*.json);;All files (*)")
        if not path:
            return
        reasons = ["device_lost", "compromise"]
        reason, ok = QInputDialog.getItem(self, "Revoke a key", f"Why is {key_id} revoked?",
                                          reasons, 0, False)
        if not ok:
            return

        def job() -> Any:
            from provara_desktop.store.key_rotation import recovery_for

            recovery, label = recovery_for(session.vault, Path(path), key_id)
            return session.revoke_key(recovery=recovery, recovery_actor=label,
                                      key_id=key_id, reason=reason).result()

        def revoked(_done: Any) -> None:
            from provara_desktop.ui.dialogs.keys_dialog import key_rows

            run_op(self, lambda: session.query(lambda: key_rows(session.vault))).success(
                dialog.refresh)
            self.statusBar().showMessage(f"Revoked {key_id} ({reason}).", 20_000)

        from provara_desktop.ui.ops import background

        run_op(self, lambda: background(job)).success(revoked).failure(
            lambda exc: show_exception(self, exc))

    def on_trusted_keys(self) -> None:
        from provara_desktop.ui.dialogs.trust_dialog import TrustedKeysDialog

        TrustedKeysDialog(self.home, self).exec()

    # -- vault menu, view, help ------------------------------------------------------------------

    def on_verify(self) -> None:
        verify = self.views.get("Verify")
        if verify is None:
            return
        self.tabs.setCurrentWidget(verify)
        verify.start()  # type: ignore[attr-defined]

    def on_reindex(self) -> None:
        if self.session is None:
            return
        self.statusBar().showMessage("Rebuilding the index…")
        run_op(self, self.session.reindex).success(
            lambda n: self.statusBar().showMessage(f"Index rebuilt: {n:,} events", 5000))

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, name)
        self.settings.set(THEME, name)
        self.theme_actions[name].setChecked(True)

    def on_color_scheme_changed(self) -> None:
        """The desktop switched between light and dark: follow it if the theme is "system"."""
        if self.settings.get(THEME) == "system":
            self.set_theme("system")

    def on_about(self) -> None:
        from provara_desktop import __version__

        QMessageBox.about(self, "About provara-desktop",
                          f"<b>provara-desktop {__version__}</b><p>A signed, chained evidence "
                          "vault for investigators, in the Provara Protocol v1.0 format.</p>"
                          f"<p>Profile: {self.home}<br>Settings: {self.settings.path}</p>")

    # -- persistence ------------------------------------------------------------------------------

    def _restore_window_state(self) -> None:
        geometry = self.settings.get(WINDOW_GEOMETRY)
        if not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = self.settings.get(WINDOW_STATE)
        if not state.isEmpty():
            self.restoreState(state)
        self._saved_tab = self.settings.get(CURRENT_TAB)
        self.tabs.setCurrentIndex(min(max(0, self._saved_tab), self.tabs.count() - 1))

    def _save_view_state(self) -> None:
        for name, view in self.views.items():
            for table, key in self._tables_of(name, view):
                self.settings.set_header_state(key, table.horizontalHeader().saveState())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.settings.set(WINDOW_GEOMETRY, self.saveGeometry())
        self.settings.set(WINDOW_STATE, self.saveState())
        self.settings.set(CURRENT_TAB, self.tabs.currentIndex())
        self._retire_views()
        self.settings.sync()
        self._poll.stop()
        if self.session is not None:
            self.session.close()
            self.session = None
        super().closeEvent(event)

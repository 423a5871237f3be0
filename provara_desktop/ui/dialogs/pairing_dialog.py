"""Pairing with another person (net/pairing.py, SPAKE2): offer a one-time code, or join one.

- **Offer**: shows the code and your full fingerprint, then waits (Cancel ends the offer: the
  code dies with it). When they joined: their name and full fingerprint.
- **Join**: type HOST:PORT (or pick a peer in view) and the code; both full fingerprints
  are shown after.

Nothing is trusted until both sides accepted; then the trust decision is recorded exactly as
``pair offer``/``pair join`` record it (net/pairing.record: source "paired", method, both
fingerprints). A wrong code says so, and nothing was trusted. The work runs on the app's
asyncio loop (LanService); results come back through the GUI-thread inbox.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.net.app_peer import PAIR_PORT
from provara_desktop.ui.gui_thread_calls import Inbox

if TYPE_CHECKING:
    from collections.abc import Sequence
    from concurrent.futures import Future

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.app_peer import LanService, PeerState
    from provara_desktop.net.pairing import Paired

log = logging.getLogger(__name__)
OFFER_TIMEOUT = 300.0

REASONS = {
    "WRONG_CODE": "Wrong code: the code typed did not match the one offered. Nothing was "
                  "trusted, and that offer is used up: start a new one.",
    "NO_PEER": "Nobody joined in time; the code is no longer valid.",
    "CONNECT": "Could not reach the offer there: check the address and that the other "
               "person's offer is still waiting.",
    "USED": "That offer was already used (one attempt per code): ask for a new code.",
    "TIMEOUT": "The other side stopped answering; nothing was trusted.",
    "CLOSED": "The connection closed before the pairing finished; nothing was trusted.",
}


def failure_text(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in REASONS:
        return f"{REASONS[code]}\n({exc})"
    return f"Pairing failed: {exc}. Nothing was trusted."


def _selectable(text: str, name: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class PairingDialog(QDialog):
    paired = Signal(object)  # the Paired record, after the trust decision was recorded

    def __init__(self, lan: LanService, key: SigningKey, name: str, parent: QWidget | None,
                 *, peers: Sequence[PeerState] = (), offer_host: str = "0.0.0.0",
                 offer_port: int = PAIR_PORT) -> None:
        super().__init__(parent)
        self.setObjectName("pairingDialog")
        self.setWindowTitle("Pair with a peer")
        self.lan, self.key, self.name = lan, key, name
        self.offer_host, self.offer_port = offer_host, offer_port
        self._inbox = Inbox(self)
        self._future: Future[Any] | None = None
        self.result_paired: Paired | None = None

        layout = QVBoxLayout(self)
        intro = QLabel("Nobody is synced with until both of you accepted each other. One "
                       "offers a code and reads it aloud; the other types it. Then compare "
                       "both fingerprints.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("pairingTabs")
        layout.addWidget(self.tabs)
        self.tabs.addTab(self._offer_page(), "Offer a code")
        self.tabs.addTab(self._join_page(peers), "Join with a code")
        self.status = _selectable("", "pairingStatus", self)
        layout.addWidget(self.status)
        self.own_fp = _selectable(f"Your fingerprint: {key.public.fingerprint}",
                                  "ownFingerprint", self)
        self.peer_fp = _selectable("", "peerFingerprint", self)
        layout.addWidget(self.own_fp)
        layout.addWidget(self.peer_fp)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(560, 420)

    def _offer_page(self) -> QWidget:
        page = QWidget(self)
        form = QVBoxLayout(page)
        self.offer_button = QPushButton("Start an offer", page)
        self.offer_button.setObjectName("startOffer")
        self.offer_button.clicked.connect(self.on_start_offer)
        self.code_label = _selectable("", "codeLabel", page)
        font = self.code_label.font()
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        self.code_label.setFont(font)
        self.offer_where = _selectable("", "offerAddress", page)
        self.cancel_offer = QPushButton("Cancel the offer", page)
        self.cancel_offer.setObjectName("cancelOffer")
        self.cancel_offer.setEnabled(False)
        self.cancel_offer.clicked.connect(self.on_cancel)
        for w in (self.offer_button, self.code_label, self.offer_where, self.cancel_offer):
            form.addWidget(w)
        form.addStretch(1)
        return page

    def _join_page(self, peers: Sequence[PeerState]) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.join_address = QComboBox(page)
        self.join_address.setObjectName("joinAddress")
        self.join_address.setEditable(True)
        line = self.join_address.lineEdit()
        if line is not None:
            line.setPlaceholderText(f"HOST:PORT as the offer shows it (e.g. "
                                    f"192.168.1.20:{PAIR_PORT})")
        for p in peers:  # a peer in view: its host, with the app's pairing port
            for address in p.addresses:
                host = address.rpartition(":")[0]
                self.join_address.addItem(f"{host}:{PAIR_PORT}  ({p.name})", f"{host}:"
                                          f"{PAIR_PORT}")
        self.join_address.setCurrentText("")
        self.join_code = QLineEdit(page)
        self.join_code.setObjectName("joinCode")
        self.join_code.setPlaceholderText("the 8 digits they read to you, e.g. 4821-0937")
        self.join_button = QPushButton("Join", page)
        self.join_button.setObjectName("joinButton")
        self.join_button.clicked.connect(self.on_join)
        form.addRow("Offer at", self.join_address)
        form.addRow("Code", self.join_code)
        form.addRow(self.join_button)
        return page

    # -- offer ------------------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        self.offer_button.setEnabled(not busy)
        self.join_button.setEnabled(not busy)
        self.cancel_offer.setEnabled(busy and self.tabs.currentIndex() == 0)
        self.tabs.tabBar().setEnabled(not busy)

    def on_start_offer(self) -> None:
        self.peer_fp.setText("")
        self.status.setText("Opening an offer…")
        self._busy(True)
        try:
            fut = self.lan.pair_offer(self.key, self.name, host=self.offer_host,
                                      port=self.offer_port, timeout=OFFER_TIMEOUT,
                                      on_ready=lambda c, h, p: self._inbox.call(
                                          self._on_offer_ready, c, h, p))
        except (ProvaraDesktopError, RuntimeError) as exc:
            self._finish(None, exc)
            return
        self._watch(fut)

    def _on_offer_ready(self, code: str, host: str, port: int) -> None:
        self.code_label.setText(code)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.offer_where.setText(f"Tell them to join {where} with this code (in the app: "
                                 f"Pair… › Join; or: provara-desktop pair join {where} "
                                 f"--code {code})")
        self.status.setText(f"Waiting up to {OFFER_TIMEOUT:g} s for them to join… (one "
                            "attempt: a wrong code ends this offer)")

    def on_cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()

    # -- join -------------------------------------------------------------------------------

    def on_join(self) -> None:
        address = self.join_address.currentData() or self.join_address.currentText()
        address = str(address).split("  (", 1)[0].strip()
        self.peer_fp.setText("")
        try:
            fut = self.lan.pair_join(self.key, self.name, address, self.join_code.text())
        except ProvaraDesktopError as exc:  # a malformed address or code: nothing was sent
            self.status.setText(str(exc))
            return
        self.status.setText(f"Joining the offer at {address}…")
        self._busy(True)
        self._watch(fut)

    # -- results ----------------------------------------------------------------------------

    def _watch(self, fut: Future[Any]) -> None:
        self._future = fut

        def done(f: Future[Any]) -> None:
            if f.cancelled():
                self._inbox.call(self._finish, None, None)
                return
            exc = f.exception()
            self._inbox.call(self._finish, None if exc else f.result(), exc)

        fut.add_done_callback(done)

    def _finish(self, paired: Paired | None, exc: BaseException | None) -> None:
        self._future = None
        self._busy(False)
        if paired is None and exc is None:
            self.code_label.setText("")
            self.status.setText("Offer cancelled; nothing was trusted.")
            return
        if exc is not None:
            self.code_label.setText("")
            self.status.setText(failure_text(exc))
            log.warning("pairing failed: %s", exc)
            return
        assert paired is not None
        self.result_paired = paired
        self.status.setText(f"Paired with {paired.peer.name or '(no name)'} "
                            f"({paired.peer.key_id}). Compare both fingerprints with them; "
                            "File › Trusted keys… undoes it.")
        if paired.one_sided_warning:
            self.status.setText(self.status.text() + " Warning: "
                                + paired.one_sided_warning + ".")
        self.own_fp.setText(f"Your fingerprint: {paired.own_fingerprint}")
        self.peer_fp.setText(f"Their fingerprint: {paired.peer.fingerprint}")
        log.info("paired with %s (%s)", paired.peer.name, paired.peer.key_id)
        self.paired.emit(paired)

    def reject(self) -> None:
        self.on_cancel()  # closing the dialog ends an offer still waiting
        super().reject()

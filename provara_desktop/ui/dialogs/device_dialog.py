"""One person on several machines, from the app (store/devices.py, net/device_pairing.py).

- **Add a device** (on the person's machine, identity unlocked, a vault open): name the
  device, then either write a device file (its key sealed under a passphrase chosen for the
  device; carried by hand, deleted after) or offer a one-time code on the LAN (the new
  machine makes its own key, which never leaves it). Either way the certificate is written on
  the session's writer thread, and the device's full fingerprint is shown to compare with the
  one the new machine shows.
- **Join as a device** (on the new machine, a profile with no identity yet): open the device
  file with its passphrase, or join the person's offer with the code and a passphrase for
  this machine.

Nothing is trusted or certified silently: the person names the device they expect, and a
joiner calling itself anything else is refused before anything is written.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.net.app_peer import PAIR_PORT
from provara_desktop.net.pairing import PairingFailed
from provara_desktop.ui.dialogs.identity_dialogs import password_field, path_row
from provara_desktop.ui.dialogs.pairing_dialog import OFFER_TIMEOUT, failure_text
from provara_desktop.ui.errors import describe
from provara_desktop.ui.gui_thread_calls import Inbox
from provara_desktop.ui.ops import background, run_op

if TYPE_CHECKING:
    from concurrent.futures import Future

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.app_peer import LanService
    from provara_desktop.session import VaultSession
    from provara_desktop.store.devices import Certified
    from provara_desktop.store.identity import Identity, IdentityStore

log = logging.getLogger(__name__)


def _label(name: str, parent: QWidget, text: str = "") -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, PairingFailed):
        return failure_text(exc)
    what, advice = describe(exc)
    return f"{what} {advice}".strip()


class AddDeviceDialog(QDialog):
    """``added`` carries the device's public facts (an Identity) once its certificate is in
    the vault."""

    added = Signal(object)

    def __init__(self, session: VaultSession, store: IdentityStore, key: SigningKey,
                 lan: LanService | None, parent: QWidget | None = None, *,
                 offer_host: str = "0.0.0.0", offer_port: int = PAIR_PORT) -> None:
        super().__init__(parent)
        self.setObjectName("addDeviceDialog")
        self.setWindowTitle("Add a device")
        self.session, self.store, self.key, self.lan = session, store, key, lan
        self.offer_host, self.offer_port = offer_host, offer_port
        self._inbox = Inbox(self)
        self._future: Future[Any] | None = None
        self.device: Identity | None = None

        intro = _label("deviceIntro", self,
                       "Another computer of yours gets its own key and its own chain (two "
                       "machines never sign one chain), certified by your key in this vault. "
                       "A lost device is revoked alone (File › Keys of this vault).")
        self.name = QLineEdit(self)
        self.name.setObjectName("deviceName")
        self.name.setPlaceholderText("e.g. field laptop")
        form = QFormLayout()
        form.addRow("Device name:", self.name)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("deviceTabs")
        self.tabs.addTab(self._file_page(), "Device file")
        self.tabs.addTab(self._pair_page(), "Pair over the LAN")
        self.status = _label("deviceStatus", self)
        self.fingerprint = _label("deviceFingerprint", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.tabs)
        lay.addWidget(self.status)
        lay.addWidget(self.fingerprint)
        lay.addWidget(buttons)
        self.resize(600, 420)

    def _file_page(self) -> QWidget:
        page = QWidget(self)
        note = _label("deviceFileNote", page,
                      "The file holds the device's key sealed under the passphrase you "
                      "choose here: carry it to the new machine by hand, open it there "
                      "(first start › \"This computer is another device of mine\", or "
                      "`identity join-device FILE`), then delete it.")
        self.device_pass = password_field("devicePassphrase", page)
        self.device_repeat = password_field("deviceRepeat", page)
        self.out_path = QLineEdit(str(Path.home() / "new-device.provara-device"), page)
        self.out_path.setObjectName("deviceFilePath")
        self.write_button = QPushButton("Write the device file", page)
        self.write_button.setObjectName("writeDeviceFile")
        self.write_button.clicked.connect(self.on_write_file)
        form = QFormLayout()
        form.addRow("Device passphrase:", self.device_pass)
        form.addRow("Repeat it:", self.device_repeat)
        form.addRow("Save to:", path_row(self.out_path, self.on_browse))
        lay = QVBoxLayout(page)
        lay.addWidget(note)
        lay.addLayout(form)
        lay.addWidget(self.write_button)
        return page

    def _pair_page(self) -> QWidget:
        page = QWidget(self)
        note = _label("devicePairNote", page,
                      "Offer a one-time code; on the new machine join it with the same "
                      "device name. The new machine's key is made there and never leaves it.")
        self.offer_button = QPushButton("Start an offer", page)
        self.offer_button.setObjectName("startDeviceOffer")
        self.offer_button.clicked.connect(self.on_start_offer)
        self.offer_button.setEnabled(self.lan is not None)
        self.code_label = _label("deviceCode", page)
        self.offer_where = _label("deviceOfferAddress", page)
        self.cancel_button = QPushButton("Cancel the offer", page)
        self.cancel_button.setObjectName("cancelDeviceOffer")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.on_cancel)
        lay = QVBoxLayout(page)
        lay.addWidget(note)
        if self.lan is None:
            lay.addWidget(_label("deviceNoLan", page, "The LAN is off in this app (started "
                                 "without networking): use a device file."))
        for w in (self.offer_button, self.code_label, self.offer_where, self.cancel_button):
            lay.addWidget(w)
        lay.addStretch(1)
        return page

    def _device_name(self) -> str | None:
        name = self.name.text().strip()
        if not name:
            self.status.setText("Name the device first (the new machine must use the same "
                                "name): e.g. 'field laptop'.")
            self.name.setFocus()
            return None
        return name

    def _busy(self, busy: bool) -> None:
        self.write_button.setEnabled(not busy)
        self.offer_button.setEnabled(not busy and self.lan is not None)
        self.cancel_button.setEnabled(busy and self._future is not None)
        self.name.setEnabled(not busy)
        self.tabs.tabBar().setEnabled(not busy)

    # -- the device file ---------------------------------------------------------------------

    def on_browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the device file",
                                              self.out_path.text(),
                                              "Device file (*.provara-device);;All files (*)")
        if path:
            self.out_path.setText(path)

    def on_write_file(self) -> None:
        name = self._device_name()
        if name is None:
            return
        pw, again = self.device_pass.text(), self.device_repeat.text()
        if not pw:
            self.status.setText("Choose a passphrase for the device: the file is as secret "
                                "as it is strong.")
            return
        if pw != again:
            self.status.setText("The two device passphrases differ.")
            return
        out = Path(self.out_path.text().strip()).expanduser()
        if not self.out_path.text().strip() or out.exists():
            self.status.setText("Choose a new file for the device (an existing file is never "
                                "overwritten).")
            return
        self.status.setText("Certifying the device…")
        self._busy(True)
        run_op(self, lambda: self.session.add_device(
            self.store, name=name, device_passphrase=pw, out=out)).success(
            lambda done: self._certified(done, f"Device file written to {out}: carry it to "
                                         "the new machine, open it there, then delete it.")
        ).failure(self._failed)

    # -- the LAN offer -----------------------------------------------------------------------

    def on_start_offer(self) -> None:
        name = self._device_name()
        if name is None or self.lan is None:
            return
        session, store = self.session, self.store

        async def write(device_name: str, public_b64: str) -> Certified:
            return await asyncio.wrap_future(session.certify_device(
                store, name=device_name, device_public_b64=public_b64))

        self.status.setText("Opening an offer…")
        self._future = self.lan.device_offer(
            session.vault, store, self.key, device_name=name, host=self.offer_host,
            port=self.offer_port, timeout=OFFER_TIMEOUT, write=write,
            on_ready=lambda c, h, p: self._inbox.call(self._on_ready, c, h, p, name))
        self._busy(True)

        def done(f: Future[Any]) -> None:
            if f.cancelled():
                self._inbox.call(self._offer_ended, None, None)
            else:
                exc = f.exception()
                self._inbox.call(self._offer_ended, None if exc else f.result(), exc)

        self._future.add_done_callback(done)

    def _on_ready(self, code: str, host: str, port: int, name: str) -> None:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.code_label.setText(code)
        self.offer_where.setText(
            f"On the new machine: first start › \"This computer is another device of mine\" "
            f"› Pair, address {where}, code {code}, device name '{name}' (or "
            f"`provara-desktop identity join-device --pair {where} --code {code} --name "
            f"'{name}'`).")
        self.status.setText(f"Waiting up to {OFFER_TIMEOUT:g} s for the device to join…")

    def on_cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()

    def _offer_ended(self, added: Any, exc: BaseException | None) -> None:
        self._future = None
        self.code_label.setText("")  # the code died with the offer
        self.offer_where.setText("")
        if added is None and exc is None:
            self._busy(False)
            self.status.setText("Offer cancelled; nothing was certified.")
            return
        if exc is not None:
            self._failed(exc)
            return
        self._certified(added, "Paired: the device trusts you, and you trust it.")

    # -- results -----------------------------------------------------------------------------

    def _certified(self, done: Any, then: str) -> None:
        self._busy(False)
        device: Identity = done.device
        cert: dict[str, Any] = getattr(done, "certificate", {})
        self.device = device
        self.status.setText(f"Device '{device.device_name}' ({device.actor}) certified by "
                            f"{cert.get('event_id', 'a certificate')}. {then}")
        self.fingerprint.setText(f"The device's fingerprint: <b>{device.fingerprint}</b> — "
                                 "check the new machine shows the same.")
        self.added.emit(device)

    def _failed(self, exc: BaseException) -> None:
        self._busy(False)
        log.warning("adding a device failed: %s", exc)
        self.status.setText(_error_text(exc))

    def reject(self) -> None:
        self.on_cancel()  # closing the dialog ends an offer still waiting
        super().reject()


class JoinDeviceDialog(QDialog):
    """Accepted with ``identity`` and ``key`` set: this profile is now the device."""

    def __init__(self, store: IdentityStore, lan: LanService | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("joinDeviceDialog")
        self.setWindowTitle("This computer is another device of mine")
        self.store, self.lan = store, lan
        self._inbox = Inbox(self)
        self.identity: Identity | None = None
        self.key: SigningKey | None = None
        intro = _label("joinIntro", self,
                       "On your other machine, File › Add a device… writes a device file or "
                       "offers a code. This computer then signs with its own key, certified "
                       "by yours: your evidence from both machines is yours, and neither "
                       "forks the other's chain.")
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("joinTabs")
        self.tabs.addTab(self._file_page(), "Device file")
        self.tabs.addTab(self._pair_page(), "Pair over the LAN")
        self.status = _label("joinStatus", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.tabs)
        lay.addWidget(self.status)
        lay.addWidget(buttons)
        self.resize(560, 360)

    def _file_page(self) -> QWidget:
        page = QWidget(self)
        self.file_path = QLineEdit(page)
        self.file_path.setObjectName("joinFilePath")
        self.file_pass = password_field("joinFilePassphrase", page)
        self.open_button = QPushButton("Open the device file", page)
        self.open_button.setObjectName("joinWithFile")
        self.open_button.clicked.connect(self.on_open_file)
        form = QFormLayout()
        form.addRow("Device file:", path_row(self.file_path, self.on_browse))
        form.addRow("Its passphrase:", self.file_pass)
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addWidget(self.open_button)
        lay.addStretch(1)
        return page

    def _pair_page(self) -> QWidget:
        page = QWidget(self)
        self.address = QLineEdit(page)
        self.address.setObjectName("joinAddress")
        self.address.setPlaceholderText("HOST:PORT as the offer shows it")
        self.code = QLineEdit(page)
        self.code.setObjectName("joinCode")
        self.device_name = QLineEdit(page)
        self.device_name.setObjectName("joinDeviceName")
        self.new_pass = password_field("joinPassphrase", page)
        self.new_repeat = password_field("joinRepeat", page)
        self.pair_button = QPushButton("Join", page)
        self.pair_button.setObjectName("joinWithCode")
        self.pair_button.clicked.connect(self.on_pair)
        self.pair_button.setEnabled(self.lan is not None)
        form = QFormLayout()
        form.addRow("Address:", self.address)
        form.addRow("Code:", self.code)
        form.addRow("Device name (as offered):", self.device_name)
        form.addRow("Passphrase for this computer:", self.new_pass)
        form.addRow("Repeat it:", self.new_repeat)
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addWidget(self.pair_button)
        return page

    def _busy(self, busy: bool) -> None:
        self.open_button.setEnabled(not busy)
        self.pair_button.setEnabled(not busy and self.lan is not None)
        self.tabs.tabBar().setEnabled(not busy)

    def on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The device file", str(Path.home()),
                                              "Device file (*.provara-device);;All files (*)")
        if path:
            self.file_path.setText(path)

    def on_open_file(self) -> None:
        from provara_desktop.store.devices import join_device

        path = Path(self.file_path.text().strip()).expanduser()
        pw = self.file_pass.text()
        if not self.file_path.text().strip() or not path.is_file():
            self.status.setText("Choose the device file your other machine wrote.")
            return
        if not pw:
            self.status.setText("Enter the passphrase chosen for the device.")
            return
        store = self.store

        def job() -> tuple[Identity, SigningKey]:
            identity, _cert = join_device(store, path, pw)
            return identity, store.unlock(pw)

        self._busy(True)
        self.status.setText("Opening the device file…")
        run_op(self, lambda: background(job)).success(self._joined).failure(self._failed)

    def on_pair(self) -> None:
        if self.lan is None:
            return
        name, pw = self.device_name.text().strip(), self.new_pass.text()
        if not name:
            self.status.setText("Type the device name your other machine offered.")
            return
        if not pw or pw != self.new_repeat.text():
            self.status.setText("Choose a passphrase for this computer and type it twice.")
            return
        store, lan = self.store, self.lan
        try:
            fut = lan.device_join(store, device_name=name, address=self.address.text().strip(),
                                  code=self.code.text(), passphrase=pw)
        except Exception as exc:  # a malformed address or code: nothing was sent
            self.status.setText(_error_text(exc))
            return

        def unlocked() -> Future[tuple[Identity, SigningKey]]:
            def job() -> tuple[Identity, SigningKey]:
                identity, _paired = fut.result()
                return identity, store.unlock(pw)

            return background(job)

        self._busy(True)
        self.status.setText("Joining the offer…")
        run_op(self, unlocked).success(self._joined).failure(self._failed)

    def _joined(self, result: tuple[Identity, SigningKey]) -> None:
        self.identity, self.key = result
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._busy(False)
        log.warning("joining as a device failed: %s", exc)
        self.status.setText(_error_text(exc))

"""One person on several machines, from the app: File › Add a device… certifies a new device
by a device file or by a LAN pairing (loopback, real SPAKE2 and TLS), and the first-start
dialog's "This computer is another device of mine" makes a fresh profile that device. A
joiner naming itself otherwise is refused with nothing written."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton

from provara_desktop.net.app_peer import LanOptions, LanService
from provara_desktop.runtime.async_loop import AsyncLoop
from provara_desktop.store import vault_keys
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.trust import TrustStore
from provara_desktop.ui.dialogs.device_dialog import AddDeviceDialog, JoinDeviceDialog
from tests.ui.conftest import FAST, PASSPHRASE, tree_digest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from provara_desktop.session import VaultSession


def _lan(home: Path) -> Iterator[LanService]:
    loop = AsyncLoop(f"test-{home.name}").start()
    service = LanService(loop, home, LanOptions(host="127.0.0.1", port=0,
                                                interfaces=["127.0.0.1"], discovery=False))
    try:
        yield service
    finally:
        loop.stop(timeout=10)


@pytest.fixture
def lan_person(home: Path) -> Iterator[LanService]:
    yield from _lan(home)


@pytest.fixture
def laptop_home(tmp_path: Path) -> Path:
    d = tmp_path / "laptop-profile"
    d.mkdir()
    return d


@pytest.fixture
def lan_laptop(laptop_home: Path) -> Iterator[LanService]:
    yield from _lan(laptop_home)


def _click(qtbot: Any, dialog: QDialog, name: str) -> None:
    qtbot.mouseClick(dialog.findChild(QPushButton, name), Qt.MouseButton.LeftButton)


def _type(qtbot: Any, dialog: QDialog, name: str, text: str) -> None:
    field = dialog.findChild(QLineEdit, name)
    field.clear()
    qtbot.keyClicks(field, text)


def _device_of(session: VaultSession, person: str) -> list[Any]:
    life = vault_keys.key_life(session.vault)
    return [s for s in life.keys.values() if s.role == "device" and s.person == person]


def test_a_device_added_by_file_is_joined_on_the_new_machine(
        qtbot: Any, session: VaultSession, store: IdentityStore, unlocked: Any,
        tmp_path: Path, laptop_home: Path) -> None:
    ident, key = unlocked
    session.unlock(key, ident.actor, ident)
    add = AddDeviceDialog(session, store, key, None)
    qtbot.addWidget(add)
    add.show()
    status = add.findChild(QLabel, "deviceStatus")
    out = tmp_path / "laptop.provara-device"
    _type(qtbot, add, "deviceFilePath", str(out))
    _click(qtbot, add, "writeDeviceFile")  # no name yet: said, nothing written
    assert "Name the device" in status.text()
    assert not out.exists()
    _type(qtbot, add, "deviceName", "field laptop")
    _type(qtbot, add, "devicePassphrase", "laptop pass")
    _type(qtbot, add, "deviceRepeat", "laptop pass")
    _click(qtbot, add, "writeDeviceFile")
    qtbot.waitUntil(lambda: "certified by" in status.text(), timeout=15000)
    assert out.is_file()
    devices = _device_of(session, ident.actor)
    assert [d.device_name for d in devices] == ["field laptop"]
    assert devices[0].status == "active"

    laptop = IdentityStore(laptop_home, **FAST)
    join = JoinDeviceDialog(laptop, None)
    qtbot.addWidget(join)
    join.show()
    _type(qtbot, join, "joinFilePath", str(out))
    _type(qtbot, join, "joinFilePassphrase", "not it")
    _click(qtbot, join, "joinWithFile")
    join_status = join.findChild(QLabel, "joinStatus")
    qtbot.waitUntil(lambda: "passphrase" in join_status.text().lower()
                    and "Opening" not in join_status.text(), timeout=15000)
    assert not laptop.exists()  # a wrong passphrase makes no identity
    _type(qtbot, join, "joinFilePassphrase", "laptop pass")
    _click(qtbot, join, "joinWithFile")
    qtbot.waitUntil(lambda: join.result() == QDialog.DialogCode.Accepted, timeout=15000)
    made = laptop.load()
    assert made.person_actor == ident.actor
    assert made.device_name == "field laptop"
    assert made.key_id == devices[0].key_id
    assert join.key is not None
    assert join.key.key_id == made.key_id
    # the fingerprint the person's dialog asks to compare is the laptop's
    assert made.fingerprint in add.findChild(QLabel, "deviceFingerprint").text()


def test_a_device_paired_over_the_lan_and_a_wrong_name_refused(
        qtbot: Any, session: VaultSession, store: IdentityStore, unlocked: Any,
        home: Path, laptop_home: Path, lan_person: LanService, lan_laptop: LanService) -> None:
    ident, key = unlocked
    session.unlock(key, ident.actor, ident)
    add = AddDeviceDialog(session, store, key, lan_person, offer_host="127.0.0.1",
                          offer_port=0)
    qtbot.addWidget(add)
    add.show()
    status = add.findChild(QLabel, "deviceStatus")
    laptop = IdentityStore(laptop_home, **FAST)

    def offer() -> tuple[str, str]:
        _click(qtbot, add, "startDeviceOffer")
        where = add.findChild(QLabel, "deviceOfferAddress")
        qtbot.waitUntil(lambda: "address" in where.text(), timeout=15000)
        found = re.search(r"address (\S+), code (\S+),", where.text())
        assert found is not None
        return found.group(1), found.group(2)

    def join(address: str, code: str, name: str) -> JoinDeviceDialog:
        dlg = JoinDeviceDialog(laptop, lan_laptop)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.tabs.setCurrentIndex(1)
        _type(qtbot, dlg, "joinAddress", address)
        _type(qtbot, dlg, "joinCode", code)
        _type(qtbot, dlg, "joinDeviceName", name)
        _type(qtbot, dlg, "joinPassphrase", PASSPHRASE)
        _type(qtbot, dlg, "joinRepeat", PASSPHRASE)
        _click(qtbot, dlg, "joinWithCode")
        return dlg

    _type(qtbot, add, "deviceName", "field laptop")
    before = tree_digest(session.vault.root)
    address, code = offer()
    wrong = join(address, code, "desk")
    wrong_status = wrong.findChild(QLabel, "joinStatus")
    qtbot.waitUntil(lambda: "calls itself 'desk'" in status.text(), timeout=20000)
    qtbot.waitUntil(lambda: "did not confirm" in wrong_status.text(), timeout=20000)
    assert "nothing was certified" in status.text()
    assert tree_digest(session.vault.root) == before  # nothing certified, nothing written
    assert not laptop.exists()
    assert _device_of(session, ident.actor) == []

    address, code = offer()
    right = join(address, code, "field laptop")
    qtbot.waitUntil(lambda: right.result() == QDialog.DialogCode.Accepted, timeout=20000)
    qtbot.waitUntil(lambda: "certified by" in status.text(), timeout=20000)
    made = laptop.load()
    assert made.person_actor == ident.actor
    devices = _device_of(session, ident.actor)
    assert [d.key_id for d in devices] == [made.key_id]
    # both sides pinned each other, as a pairing does
    assert made.key_id in TrustStore(home).trusted_ids()
    assert key.key_id in TrustStore(laptop_home).trusted_ids()

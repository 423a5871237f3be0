"""A hub alert recorded in the vault (net/hub_side.py) shows in the status bar, and a click
lists it with the hub it is about."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QMessageBox, QToolButton

from provara_desktop.net.hub_side import ALERT_EVENT


def test_a_recorded_hub_alert_is_in_the_status_bar(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any, monkeypatch: Any) -> None:
    ident, key = unlocked
    window = make_window(session, key=key)
    button = window.findChild(QToolButton, "hubAlerts")
    window.update_status()
    assert not button.isVisible()  # none yet
    vault = session.vault
    event = vault.new_event(key=key, actor=ident.actor, event_type=ALERT_EVENT,
                            namespace="local",
                            payload={"code": "ROLLBACK", "message": "its log went back",
                                     "proof": {"hub_key_id": "bp1_0123456789abcdef"},
                                     "raised_utc": "2026-12-03T08:00:00Z"})
    session.submit(lambda: vault.append([event], signer=key)).result(timeout=15)
    qtbot.waitUntil(lambda: session.event_count == vault.index.count(), timeout=10000)
    window.update_status()
    assert button.isVisible()
    assert button.text().startswith("\u26a0 1 hub alert:")
    shown: dict[str, str] = {}

    def exec_(box: QMessageBox) -> int:
        shown["text"] = box.informativeText()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    button.click()
    assert "ROLLBACK" in shown["text"]
    assert "bp1_0123456789abcdef" in shown["text"]

"""A new vault says what to do next instead of a table with one "system:status" row:
record an observation, import a bundle, find collaborators; once there is evidence, the
beliefs table is back."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QPushButton, QWidget


def test_a_new_vault_says_what_to_do_next(qtbot: Any, make_window: Any, session: Any,
                                          unlocked: Any) -> None:
    ident, key = unlocked
    window = make_window(session, key=key)
    window.show()
    beliefs = window.views["Beliefs"]
    panel = beliefs.findChild(QWidget, "emptyVault")
    qtbot.waitUntil(panel.isVisible, timeout=15000)
    assert not beliefs.splitter.isVisible()
    beliefs.findChild(QPushButton, "emptyPeers").click()
    assert window.tabs.currentWidget() is window.views["Peers"]
    window.tabs.setCurrentWidget(beliefs)
    beliefs.findChild(QPushButton, "emptyObserve").click()
    qtbot.waitUntil(lambda: any(d.isVisible() for d in
                                window.findChildren(QDialog, "observeDialog")), timeout=5000)
    for d in window.findChildren(QDialog, "observeDialog"):
        d.reject()
    session.unlock(key, ident.actor)
    session.observe(subject="door", predicate="state", value="open").result(timeout=15)
    qtbot.waitUntil(lambda: not panel.isVisible(), timeout=15000)
    assert beliefs.splitter.isVisible()

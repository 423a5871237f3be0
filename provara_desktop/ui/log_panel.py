"""The in-app log panel: a dock fed by a bounded deque (STYLE rule 7).

``DequeHandler`` is a plain logging handler that any thread may write to; it only appends
formatted lines to a ``deque(maxlen=...)``. The panel drains it on a GUI timer, so logging
from the writer or verifier thread never touches a widget, and a flood of messages costs a
bounded amount of memory and one repaint per tick.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

MAX_LINES = 2000
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class DequeHandler(logging.Handler):
    """Keeps the last ``maxlen`` records as (level, text); ``serial`` counts every record
    ever emitted so readers can tell which lines are new even after old ones fell off."""

    def __init__(self, maxlen: int = MAX_LINES) -> None:
        super().__init__(logging.DEBUG)
        self.records: deque[tuple[int, str]] = deque(maxlen=maxlen)
        self.serial = 0
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a bad format string must not break the caller
            self.handleError(record)
            return
        with self._guard:
            self.records.append((record.levelno, text))
            self.serial += 1

    def since(self, serial: int) -> tuple[int, list[tuple[int, str]]]:
        """(current serial, the records emitted after ``serial`` that are still kept)."""
        with self._guard:
            new = min(self.serial - serial, len(self.records))
            return self.serial, list(self.records)[len(self.records) - new:] if new else []


_handler: DequeHandler | None = None


def install_handler(level: int = logging.INFO) -> DequeHandler:
    """The process's deque handler on the root logger (installed once)."""
    global _handler  # noqa: PLW0603 - the root logger is process-wide too
    if _handler is None:
        root = logging.getLogger()
        if root.level > level or root.level == logging.NOTSET:
            # Lowering the root level must not make the existing handlers (the CLI's stderr
            # handler) chattier: they keep the threshold they effectively had.
            old = root.getEffectiveLevel()
            for h in root.handlers:
                if h.level == logging.NOTSET:
                    h.setLevel(old)
            root.setLevel(level)
        _handler = DequeHandler()
        _handler.setLevel(level)
        root.addHandler(_handler)
    return _handler


_LEVELS = [("Debug", logging.DEBUG), ("Info", logging.INFO), ("Warnings", logging.WARNING),
           ("Errors", logging.ERROR)]


class LogPanel(QDockWidget):
    def __init__(self, handler: DequeHandler, parent: QWidget | None = None) -> None:
        super().__init__("Log", parent)
        self.setObjectName("logPanel")
        self._handler = handler
        self._serial = 0
        self._kept: deque[tuple[int, str]] = deque(maxlen=MAX_LINES)
        body = QWidget(self)
        self.text = QPlainTextEdit(body)
        self.text.setObjectName("logText")
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.level = QComboBox(body)
        self.level.setObjectName("logLevel")
        for label, lvl in _LEVELS:
            self.level.addItem(label, lvl)
        self.level.setCurrentIndex(1)
        self.level.currentIndexChanged.connect(self.on_level_changed)
        clear = QPushButton("Clear", body)
        clear.clicked.connect(self.on_clear)
        bar = QHBoxLayout()
        bar.addWidget(self.level)
        bar.addStretch(1)
        bar.addWidget(clear)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.text)
        self.setWidget(body)
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.on_tick)
        self._timer.start()
        self.on_tick()

    def on_tick(self) -> None:
        self._serial, new = self._handler.since(self._serial)
        if not new:
            return
        self._kept.extend(new)
        threshold = self.level.currentData()
        lines = [text for lvl, text in new if lvl >= threshold]
        if lines:
            self.text.appendPlainText("\n".join(lines))

    def on_level_changed(self) -> None:
        threshold = self.level.currentData()
        self.text.setPlainText("\n".join(t for lvl, t in self._kept if lvl >= threshold))

    def on_clear(self) -> None:
        self._kept.clear()
        self.text.clear()

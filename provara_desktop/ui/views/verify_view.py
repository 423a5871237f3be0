"""The verify tab: verify the whole vault in the background, with progress and Cancel, and
list every problem and fork; activating one jumps to its event in the timeline.

The job runs on the session's verifier thread with a Qt-free Progress and CancelToken (STYLE
rule 4); this view only polls the progress on a timer and renders it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.core.errors import UserCancelled
from provara_desktop.runtime.progress import CancelToken, Progress
from provara_desktop.ui import theme
from provara_desktop.ui.errors import show_exception
from provara_desktop.ui.models.problems_model import (
    EventIdRole,
    ProblemsModel,
    rows_from_report,
    tally,
)
from provara_desktop.ui.ops import run_op
from provara_desktop.ui.views.beliefs_view import make_table, set_widths

if TYPE_CHECKING:
    from provara_desktop.runtime.bus import Changes
    from provara_desktop.session import VaultSession
    from provara_desktop.store.verify_vault import VaultReport
    from provara_desktop.ui.models.problems_model import ProblemRow


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def summary_of(report: VaultReport, rows: list[ProblemRow]) -> str:
    """One line over the table, counted from its rows (``rows_from_report(report)``)."""
    counts = tally(rows)
    if report.ok:
        head = (f"Verified: {plural(report.log.event_count, 'event')}, every signature and "
                "chain intact")
        return head + (f" ({plural(counts.warnings, 'warning')})" if counts.warnings else "")
    forks = f" ({plural(counts.forks, 'fork')})" if counts.forks else ""
    return (f"FAILED: {plural(report.log.event_count, 'event')}, "
            f"{plural(counts.errors, 'error')}{forks}, {plural(counts.warnings, 'warning')}")


class VerifyView(QWidget):
    event_selected = Signal(str)
    verification_started = Signal()

    def __init__(self, session: VaultSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verifyView")
        self._session = session
        self._progress: Progress | None = None
        self._token: CancelToken | None = None

        self.verify_button = QPushButton("Verify vault", self)
        self.verify_button.setObjectName("verifyButton")
        self.verify_button.setToolTip("Check every file, signature and chain (F5)")
        self.verify_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelVerifyButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("verifyProgress")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.summary = QLabel("Not verified in this session yet.", self)
        self.summary.setObjectName("verifySummary")
        self.summary.setWordWrap(True)
        self.model = ProblemsModel(self)
        self.table = make_table(self, "problemsTable")
        self.table.setModel(self.model)
        self.table.activated.connect(self.on_activated)
        set_widths(self.table, [70, 170, 260, 190, 170])
        self.table.setToolTip("Double-click or press Enter to see the event in the timeline")

        bar = QHBoxLayout()
        bar.addWidget(self.verify_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress_bar, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self.on_poll)
        if session.last_report is not None:
            self.show_report(session.last_report)

    @property
    def running(self) -> bool:
        return self._token is not None

    def start(self) -> None:
        if self.running or self._session.closed:
            return
        progress, token = Progress(label="verifying"), CancelToken()
        self._progress, self._token = progress, token
        self.verify_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self.summary.setText("Verifying…")
        self._poll.start()
        self.verification_started.emit()
        run_op(self, lambda: self._session.verify(progress=progress, cancel=token)) \
            .success(self.on_report).failure(self.on_failed)

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()
            self.summary.setText("Cancelling…")

    def on_poll(self) -> None:
        if self._progress is not None:
            self.progress_bar.setValue(int(self._progress.fraction * 1000))
            self.progress_bar.setFormat(
                f"{self._progress.done:,} of {self._progress.total:,} events")

    def _finished(self) -> None:
        self._poll.stop()
        self._progress = self._token = None
        self.verify_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def on_report(self, report: VaultReport) -> None:
        self._finished()
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"{plural(report.log.event_count, 'event')} checked")
        self.show_report(report)

    def on_failed(self, exc: BaseException) -> None:
        self._finished()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p%")
        if isinstance(exc, UserCancelled):
            self.summary.setText("Verification cancelled; nothing was checked to the end.")
        else:
            self.summary.setText(f"Verification could not run: {exc}")
            show_exception(self, exc)

    def show_report(self, report: VaultReport) -> None:
        rows = rows_from_report(report)
        self.model.set_rows(rows)
        self.summary.setText(summary_of(report, rows))
        colour = theme.accent("ok" if report.ok else "error").name()
        self.summary.setStyleSheet(f"color: {colour}; font-weight: bold")

    def on_changes(self, changes: Changes) -> None:
        # a verification started elsewhere (another window, a script) still shows here
        if changes.verification and not self.running and self._session.last_report:
            self.show_report(self._session.last_report)

    def on_activated(self) -> None:
        idx = self.table.currentIndex()
        eid = idx.data(EventIdRole) if idx.isValid() else None
        if eid:
            self.event_selected.emit(eid)

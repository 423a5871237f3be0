"""Progress and cancellation for long jobs, with no Qt in sight: the job reports, the UI
polls and renders (STYLE rule 4)."""

from __future__ import annotations

import threading
from dataclasses import dataclass


class CancelToken:
    """Set by the UI thread, read by the worker between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:  # usable directly as a ``cancelled`` callback
        return self._event.is_set()


@dataclass
class Progress:
    """Written by the worker, read by the UI timer; plain attribute writes are atomic."""

    done: int = 0
    total: int = 0
    label: str = ""

    def update(self, done: int) -> None:
        self.done = done

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

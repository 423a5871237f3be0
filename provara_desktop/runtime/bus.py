"""A small typed publish/subscribe bus. Publishers are Qt-free services; the UI bridge is one
subscriber that turns each event into a queued Qt signal (STYLE rule 2)."""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changes:
    """What an operation changed, so each view refreshes only if its flag is set."""

    events: bool = False  # the log grew or was reordered
    beliefs: bool = False
    keys: bool = False
    identity: bool = False
    vault: bool = False  # another vault was opened or the vault was closed
    verification: bool = False  # a verification finished: session.last_report is new
    first_new_pos: int | None = None


@dataclass(frozen=True)
class VaultChanged:
    changes: Changes
    source: str = "local"  # "local", "external" (another program wrote the vault)


@dataclass(frozen=True)
class LogMessage:
    level: int
    text: str


@dataclass
class EventBus:
    """Subscribers are held weakly (bound methods via WeakMethod) so a closed window is not
    kept alive by the bus."""

    _subs: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, callback: Callable[[object], None]) -> None:
        ref: Any
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref = weakref.WeakMethod(callback)
        else:
            ref = weakref.ref(callback)
        with self._lock:
            self._subs.append(ref)

    def publish(self, event: object) -> None:
        with self._lock:
            refs = list(self._subs)
        dead = []
        for ref in refs:
            cb = ref()
            if cb is None:
                dead.append(ref)
                continue
            try:
                cb(event)
            except Exception:  # one bad subscriber must not starve the others
                log.exception("event subscriber failed")
        if dead:
            with self._lock:
                self._subs = [r for r in self._subs if r not in dead]

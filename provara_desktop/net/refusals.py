"""Connections our listener refused, kept so the person at the keyboard can see them.

A refusal at the listener (a computer that is not paired with us failing the TLS handshake,
a key whose trust was removed, a port scanner's garbage) happens while nobody is looking;
logged only, it left "why can't Carol sync with me?" without an answer on the side that
refused. The app's peers panel lists the recent ones with where they came from, the key
when the handshake got far enough to prove one, and the reason in plain words.

Bounded: a hostile neighbour that connects a million times costs a few kilobytes here, and
repeats from one address and key for one reason are counted on a single entry.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from provara_desktop.core.event import utc_now_iso

__all__ = ["KEEP", "Refusal", "RecentRefusals"]

KEEP = 50  # distinct refusals kept, newest first


@dataclass(frozen=True)
class Refusal:
    at: str  # UTC, when it last happened
    address: str  # where the connection came from (HOST:PORT as the socket says)
    key_id: str | None  # the key the peer proved, when the handshake got that far
    reason: str  # a sentence for the person who refused
    count: int = 1  # times in a row from this host, key and reason

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "address": self.address, "key_id": self.key_id,
                "reason": self.reason, "count": self.count}


def _host(address: str) -> str:
    # HOST:PORT or [V6]:PORT. A reconnecting peer comes from a new source port each time:
    # the same host, the same story.
    return address.rsplit(":", 1)[0]


class RecentRefusals:
    """The last KEEP refusals, newest first. Used on the event loop's thread only."""

    def __init__(self, keep: int = KEEP) -> None:
        self._items: deque[Refusal] = deque(maxlen=keep)

    def add(self, address: str, key_id: str | None, reason: str) -> Refusal:
        now = utc_now_iso()
        if self._items:
            last = self._items[0]
            if (_host(last.address), last.key_id, last.reason) == (_host(address), key_id,
                                                                    reason):
                self._items[0] = replace(last, at=now, address=address,
                                         count=last.count + 1)
                return self._items[0]
        entry = Refusal(now, address, key_id, reason)
        self._items.appendleft(entry)
        return entry

    def items(self) -> tuple[Refusal, ...]:
        return tuple(self._items)

    def __len__(self) -> int:
        return len(self._items)

"""What two replicas lack of each other, from one frontier exchange: the peers panel's
"they have N events from M actors that you lack" and the reverse.

A frontier (net/chains.py) gives, per actor, how many events a side holds and its chain
heads. What we send is exact (the session computed it, ``sending``: events per actor); what
we lack then follows from the counts: for an actor, the events both hold are ours minus what
we send, and the peer's count minus those is what we lack. Without ``sending`` (only the two
frontiers), the difference of the counts is an estimate, exact when one side is simply
behind the other (the common case) and marked ``exact=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provara_desktop.net.messages import Frontier


@dataclass(frozen=True)
class FrontierGap:
    we_lack_events: int  # events the peer holds that we do not
    we_lack_actors: int  # of that many actors
    they_lack_events: int  # events we hold that the peer does not
    they_lack_actors: int
    exact: bool  # False: from the counts alone (see the module's docstring)

    @property
    def level(self) -> bool:
        return self.we_lack_events == 0 and self.they_lack_events == 0

    def describe(self) -> tuple[str, str]:
        """("they have N events from M actors that you lack", the reverse)."""
        about = "" if self.exact else "about "
        return (f"they have {about}{_events(self.we_lack_events, self.we_lack_actors)} "
                "that you lack",
                f"you have {about}{_events(self.they_lack_events, self.they_lack_actors)} "
                "that they lack")

    def to_json(self) -> dict[str, Any]:
        return {"we_lack_events": self.we_lack_events, "we_lack_actors": self.we_lack_actors,
                "they_lack_events": self.they_lack_events,
                "they_lack_actors": self.they_lack_actors, "exact": self.exact}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FrontierGap | None:
        try:
            return cls(int(doc["we_lack_events"]), int(doc["we_lack_actors"]),
                       int(doc["they_lack_events"]), int(doc["they_lack_actors"]),
                       bool(doc["exact"]))
        except (KeyError, TypeError, ValueError):
            return None


def _events(n: int, actors: int) -> str:
    return (f"{n} event{'' if n == 1 else 's'} from {actors} "
            f"actor{'' if actors == 1 else 's'}")


def frontier_gap(mine: Frontier, theirs: Frontier,
                 sending: Mapping[str, int] | None = None) -> FrontierGap:
    we_lack: dict[str, int] = {}
    they_lack: dict[str, int] = {}
    for actor in mine.actors.keys() | theirs.actors.keys():
        a, b = mine.actors.get(actor), theirs.actors.get(actor)
        if a is not None and b is not None and set(a.heads) == set(b.heads):
            continue  # the same chain heads: the same events
        ours = a.count if a is not None else 0
        peer = b.count if b is not None else 0
        if sending is not None:
            out = sending.get(actor, 0)
            common = ours - out
            missing = max(0, peer - common)
        else:
            out = max(0, ours - peer)
            missing = max(0, peer - ours)
        if out:
            they_lack[actor] = out
        if missing:
            we_lack[actor] = missing
    return FrontierGap(sum(we_lack.values()), len(we_lack), sum(they_lack.values()),
                       len(they_lack), sending is not None)

"""A vault's author chains as the sync protocol sees them: per actor a count and the heads
(the frontier), and, given the other side's frontier and ``lacking``, exactly which of our
events it lacks (docs/SYNC_PROTOCOL.md, "What the other side lacks").

Read from the SQLite index (event id, actor, prev, position, where the line is), never from a
peer: what a peer says is only ever used to mark events of OURS as known to it, so a lying
peer can make us send less to it, never make us write anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provara_desktop.net.messages import (
    MAX_HEADS,
    MAX_SAMPLES,
    ActorHeads,
    Frontier,
    Lack,
    Lacking,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from provara_desktop.store.index import IndexRow
    from provara_desktop.store.vault import Vault

_PAGE = 50_000


class Chains:
    def __init__(self, rows: Iterable[IndexRow]) -> None:
        self.rows: dict[str, IndexRow] = {}
        for r in rows:
            # An event without an actor belongs to no chain and is invalid anyway (verify
            # reports it): it is neither listed nor sent.
            if r.actor:
                self.rows.setdefault(r.event_id, r)
        # An event "builds on" its prev only when the prev is the same actor's event here
        # (PROTOCOL.md A §6): a dangling or cross-actor prev starts a chain of its own.
        builds_on: set[str] = set()
        for r in self.rows.values():
            prev = r.prev_event_hash
            if prev is not None:
                target = self.rows.get(prev)
                if target is not None and target.actor == r.actor:
                    builds_on.add(prev)
        self.heads: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        for r in self.rows.values():
            actor = str(r.actor)
            self.counts[actor] = self.counts.get(actor, 0) + 1
            if r.event_id not in builds_on:
                self.heads.setdefault(actor, []).append(r.event_id)
        for ids in self.heads.values():
            ids.sort()

    @classmethod
    def from_vault(cls, vault: Vault) -> Chains:
        """Every indexed event, a page at a time (the index follows the log on open)."""
        index = vault.index

        def pages() -> Iterator[IndexRow]:
            after = -1
            while rows := index.query(after_pos=after, limit=_PAGE):
                yield from rows
                after = rows[-1].pos

        return cls(pages())

    def frontier(self) -> Frontier:
        # A chain forked more than MAX_HEADS ways is cut to its first heads: the other side
        # then sends a little more than needed, never less (it marks less as known).
        return Frontier({a: ActorHeads(self.counts[a], tuple(self.heads[a][:MAX_HEADS]))
                         for a in sorted(self.heads)})

    def ancestors(self, eid: str) -> Iterator[str]:
        """``eid`` and the earlier events of its actor it builds on, newest first."""
        row = self.rows.get(eid)
        seen: set[str] = set()
        while row is not None and row.event_id not in seen:
            seen.add(row.event_id)
            yield row.event_id
            prev = row.prev_event_hash
            nxt = self.rows.get(prev) if prev is not None else None
            row = nxt if nxt is not None and nxt.actor == row.actor else None

    def samples(self, actor: str) -> tuple[str, ...]:
        """Events 1, 2, 4, 8... before each head of ``actor`` (at most MAX_SAMPLES): the
        other side marks those it holds, and their ancestors, as held by us. Where our chain
        and its differ (a fork), this bounds what it sends that we already hold to about the
        length of our branch."""
        out: list[str] = []
        for head in self.heads.get(actor, ())[:MAX_HEADS]:
            mark = 1
            for distance, eid in enumerate(self.ancestors(head)):
                if distance == mark:
                    out.append(eid)
                    mark *= 2
        return tuple(dict.fromkeys(out))[:MAX_SAMPLES]

    def lacking_for(self, theirs: Frontier) -> Lacking:
        """For each actor whose heads in ``theirs`` include one we do not hold: which, and
        samples of our own chain of that actor."""
        out: dict[str, Lack] = {}
        for actor, entry in theirs.actors.items():
            missing = tuple(h for h in entry.heads if h not in self.rows)
            if missing:
                out[actor] = Lack(missing, self.samples(actor))
        return Lacking(out)

    def unknown_to(self, theirs: Frontier, their_lacking: Lacking | None) -> list[IndexRow]:
        """Our events the other side lacks, in our log order.

        ``their_lacking`` None: the two frontiers are the same (nothing to send). An actor
        their ``lacking`` does not name: they hold every head of ours, so all of it. Else
        they hold the ancestors of their heads we hold, of our heads they did not list as
        lacking, and of their samples we hold."""
        if their_lacking is None:
            return []
        known: set[str] = set()
        for actor, heads in self.heads.items():
            lack = their_lacking.actors.get(actor)
            if lack is None:
                continue
            entry = theirs.actors.get(actor)
            starts = [h for h in entry.heads if h in self.rows] if entry else []
            lacking = set(lack.lacking)
            starts += [h for h in heads if h not in lacking]
            starts += [s for s in lack.samples if s in self.rows]
            for start in starts:
                for eid in self.ancestors(start):
                    if eid in known:
                        break
                    known.add(eid)
        out = [r for r in self.rows.values()
               if r.actor in their_lacking.actors and r.event_id not in known]
        out.sort(key=lambda r: r.pos)
        return out


def same_heads(a: Frontier, b: Frontier) -> bool:
    """Both sides hold the same events (docs: the level case, no ``lacking`` round)."""
    return a.actors.keys() == b.actors.keys() and all(
        set(a.actors[k].heads) == set(b.actors[k].heads) for k in a.actors)

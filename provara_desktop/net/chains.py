"""A vault's author chains as the sync protocol sees them: per actor a count and the heads
(the frontier), and, given the other side's frontier and ``lacking``, exactly which of our
events it lacks (docs/SYNC_PROTOCOL.md, "What the other side lacks").

Read from the SQLite index (event id, actor, prev, position, where the line is), never from a
peer: what a peer says is only ever used to mark events of OURS as known to it, so a lying
peer can make us send less to it, never make us write anything.

Everything here costs what differs, not what is held: the frontier is kept beside the index
(``vault_frontier``), the samples are skips along the (actor, pos) index, and what the other
side lacks is found by walking our chains back from our heads, newest first, only until
the walk meets events the other side is known to hold (``_walk``). Two million-event
replicas ten events apart read a few dozen rows.
"""

from __future__ import annotations

import heapq
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from provara_desktop.net.messages import (
    MAX_HEADS,
    MAX_SAMPLES,
    ActorHeads,
    Frontier,
    Lack,
    Lacking,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from provara_desktop.store.index import EventIndex, IndexRow
    from provara_desktop.store.vault import Vault

_PAGE = 50_000
_WALK_PAGE = 256  # an actor's rows fetched at once while walking its chain back
# Sample offsets back from an actor's newest event: 1, 2, 4, 8... (docs: "samples").
_SAMPLE_OFFSETS = tuple(1 << k for k in range(MAX_SAMPLES))


class _Rows(Protocol):
    """Where the chains' rows come from: the index, or rows in memory."""

    def get_many(self, event_ids: Iterable[str]) -> dict[str, IndexRow]: ...

    def actor_ranked(self, actor: str, offsets: Iterable[int]) -> list[str]: ...

    def before(self, actor: str, pos: int, limit: int) -> list[IndexRow]:
        """``actor``'s rows with a position below ``pos``, newest first."""
        ...

    def of_actor(self, actor: str) -> Iterator[IndexRow]:
        """Every row of ``actor``, in log order."""
        ...


class Chains:
    heads: dict[str, list[str]]
    counts: dict[str, int]

    def __init__(self, rows: Iterable[IndexRow]) -> None:
        """Chains of rows held in memory (tests, small sets)."""
        mem = _MemoryRows(rows)
        self._rows: _Rows = mem
        self.heads, self.counts = mem.heads_and_counts()

    @classmethod
    def from_vault(cls, vault: Vault) -> Chains:
        """The vault's chains: the frontier from the index's per-actor queries or the
        frontier kept beside the index (``vault_frontier``), without reading a row; what
        the other side lacks, from index seeks. The index follows the log on open."""
        out = cls.__new__(cls)
        out._rows = _IndexRows(vault.index)
        actors = vault_frontier(vault)
        out.heads = {a: list(h) for a, (_n, h) in actors.items()}
        out.counts = {a: n for a, (n, _h) in actors.items()}
        return out

    def frontier(self) -> Frontier:
        return _frontier({a: (self.counts[a], self.heads[a]) for a in self.heads})

    def samples(self, actor: str) -> tuple[str, ...]:
        """Our events of ``actor`` 1, 2, 4, 8... places before its newest one in log order
        (at most MAX_SAMPLES): the other side marks those it holds, and their ancestors, as
        held by us. On a linear chain these are its events at those distances before the
        head; where our chain and its differ (a fork), they bound what it sends that we
        already hold to about the length of our branch. Any event we hold is a true sample:
        we hold its ancestors too."""
        if actor not in self.heads:
            return ()
        n = self.counts.get(actor, 0)
        return tuple(dict.fromkeys(self._rows.actor_ranked(
            actor, [o for o in _SAMPLE_OFFSETS if o < n])))[:MAX_SAMPLES]

    def lacking_for(self, theirs: Frontier) -> Lacking:
        """For each actor whose heads in ``theirs`` include one we do not hold: which, and
        samples of our own chain of that actor."""
        held = self._rows.get_many(h for e in theirs.actors.values() for h in e.heads)
        out: dict[str, Lack] = {}
        for actor, entry in theirs.actors.items():
            missing = tuple(h for h in entry.heads if h not in held)
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
        out: list[IndexRow] = []
        for actor, heads in self.heads.items():
            lack = their_lacking.actors.get(actor)
            if lack is None:
                continue
            entry = theirs.actors.get(actor)
            lacking = set(lack.lacking)
            known = [*(entry.heads if entry else ()), *lack.samples,
                     *(h for h in heads if h not in lacking)]
            out.extend(_walk(self._rows, actor, heads, known))
        out.sort(key=lambda r: r.pos)
        return out


def _walk(rows: _Rows, actor: str, heads: Sequence[str],
          known_ids: Sequence[str]) -> list[IndexRow]:
    """Our events of ``actor`` that are not ancestors of ``known_ids`` (events the other
    side holds; those we do not hold are ignored).

    Our heads and the known events go on one heap by log position, newest first, each
    marked "theirs" or "only ours"; a popped event passes its mark to its prev (the same
    actor's event, which always sits earlier in the log, so every event is popped after
    all of its successors and carries every mark it gets). Popped "only ours" events are
    the answer. The walk stops once nothing "only ours" is left on the heap: below that
    point everything we hold of this actor is an ancestor of something they hold. Rows
    are fetched a page of the actor's events at a time, so a linear chain costs one query
    per _WALK_PAGE events walked."""
    found = rows.get_many([*heads, *known_ids])
    known = [found[k] for k in dict.fromkeys(known_ids)
             if k in found and found[k].actor == actor]
    if not known:  # nothing of this actor is known to them: all of it
        return list(rows.of_actor(actor))
    cache: dict[str, IndexRow] = {}
    theirs: dict[str, bool] = {}
    heap: list[tuple[int, str]] = []
    only_ours = 0

    def push(row: IndexRow, is_theirs: bool) -> None:
        nonlocal only_ours
        was = theirs.get(row.event_id)
        if was is None:
            theirs[row.event_id] = is_theirs
            cache[row.event_id] = row
            heapq.heappush(heap, (-row.pos, row.event_id))
            only_ours += not is_theirs
        elif is_theirs and not was:
            theirs[row.event_id] = True
            only_ours -= 1

    for h in heads:
        if h in found:
            push(found[h], False)
    for row in known:
        push(row, True)
    out: list[IndexRow] = []
    while heap and only_ours:
        _neg, eid = heapq.heappop(heap)
        row = cache.pop(eid)
        is_theirs = theirs[eid]
        if not is_theirs:
            only_ours -= 1
            out.append(row)
        prev = row.prev_event_hash
        if prev is None:
            continue
        prow = cache.get(prev)
        if prow is None:
            for r in rows.before(actor, row.pos, _WALK_PAGE):
                cache.setdefault(r.event_id, r)
            prow = cache.get(prev)
            if prow is None:  # not the actor's event just before: a fork's other branch
                prow = rows.get_many([prev]).get(prev)
        if prow is not None and prow.actor == actor:
            push(prow, is_theirs)
    return out


class _IndexRows:
    def __init__(self, index: EventIndex) -> None:
        self.index = index

    def get_many(self, event_ids: Iterable[str]) -> dict[str, IndexRow]:
        return self.index.get_many(event_ids)

    def actor_ranked(self, actor: str, offsets: Iterable[int]) -> list[str]:
        return self.index.actor_ranked(actor, offsets)

    def before(self, actor: str, pos: int, limit: int) -> list[IndexRow]:
        return self.index.query(actor=actor, after_pos=pos, limit=limit, descending=True)

    def of_actor(self, actor: str) -> Iterator[IndexRow]:
        after = -1
        while page := self.index.query(actor=actor, after_pos=after, limit=_PAGE):
            yield from page
            after = page[-1].pos


class _MemoryRows:
    def __init__(self, rows: Iterable[IndexRow]) -> None:
        self.by_id: dict[str, IndexRow] = {}
        for r in rows:
            # An event without an actor belongs to no chain and is invalid anyway (verify
            # reports it): it is neither listed nor sent.
            if r.actor:
                self.by_id.setdefault(r.event_id, r)
        self.by_actor: dict[str, list[IndexRow]] = {}
        for r in sorted(self.by_id.values(), key=lambda r: r.pos):
            self.by_actor.setdefault(str(r.actor), []).append(r)

    def heads_and_counts(self) -> tuple[dict[str, list[str]], dict[str, int]]:
        # An event "builds on" its prev only when the prev is the same actor's event here
        # (PROTOCOL.md A §6): a dangling or cross-actor prev starts a chain of its own.
        builds_on = {r.prev_event_hash for r in self.by_id.values()
                     if r.prev_event_hash is not None
                     and (t := self.by_id.get(r.prev_event_hash)) is not None
                     and t.actor == r.actor}
        heads = {a: sorted(r.event_id for r in rows if r.event_id not in builds_on)
                 for a, rows in self.by_actor.items()}
        return heads, {a: len(rows) for a, rows in self.by_actor.items()}

    def get_many(self, event_ids: Iterable[str]) -> dict[str, IndexRow]:
        return {e: self.by_id[e] for e in event_ids if e in self.by_id}

    def actor_ranked(self, actor: str, offsets: Iterable[int]) -> list[str]:
        rows = self.by_actor.get(actor, [])
        return [rows[-1 - o].event_id for o in offsets if o < len(rows)]

    def before(self, actor: str, pos: int, limit: int) -> list[IndexRow]:
        older = [r for r in self.by_actor.get(actor, []) if r.pos < pos]
        return older[::-1][:limit]

    def of_actor(self, actor: str) -> Iterator[IndexRow]:
        return iter(self.by_actor.get(actor, []))


def _frontier(actors: Mapping[str, tuple[int, Sequence[str]]]) -> Frontier:
    # A chain forked more than MAX_HEADS ways is cut to its first heads: the other side
    # then sends a little more than needed, never less (it marks less as known).
    return Frontier({a: ActorHeads(actors[a][0], tuple(sorted(actors[a][1])[:MAX_HEADS]))
                     for a in sorted(actors)})


def vault_frontier(vault: Vault) -> dict[str, tuple[int, list[str]]]:
    """Per actor its count and chain heads, as Chains computes them from every row, in the
    time of a few index lookups per actor when nothing or little changed.

    Kept beside the index (``<index>.frontier.json``), bound to the index's coverage (event
    count, log bytes, last line's sha256). The same coverage: the same log, the frontier
    as kept (a level sync between two million-event replicas reads no row). A longer log
    whose event at the kept last position is still the kept last event: events were
    appended (a merge of older ones rewrites every position from where it began, that one
    included), and only the new rows are read: counts add up, and a head is a kept head
    or a new event that no event of its actor builds on (one index seek each). Anything
    else (a rewrite, a shorter log, no file, a file of another index or format): the
    index's per-actor queries (EventIndex.actor_chains), and the result kept again."""
    index = vault.index
    path = Path(str(index.path) + ".frontier.json")
    cov = index.coverage()
    stamp = [cov.event_count, cov.log_bytes, cov.last_line_sha256]
    kept = _load_kept(path)
    actors: dict[str, tuple[int, list[str]]] | None = None
    if kept is not None and kept["coverage"] == stamp:
        same: dict[str, tuple[int, list[str]]] = kept["actors"]
        return same
    if kept is not None and 0 < kept["coverage"][0] < cov.event_count \
            and cov.event_count - kept["coverage"][0] <= _APPEND_AT_MOST:
        old_n = kept["coverage"][0]
        last = index.row_at(old_n - 1)
        if last is not None and last.event_id == kept["last_event_id"]:
            actors = _appended(index, kept["actors"], index.query(after_pos=old_n - 1))
    if actors is None:
        actors = index.actor_chains()
    last_row = index.row_at(cov.event_count - 1) if cov.event_count else None
    if index.coverage() == cov:  # nothing was written meanwhile: what is kept is exact
        _save_kept(path, {"format": _KEPT_FORMAT, "coverage": stamp,
                          "last_event_id": last_row.event_id if last_row else None,
                          "actors": {a: [n, h] for a, (n, h) in actors.items()}})
    return actors


_KEPT_FORMAT = "provara-frontier-1"
# Appended rows read on top of a kept frontier; more and the per-actor queries are cheaper.
_APPEND_AT_MOST = 100_000


def _appended(index: EventIndex, kept: Mapping[str, tuple[int, list[str]]],
              new_rows: Sequence[IndexRow]) -> dict[str, tuple[int, list[str]]]:
    counts = {a: n for a, (n, _h) in kept.items()}
    heads = {a: set(h) for a, (_n, h) in kept.items()}
    by_actor: dict[str, list[IndexRow]] = {}
    for r in new_rows:
        if r.actor:
            by_actor.setdefault(r.actor, []).append(r)
    for actor, rows in by_actor.items():
        counts[actor] = counts.get(actor, 0) + len(rows)
        mine = heads.setdefault(actor, set())
        # A kept head gains a successor only from a new row (the old rows were all there).
        mine -= {r.prev_event_hash for r in rows if r.prev_event_hash is not None}
        mine |= {r.event_id for r in rows if not index.builds_on(r.event_id, actor)}
    return {a: (counts[a], sorted(heads[a])) for a in counts}


def _load_kept(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("format") != _KEPT_FORMAT:
            return None
        actors = {str(a): (int(v[0]), [str(h) for h in v[1]])
                  for a, v in doc["actors"].items()}
        cov = doc["coverage"]
        return {"coverage": [int(cov[0]), int(cov[1]), cov[2]],
                "last_event_id": doc.get("last_event_id"), "actors": actors}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # missing or unreadable: computed again (it is only a cache)


def _save_kept(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, path)  # readers see the old file or the new, never a part
    except OSError:
        tmp.unlink(missing_ok=True)


def same_heads(a: Frontier, b: Frontier) -> bool:
    """Both sides hold the same events (docs: the level case, no ``lacking`` round)."""
    return a.actors.keys() == b.actors.keys() and all(
        set(a.actors[k].heads) == set(b.actors[k].heads) for k in a.actors)

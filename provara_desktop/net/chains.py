"""A vault's author chains as the sync protocol sees them: per actor a count and the heads
(the frontier), and, given the other side's frontier and ``lacking``, exactly which of our
events it lacks (docs/SYNC_PROTOCOL.md, "What the other side lacks").

Read from the SQLite index (event id, actor, prev, position, where the line is), never from a
peer: what a peer says is only ever used to mark events of OURS as known to it, so a lying
peer can make us send less to it, never make us write anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


class Chains:
    rows: dict[str, IndexRow]
    heads: dict[str, list[str]]
    counts: dict[str, int]

    def __init__(self, rows: Iterable[IndexRow]) -> None:
        self._build(rows)

    def _build(self, rows: Iterable[IndexRow]) -> None:
        self.rows = {}
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
        self.heads = {}
        self.counts = {}
        for r in self.rows.values():
            actor = str(r.actor)
            self.counts[actor] = self.counts.get(actor, 0) + 1
            if r.event_id not in builds_on:
                self.heads.setdefault(actor, []).append(r.event_id)
        for ids in self.heads.values():
            ids.sort()

    @classmethod
    def from_vault(cls, vault: Vault) -> Chains:
        """The vault's chains, read when first needed: the frontier alone comes from the
        index's per-actor queries (or the frontier kept beside the index, see
        ``vault_frontier``) without reading a row; the rows (for what the other side
        lacks) are read, a page at a time, only when a session asks for them, i.e. when
        the two frontiers differ. The index follows the log on open."""
        return _VaultChains(vault)

    def frontier(self) -> Frontier:
        return _frontier({a: (self.counts[a], self.heads[a]) for a in self.heads})

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


class _VaultChains(Chains):
    """Chains.from_vault(): the frontier without the rows, the rows on first use."""

    def __init__(self, vault: Vault) -> None:  # no rows read here
        self._vault = vault
        self._loaded = False

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set yet: rows, heads and counts before the load.
        if name in ("rows", "heads", "counts") and not self.__dict__.get("_loaded", True):
            self._loaded = True
            index = self._vault.index

            def pages() -> Iterator[IndexRow]:
                after = -1
                while rows := index.query(after_pos=after, limit=_PAGE):
                    yield from rows
                    after = rows[-1].pos

            self._build(pages())
            return getattr(self, name)
        raise AttributeError(name)

    def frontier(self) -> Frontier:
        if self._loaded:
            return super().frontier()
        return _frontier(vault_frontier(self._vault))


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

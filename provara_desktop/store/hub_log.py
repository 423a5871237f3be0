"""A hub's transparency log (docs/TOPOLOGIES.md): the event ids its vault holds, in the order
it first held them, as an RFC 9162 Merkle tree it signs checkpoints of.

Kept in the profile beside the vault's index (``<index>.hublog.sqlite``), never in the vault:
the vault's events file is not in arrival order (a merged older event is placed among its
peers), and the log must only ever grow. Two tables: the leaves (index, event id) and the
hash of every perfect subtree (level, index), so the hash of any range, and with it any
proof, costs O(log n) lookups, and an append O(log n) writes, at any size.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from provara_desktop.core.tlog import (
    EMPTY_ROOT,
    consistency_proof_from,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    range_root_from_nodes,
)
from provara_desktop.store.index_paths import index_path_for

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from provara_desktop.store.vault import Vault

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leaves (idx INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL,
                                  hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
"""


def event_leaf(event_id: str) -> bytes:
    """The leaf hash of an event id (its ASCII bytes are the leaf)."""
    return leaf_hash(event_id.encode("ascii"))


def hub_log_path(vault: Vault) -> Path:
    index = index_path_for(vault.home, vault.root, vault.uid)
    return index.with_name(index.stem + ".hublog.sqlite")


class HubLog:
    """One hub vault's log. Not thread-safe: the sync session uses it from one thread at a
    time (its commits are serialised by the vault's writer lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._size = int(self._db.execute("SELECT COUNT(*) FROM leaves").fetchone()[0])
        self._ranges = range_root_from_nodes(self._perfect)

    @classmethod
    def for_vault(cls, vault: Vault) -> HubLog:
        return cls(hub_log_path(vault))

    def close(self) -> None:
        self._db.close()

    @property
    def size(self) -> int:
        return self._size

    # -- growing -------------------------------------------------------------------------

    def append(self, event_ids: Iterable[str]) -> dict[str, int]:
        """Append the ids not in the log yet, in the order given, in one transaction; the
        leaf index of every id given (old ones too: a receipt names where each is)."""
        ids = list(dict.fromkeys(event_ids))
        where = self.indexes(ids)
        new = [e for e in ids if e not in where]
        if not new:
            return where
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for eid in new:
                i = self._size
                db.execute("INSERT INTO leaves (idx, event_id) VALUES (?, ?)", (i, eid))
                h = event_leaf(eid)
                db.execute("INSERT INTO nodes VALUES (0, ?, ?)", (i, h))
                # Each perfect subtree this leaf completes: up the levels while it is the
                # right child.
                level, j = 0, i
                while j & 1:
                    left = self._perfect(level, j - 1)
                    h = node_hash(left, h)
                    level, j = level + 1, j >> 1
                    db.execute("INSERT INTO nodes VALUES (?, ?, ?)", (level, j, h))
                where[eid] = i
                self._size += 1
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._size = int(db.execute("SELECT COUNT(*) FROM leaves").fetchone()[0])
            raise
        return where

    def cover(self, vault: Vault) -> int:
        """Append the vault's events the log lacks, in the vault's log order (its own writes,
        an import, a first start as a hub); returns how many."""
        if vault.index.count() == self._size:
            return 0  # the log only ever holds the vault's events: equal counts, same set
        held = {r[0] for r in self._db.execute("SELECT event_id FROM leaves")}
        missing = [r.event_id for r in vault.index.query() if r.event_id not in held]
        self.append(missing)
        return len(missing)

    # -- reading -------------------------------------------------------------------------

    def indexes(self, event_ids: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        ids = list(event_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self._db.execute(
                f"SELECT event_id, idx FROM leaves WHERE event_id IN ({marks})", chunk))
        return out

    def event_at(self, index: int) -> str | None:
        row = self._db.execute("SELECT event_id FROM leaves WHERE idx = ?", (index,)).fetchone()
        return str(row[0]) if row else None

    def _perfect(self, level: int, index: int) -> bytes:
        row = self._db.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?",
                               (level, index)).fetchone()
        if row is None:
            raise LookupError(f"the hub log lacks node {level}/{index}")
        return bytes(row[0])

    def subtree(self, lo: int, hi: int) -> bytes:
        """The hash of leaves [lo, hi) (hi <= size), from the stored perfect subtrees."""
        if not 0 <= lo < hi <= self._size:
            raise ValueError(f"no leaves [{lo}, {hi}) in a log of {self._size}")
        return self._ranges(lo, hi)

    def root(self, size: int | None = None) -> bytes:
        n = self._size if size is None else size
        return EMPTY_ROOT if n == 0 else self.subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof_from(self.subtree, index, self._size if size is None else size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof_from(self.subtree, old_size,
                                      self._size if new_size is None else new_size)

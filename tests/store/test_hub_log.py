"""The hub's log on disk: it covers the vault in log order, keeps growing across reopenings,
and its proofs (from stored subtree hashes) verify against its roots at every size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provara_desktop.core.tlog import verify_consistency, verify_inclusion
from provara_desktop.store.hub_log import HubLog, event_leaf
from tests.net.sync_helpers import replica_factory

if TYPE_CHECKING:
    from pathlib import Path


def test_the_log_covers_the_vault_and_its_proofs_verify(tmp_path: Path) -> None:
    hub = replica_factory(tmp_path)("hub")
    hub.record(5)
    with hub.open() as v:
        log = HubLog.for_vault(v)
        assert log.cover(v) == v.index.count()
        ids = [r.event_id for r in v.index.query()]
        assert [log.event_at(i) for i in range(log.size)] == ids  # the vault's log order
        assert log.cover(v) == 0  # nothing new: nothing appended
        roots = {n: log.root(n) for n in range(1, log.size + 1)}
        log.close()
    hub.record(30, start=5)
    with hub.open() as v:
        log = HubLog.for_vault(v)  # reopened: the same leaves, then the new ones
        log.cover(v)
        assert [log.event_at(i) for i in range(len(ids))] == ids
        size = log.size
        assert size == v.index.count()
        root = log.root()
        for n, old in roots.items():
            assert log.root(n) == old  # the old trees are still its prefixes
            assert verify_consistency(n, size, old, root, log.consistency_proof(n))
        for i in range(size):
            leaf = event_leaf(str(log.event_at(i)))
            assert verify_inclusion(leaf, i, size, log.inclusion_proof(i), root)
        where = log.append([ids[0], ids[1]])  # already there: where they are, nothing added
        assert where == {ids[0]: 0, ids[1]: 1}
        assert log.size == size
        log.close()


def test_an_empty_log(tmp_path: Path) -> None:
    log = HubLog(tmp_path / "log.sqlite")
    assert log.size == 0
    assert log.consistency_proof(0) == []
    log.close()

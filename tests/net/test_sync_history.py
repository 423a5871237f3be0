"""The per-peer sync history in the profile (net/sync_history.py): newest first, bounded,
and a damaged file is a log line, never a reason to stop (the next append starts anew)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provara_desktop.net import sync_history
from provara_desktop.net.sync_history import KEEP, SyncRecord

if TYPE_CHECKING:
    from pathlib import Path


def _rec(peer: str, n: int, ok: bool = True) -> SyncRecord:
    return SyncRecord(peer, "127.0.0.1:1", f"2026-12-02T01:{n % 60:02d}:00.000Z", True, ok,
                      received=n, error=None if ok else "refused", error_code=None if ok
                      else "UNTRUSTED_PEER")


def test_newest_first_per_peer_and_bounded(tmp_path: Path) -> None:
    for i in range(KEEP + 5):
        sync_history.append(tmp_path, _rec("bp1_a", i))
    sync_history.append(tmp_path, _rec("bp1_b", 1, ok=False))
    got = sync_history.load(tmp_path)
    assert len(got["bp1_a"]) == KEEP
    assert got["bp1_a"][0].received == KEEP + 4
    assert got["bp1_b"][0].error_code == "UNTRUSTED_PEER"
    assert "stopped: refused" in got["bp1_b"][0].describe()
    assert "received 5" in _rec("x", 5).describe()


def test_a_damaged_history_reads_empty_and_is_replaced(tmp_path: Path) -> None:
    (tmp_path / sync_history.HISTORY_FILE).write_bytes(b"{not json")
    assert sync_history.load(tmp_path) == {}
    sync_history.append(tmp_path, _rec("bp1_a", 1))
    assert [r.received for r in sync_history.load(tmp_path)["bp1_a"]] == [1]

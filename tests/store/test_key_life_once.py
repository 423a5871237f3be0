"""The key life of a vault is computed once when two threads ask at the same time (the
app's warm-up on open and a view's first provenance check): the second waits for the
first's answer instead of walking the chain again."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from provara_desktop.store import vault_keys
from tests.net.sync_helpers import replica_factory

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_two_threads_asking_at_once_share_one_computation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = replica_factory(tmp_path)("alice")
    r.record(3)
    real = vault_keys._key_life
    calls: list[int] = []

    def slow(vault: Any, pending: Any) -> Any:
        calls.append(1)
        time.sleep(0.3)  # long enough for the other thread to ask meanwhile
        return real(vault, pending)

    monkeypatch.setattr(vault_keys, "_key_life", slow)
    got: list[Any] = []
    with r.open() as v:
        threads = [threading.Thread(target=lambda: got.append(vault_keys.key_life(v)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert len(got) == 2
        assert got[0] is got[1]
        assert len(calls) == 1
        r2 = vault_keys.key_life(v)  # and later askers get it from the memo
        assert r2 is got[0]
        assert len(calls) == 1

"""Whole sync sessions between real vaults over an in-memory transport."""

from __future__ import annotations

from typing import Any

from tests.net.sync_helpers import run, session_pair


def test_disjoint_vaults_converge(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(3)
    b.record(4)
    ra, rb = run(session_pair(a, b))
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    assert a.log_bytes() == b.log_bytes()
    assert a.state_hash() == b.state_hash()
    # each sends its init events (2) and observations; each receives the other's
    assert (ra.sent, ra.received, rb.sent, rb.received) == (5, 6, 6, 5)

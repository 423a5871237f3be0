"""Whole sync sessions between real vaults over an in-memory transport: convergence to
byte-identical logs and the same state_hash, the level case's few hundred bytes, relays
through an intermediary, resume after a cut, attachments, forks and held-back chains."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.verify import ERROR
from provara_desktop.store.evidence import observe
from provara_desktop.store.verify_vault import verify_vault
from tests.net.sync_helpers import (
    FAST,
    Replica,
    count_by,
    cut_after_first_ack,
    run,
    session_pair,
    trust_of,
)

if TYPE_CHECKING:
    from pathlib import Path


def converged(*rs: Replica) -> None:
    first = rs[0]
    for r in rs[1:]:
        assert r.log_bytes() == first.log_bytes(), f"{r.name} differs from {first.name}"
        assert r.state_hash() == first.state_hash()


@pytest.mark.parametrize("pool_min_events", [10**9, 1], ids=["threads", "worker-processes"])
def test_disjoint_vaults_converge(make_replica: Any, pool_min_events: int) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(3)
    b.record(4)
    ra, rb = run(session_pair(a, b, config=replace(FAST, pool_min_events=pool_min_events)))
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    converged(a, b)
    # each sends its init events (2) and observations; each receives the other's
    assert (ra.sent, ra.received, rb.sent, rb.received) == (5, 6, 6, 5)
    assert ra.forks == rb.forks == []


def test_rows_moved_by_the_sessions_own_commit_are_read_again_once(
        make_replica: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bob answers: he receives Alice's older events first (his log is rewritten from near
    its start), then sends his own from the rows he read before. Those rows are looked
    up again in one query per batch; none is found out of place line by line (that path,
    for a log another program rewrote, re-reads the index)."""
    from provara_desktop.net import sync_session

    a, b = make_replica("alice"), make_replica("bob")
    a.record(6)
    b.record(6)  # later timestamps: Alice's events sort before these
    misplaced: list[str] = []
    real_line_of = sync_session._Session._line_of

    def line_of(self: Any, f: Any, row: Any) -> Any:
        raw, used = real_line_of(self, f, row)
        if used is not row:
            misplaced.append(row.event_id)
        return raw, used

    monkeypatch.setattr(sync_session._Session, "_line_of", line_of)
    ra, rb = run(session_pair(a, b, config=replace(FAST, batch_events=2)))
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    converged(a, b)
    assert (ra.sent, rb.sent) == (8, 8)
    assert misplaced == []


def test_level_replicas_exchange_only_hello_frontier_and_done(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(50)
    b.record(50)
    run(session_pair(a, b))
    ra, rb = run(session_pair(a, b))
    assert (ra.sent, ra.received, rb.sent, rb.received) == (0, 0, 0, 0)
    assert ra.ok, ra.error
    # hello (~170 bytes) + frontier (~2 actors, ~150) + done (~40), each way
    assert ra.bytes_sent == rb.bytes_received
    assert ra.bytes_sent < 500, ra.bytes_sent
    assert rb.bytes_sent < 500, rb.bytes_sent


def test_events_travel_through_an_intermediary(make_replica: Any) -> None:
    a, b, c = make_replica("alice"), make_replica("bob"), make_replica("carol")
    for r, n in ((a, 2), (b, 3), (c, 4)):
        r.record(n)
    everyone = {r.name: trust_of(r, *(o for o in (a, b, c) if o is not r)) for r in (a, b, c)}
    run(session_pair(a, b, trust_a=everyone["alice"], trust_b=everyone["bob"]))
    rb, rc = run(session_pair(b, c, trust_a=everyone["bob"], trust_b=everyone["carol"]))
    assert rc.received == 4 + 5  # alice's and bob's, alice's relayed by bob
    ra, _ = run(session_pair(a, b, trust_a=everyone["alice"], trust_b=everyone["bob"]))
    assert ra.received == 6  # carol's, relayed by bob
    converged(a, b, c)


def test_a_cut_session_leaves_valid_vaults_and_the_next_one_resumes(
        make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(8)  # 10 events, sent 3 per batch
    config = replace(FAST, batch_events=3)
    ra, rb = run(cut_after_first_ack(a, b, config=config))
    assert ra.error_code in ("CLOSED", "TRUNCATED", "TIMEOUT"), ra.error
    assert rb.error_code in ("CLOSED", "TRUNCATED"), rb.error
    # Whole batches only, each committed before its ack: the first one, and those already
    # in flight behind it when the cut came (the window), never a part of one.
    assert rb.received in (3, 6, 9)
    for r in (a, b):
        with r.open() as v:
            assert verify_vault(v).ok
    got = rb.received
    ra, rb = run(session_pair(a, b, config=config))
    assert ra.ok, ra.error
    assert ra.sent == 10 - got  # only what b still lacked
    converged(a, b)


@pytest.mark.parametrize("window", [True, False])
def test_batches_in_flight_only_when_both_sides_offer_a_window(
        make_replica: Any, monkeypatch: pytest.MonkeyPatch, window: bool) -> None:
    from provara_desktop.net import messages

    if not window:  # a peer of before the capability: one batch at a time
        monkeypatch.setattr(messages, "CAPABILITIES",
                            tuple(c for c in messages.CAPABILITIES if c != "window"))
    a, b = make_replica("alice"), make_replica("bob")
    a.record(10)  # 12 events, 3 per batch: 4 batches
    record: list[tuple[str, str]] = []
    ra, rb = run(cut_after_first_ack(a, b, config=replace(FAST, batch_events=3), cut=False,
                                     record=record))
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    assert rb.received == 12
    sent_before_first_ack = [t for _who, t in record[:record.index(("b", "ack"))]
                             if t == "events"]
    assert len(sent_before_first_ack) == (4 if window else 1)
    converged(a, b)


@pytest.mark.parametrize("pooled", [False, True], ids=["threads", "worker-processes"])
def test_a_batch_refused_in_the_pipeline_ends_the_session_at_once(
        make_replica: Any, monkeypatch: pytest.MonkeyPatch, pooled: bool) -> None:
    """With batches in flight, the second batch carries a bad signature: the receiver
    refuses it with its reason as soon as its check fails (not after a read deadline spent
    waiting for a sender that waits for an ack), keeps the first batch, and writes nothing
    of the second or of those behind it. The same when the receiver expects enough events
    to check them in worker processes kept for the session."""
    from provara_desktop.net import sync_session
    from provara_desktop.store import parallel_verify

    pooled_checks: list[int] = []
    real_pool = parallel_verify._run_in_pool

    def counting_pool(lines: Any, *args: Any) -> Any:
        pooled_checks.append(1)
        return real_pool(lines, *args)

    monkeypatch.setattr(parallel_verify, "_run_in_pool", counting_pool)

    a, b = make_replica("alice"), make_replica("bob")
    a.record(10)  # 12 events, 3 per batch
    real = sync_session._Session._read_batch

    def tampered(self: Any, rows: Any, start: int) -> tuple[list[bytes], list[Any], int]:
        lines, used, nxt = real(self, rows, start)
        if start == 3:  # the second batch: one signature's first character changed
            raw = lines[0]
            at = raw.index(b'"sig":"') + len(b'"sig":"')
            lines[0] = raw[:at] + (b"A" if raw[at:at + 1] != b"A" else b"B") + raw[at + 1:]
        return lines, used, nxt

    monkeypatch.setattr(sync_session._Session, "_read_batch", tampered)
    before = b.digest()
    config = replace(FAST, batch_events=3, pool_min_events=1 if pooled else 10**9)
    ra, rb = run(session_pair(a, b, config=config))
    assert rb.error_code == "BATCH_REFUSED", rb.error
    assert ra.error_code == "BATCH_REFUSED", ra.error  # the sender is told why
    assert rb.received == 3
    assert bool(pooled_checks) == pooled
    assert rb.duration_ms < 2500  # well under the 3 s read deadline of this config
    assert b.digest() != before
    with b.open() as v:
        assert verify_vault(v).ok
    assert count_by(b, a) == 3


def test_attachments_travel_with_their_events(make_replica: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    photo = tmp_path / "photo.bin"
    photo.write_bytes(bytes(range(256)) * 5000)  # 1.28 MB: two DATA chunks
    with a.open() as v:
        observe(v, a.key, "alice", subject="door", predicate="photo", value="x",
                attachments=[photo])
    staging = tmp_path / "staging"
    staging.mkdir()
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: made.append(real_mkdtemp(**kw))
                        or made[-1])
    ra, rb = run(session_pair(a, b, config=replace(FAST, staging_dir=staging)))
    assert rb.ok, rb.error
    assert len(made) == 1
    assert made[0].startswith(str(staging))
    assert list(staging.iterdir()) == []  # the session's own directory is gone
    cas = list((b.root / "artifacts" / "cas").iterdir())
    assert [p.read_bytes() for p in cas] == [photo.read_bytes()]
    converged(a, b)


def test_a_fork_is_kept_and_reported(make_replica: Any, tmp_path: Path) -> None:
    a = make_replica("alice")
    a.record(1)
    twin = Replica("alice", a.key, tmp_path / "twin-home", tmp_path / "twin-vault")
    shutil.copytree(a.root, twin.root)
    a.record(1, start=10)  # the same actor signs on two machines: two heads after a sync
    twin.record(1, start=20)
    ra, rb = run(session_pair(a, twin, trust_a=trust_of(a), trust_b=trust_of(twin)))
    assert ra.ok, ra.error
    assert len(ra.forks) == 1
    assert len(rb.forks) == 1
    assert ra.forks[0]["actor"] == "alice"
    converged(a, twin)
    # both heads are listed; a further session between the forked replicas is level
    ra, _ = run(session_pair(a, twin, trust_a=trust_of(a), trust_b=trust_of(twin)))
    assert (ra.sent, ra.received) == (0, 0)


def test_a_chain_held_back_in_one_batch_stays_held_back_in_the_next(
        make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(4)
    config = replace(FAST, batch_events=1)
    before = b.digest()
    _, rb = run(session_pair(a, b, trust_b=trust_of(b), config=config))  # b trusts nobody
    assert rb.ok, rb.error
    assert (rb.received, rb.held_back) == (0, 6)
    assert b.digest() == before


def test_reference_verify_passes_after_a_sync(make_replica: Any) -> None:
    from tests.conftest import optional_reference_cli

    cli = optional_reference_cli()
    a, b = make_replica("alice"), make_replica("bob")
    a.record(2)
    b.record(2)
    run(session_pair(a, b))
    if cli is None:
        return
    for r in (a, b):
        done = subprocess.run([cli, "verify", str(r.root)], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_peer_policy_may_accept_events_by_untrusted_keys(make_replica: Any) -> None:
    """accept_untrusted writes them (the caller then records that decision in the trust
    store, as bundle import --accept-untrusted does); nothing in the session adds trust."""
    from provara_desktop.net.sync_session import SyncPolicy

    a, b = make_replica("alice"), make_replica("bob")
    a.record(2)
    trust_b = trust_of(b)  # bob trusts nobody but himself
    alices = len(a.log_bytes().splitlines())
    _, rb = run(session_pair(a, b, trust_b=trust_b, policy=SyncPolicy(accept_untrusted=True)))
    assert (rb.received, rb.held_back) == (alices, 0)
    assert trust_b.store == {}
    converged(a, b)


def test_a_verification_made_ahead_is_used_only_for_the_same_lines_and_keys(
        make_replica: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline verifies a batch while the previous one commits; the check takes that
    verification only if the vault's keys did not change meanwhile (a commit that added or
    changed a key: then it verifies again) and for exactly those lines."""
    from provara_desktop.intake import check as intake_check
    from provara_desktop.net.peer_batch import PeerBatch

    a, b = make_replica("alice"), make_replica("bob")
    a.record(3)
    lines = a.log_bytes().splitlines()
    with a.open() as va:
        keys = [k for k in va.keys_doc["keys"] if k.get("key_id") == a.key.key_id]
    calls: list[int] = []
    real = intake_check.verify_lines

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(intake_check, "verify_lines", counting)
    with b.open() as vb:
        trust = trust_of(b, a)

        def batch(ls: list[bytes]) -> PeerBatch:
            return PeerBatch("alice", 1, list(ls), keys)

        ahead = intake_check.verify_ahead(batch(lines), vb)
        assert len(calls) == 1
        done = intake_check.check(batch(lines), trust, vault=vb, verified=ahead)
        assert len(calls) == 1  # taken as made
        assert not [p for p in done.problems if p.severity == ERROR]
        intake_check.check(batch(lines[:-1]), trust, vault=vb, verified=ahead)
        assert len(calls) == 2  # other lines: verified again
        vb.keys_doc = {**vb.keys_doc}  # what a commit that adds a key does: a new document
        intake_check.check(batch(lines), trust, vault=vb, verified=ahead)
        assert len(calls) == 3  # the keys changed: verified again

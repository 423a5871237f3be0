"""VaultSession without Qt: beliefs built in the background and kept current, a belief's
history with the states it moved through, verification kept as last_report, identity."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import nacl.pwhash
import pytest

from provara_desktop.core.errors import IdentityError, UserCancelled
from provara_desktop.runtime.bus import EventBus, VaultChanged
from provara_desktop.runtime.progress import CancelToken, Progress
from provara_desktop.session import VaultSession, belief_rows
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


class Recorder:
    """A bus subscriber (held weakly by the bus, so the test keeps it)."""

    def __init__(self) -> None:
        self.events: list[VaultChanged] = []
        self.lock = threading.Lock()

    def on_event(self, event: object) -> None:
        if isinstance(event, VaultChanged):
            with self.lock:
                self.events.append(event)


@pytest.fixture
def session(home: Path) -> Iterator[VaultSession]:
    store = IdentityStore(home, **FAST)
    ident = store.create("Ana Lyst", "pw")
    key = store.unlock("pw")
    vault = Vault.init(home / "v", key=key, actor=ident.actor, home=home)
    s = VaultSession(vault, bus=EventBus())
    s.unlock(key, ident.actor, ident)
    yield s
    s.close()


def test_beliefs_are_built_in_background_and_advance_with_writes(session: VaultSession) -> None:
    rec = Recorder()
    session.bus.subscribe(rec.on_event)
    reducer = session.start().result(timeout=10)
    assert session.beliefs() is reducer
    assert session.beliefs_progress.done == session.beliefs_progress.total
    assert any(e.changes.beliefs for e in rec.events)
    session.observe(subject="door", predicate="status", value="open").result(timeout=10)
    r = session.beliefs()
    assert r is not None
    assert r.local["door:status"]["value"] == "open"
    assert ("local", "door:status") in belief_rows(r)
    last = rec.events[-1].changes
    assert last.events
    assert last.beliefs
    assert last.first_new_pos == 2  # genesis + seed came first


def test_history_follows_the_belief_through_every_namespace(session: VaultSession) -> None:
    session.start().result(timeout=10)
    k = dict(subject="exhibit-7", predicate="location")
    a = session.observe(**k, value="locker 1", confidence=0.9).result(timeout=10)
    session.observe(**k, value="evidence room", confidence=0.8).result(timeout=10)
    session.attest(**k, value="locker 1", targets=[a.events[0]["event_id"]]).result(timeout=10)
    session.retract(**k, reason="moved to the lab").result(timeout=10)
    # an unrelated belief must not show up in this history
    session.observe(subject="exhibit-8", predicate="location", value="x").result(timeout=10)

    steps = session.history("exhibit-7:location").result(timeout=10)
    assert [s.type for s in steps] == ["OBSERVATION", "OBSERVATION", "ATTESTATION", "RETRACTION"]
    assert [(s.state_before, s.state_after) for s in steps] == [
        ("none", "local"), ("local", "contested"), ("contested", "canonical"),
        ("canonical", "archived")]
    assert steps[0].value == '"locker 1"'
    assert steps[0].confidence == 0.9
    assert "settles " + a.events[0]["event_id"] in steps[2].detail
    assert steps[3].detail == "moved to the lab"
    assert [s.pos for s in steps] == sorted(s.pos for s in steps)
    r = session.beliefs()
    assert r is not None
    assert "exhibit-7:location" in r.archived


def test_history_of_a_key_whose_subject_holds_a_colon(session: VaultSession) -> None:
    session.observe(subject="case:12", predicate="lead", value="Ana").result(timeout=10)
    steps = session.history("case:12:lead").result(timeout=10)
    assert len(steps) == 1
    assert steps[0].state_after == "local"


def test_writing_while_locked_is_refused_and_changes_nothing(session: VaultSession) -> None:
    before = session.vault.events_path.read_bytes()
    session.lock()
    assert not session.unlocked
    with pytest.raises(IdentityError, match="locked"):
        session.observe(subject="a", predicate="b", value=1).result(timeout=10)
    assert session.vault.events_path.read_bytes() == before


def test_verify_keeps_the_report_and_announces_it(session: VaultSession) -> None:
    rec = Recorder()
    session.bus.subscribe(rec.on_event)
    progress = Progress()
    report = session.verify(progress=progress).result(timeout=30)
    assert report.ok
    assert session.last_report is report
    assert progress.fraction == 1.0
    assert any(e.changes.verification for e in rec.events)


def test_cancelled_verify_keeps_the_previous_report(session: VaultSession) -> None:
    first = session.verify().result(timeout=30)
    token = CancelToken()
    token.cancel()
    with pytest.raises(UserCancelled):
        session.verify(cancel=token).result(timeout=30)
    assert session.last_report is first


def test_reindex_rebuilds_index_and_beliefs(session: VaultSession) -> None:
    session.observe(subject="a", predicate="b", value=1).result(timeout=10)
    assert session.reindex().result(timeout=30) == 3
    r = session.beliefs()
    assert r is not None
    assert r.local["a:b"]["value"] == 1


def test_close_cancels_a_running_rebuild(session: VaultSession, monkeypatch) -> None:
    # Make the replay slow enough to be caught mid-way, then close: close must not wait
    # for the whole replay, and the rebuild reports cancellation.
    import provara_desktop.session as mod

    monkeypatch.setattr(mod, "_CANCEL_EVERY", 1)
    started = threading.Event()

    def slow_catch_up(events_path, kept, *, every, tick):  # type: ignore[no-untyped-def]
        # An endless-looking log: the replay reports every event, as the real one does
        # every _CANCEL_EVERY events.
        for n in range(1, 10_000):
            started.set()
            threading.Event().wait(0.001)
            tick(n)

    monkeypatch.setattr(mod.belief_snapshot, "catch_up", slow_catch_up)
    fut = session.start()
    assert started.wait(5)
    session.close()
    with pytest.raises(UserCancelled):
        fut.result(timeout=5)


def test_appends_by_another_program_are_picked_up(session: VaultSession) -> None:
    """The CLI with the same profile shares our index, so the index's count alone cannot
    show the change: the session compares with what it last announced."""
    from provara_desktop.store.evidence import observe

    session.start().result(timeout=10)
    rec = Recorder()
    session.bus.subscribe(rec.on_event)
    assert session.check_external().result(timeout=10) is False
    other = Vault.open(session.vault.root, home=session.vault.home)
    assert session.key is not None
    assert session.actor is not None
    observe(other, session.key, session.actor, subject="door", predicate="status", value="shut")
    other.close()
    assert session.check_external().result(timeout=10) is True
    assert session.event_count == 3
    r = session.beliefs()
    assert r is not None
    assert r.local["door:status"]["value"] == "shut"
    assert rec.events[-1].source == "external"
    assert rec.events[-1].changes.first_new_pos == 2


@pytest.mark.parametrize("when", ["after", "before"])
def test_an_import_leaves_the_beliefs_a_replay_of_the_whole_log_gives(
        session: VaultSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        when: str) -> None:
    """The session applies an import's events to its live beliefs straight from the plan,
    a few at a time; the result must be what reducing the whole log gives, both for the
    usual import (everything sorts after the vault) and for a backdated one (the log's
    tail is rewritten, and the beliefs are rebuilt)."""
    from provara_desktop import session as session_module
    from provara_desktop.bundle.export import export_bundle
    from provara_desktop.bundle.intake_batch import check_bundle as check
    from provara_desktop.bundle.load import load
    from provara_desktop.bundle.selection import Selection
    from provara_desktop.core.event import build_event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.core.reducer import Reducer
    from provara_desktop.intake import plan as intake_plan
    from provara_desktop.intake.trust_view import Trust

    monkeypatch.setattr(session_module, "_APPLY_SLICE", 4)  # many slices, not one
    session.start().result(timeout=10)
    for i in range(5):
        session.observe(subject=f"ex-{i}", predicate="location", value=f"room {i}",
                        confidence=0.8).result(timeout=10)
    bob = SigningKey.generate()
    theirs = Vault.init(tmp_path / "bob", key=bob, actor="bob", home=tmp_path / "bob-home")
    stamp = "2999-01-01T00:00:{:02d}+00:00" if when == "after" else \
        "2000-01-01T00:00:{:02d}+00:00"
    # A chain of its own (a field device of bob's), so that backdated events are not held
    # after the vault's genesis by their predecessor.
    prev_id = None
    made = []
    for i in range(15):  # disagreements (contested), agreements and new beliefs
        ev = build_event(event_type="OBSERVATION", actor="bob-field", key=bob,
                         payload={"subject": f"ex-{i % 7}", "predicate": "location",
                                  "value": f"room {i % 3}", "confidence": 0.9},
                         prev_event_hash=prev_id, timestamp_utc=stamp.format(i),
                         namespace="local")
        made.append(ev)
        prev_id = ev["event_id"]
    theirs.append(made, signer=bob)
    out = tmp_path / "bob.provara-bundle"
    export_bundle(theirs, out, key=bob, actor="bob", selection=Selection())
    theirs.close()

    with load(out) as bundle:
        c = check(bundle, Trust({bob.key_id: "bob"}), vault=session.vault)
        plan = intake_plan.plan(session.vault, c, accept_untrusted=False)
        before = session.vault.index.count()
        result = session.commit_import(plan).result(timeout=30)
    assert (result.reordered_from is None) == (when == "after")
    if when == "after":  # the events handed back are the log's new tail, in its order
        tail = session.vault.index.query(after_pos=before - 1)
        assert [e["event_id"] for e in result.events] == [r.event_id for r in tail]
    live = session.beliefs()
    assert live is not None
    replayed = Reducer().apply_all(session.vault.events())
    assert live.event_count == replayed.event_count == session.vault.index.count()
    assert live.state_hash() == replayed.state_hash()
    assert live.contested_keys  # bob disagrees with ana: the import did change beliefs

"""Events another program merges into the middle of the log (a sync, the CLI importing a
backdated bundle) reach the running session's beliefs at the cost of what changed: the
beliefs of the rewritten tail's keys are reduced again from their own events, never the
whole log, and the result is exactly what a full replay gives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop import session as session_module
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.reducer import Reducer
from provara_desktop.runtime.bus import EventBus
from provara_desktop.session import VaultSession, belief_rows
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def chain(key: SigningKey, actor: str, stamps: list[str],
          payloads: list[dict[str, Any]], etype: str = "OBSERVATION") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev = None
    for ts, payload in zip(stamps, payloads, strict=True):
        ev = build_event(event_type=etype, actor=actor, key=key, payload=payload,
                         prev_event_hash=prev, timestamp_utc=ts, namespace="local")
        out.append(ev)
        prev = ev["event_id"]
    return out


def stamp(minute: int) -> str:
    return f"2030-01-01T00:{minute // 60:02d}:{minute % 60:02d}+00:00"


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultSession]:
    """An open session over 40 events by ana (10 keys, four events each, a minute apart),
    its beliefs built; a full replay after that fails the test."""
    ana = SigningKey.generate()
    vault = Vault.init(tmp_path / "v", key=ana, actor="ana", home=tmp_path / "home")
    vault.append(chain(ana, "ana-field", [stamp(i) for i in range(40)],
                       [{"subject": f"k{i % 10}", "predicate": "p", "value": f"v{i % 3}",
                         "confidence": 0.4} for i in range(40)]), signer=ana)
    session = VaultSession(vault, bus=EventBus())
    session.start().result(timeout=30)
    session.submit(lambda: None).result(timeout=30)

    def no_replay() -> Reducer:
        raise AssertionError("a full replay of the log")

    monkeypatch.setattr(session, "rebuild_beliefs", no_replay)
    monkeypatch.setattr(session_module, "_APPLY_SLICE", 3)  # the tail read in many pages
    yield session
    session.close()


def _built_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   payloads: list[dict[str, Any]]) -> VaultSession:
    """An open session over ana's events with these payloads, a minute apart, its beliefs
    built; a full replay after that fails the test."""
    ana = SigningKey.generate()
    vault = Vault.init(tmp_path / "v", key=ana, actor="ana", home=tmp_path / "home")
    vault.append(chain(ana, "ana-field", [stamp(i) for i in range(len(payloads))], payloads),
                 signer=ana)
    session = VaultSession(vault, bus=EventBus())
    session.start().result(timeout=30)
    session.submit(lambda: None).result(timeout=30)
    monkeypatch.setattr(session, "rebuild_beliefs", lambda: pytest.fail("a replay"))
    return session


def merge_from_another_program(session: VaultSession, events: list[dict[str, Any]],
                               key: SigningKey) -> None:
    other = Vault.open(session.vault.root, home=session.vault.home)
    result = other.append(events, signer=key)
    assert result.reordered_from is not None  # the tail was rewritten, not appended to
    other.close()


def assert_as_a_replay(session: VaultSession) -> Reducer:
    beliefs = session.beliefs()
    assert beliefs is not None
    expected = Reducer().apply_all(session.vault.events())
    assert beliefs.event_count == expected.event_count
    assert beliefs.last_event_id == expected.last_event_id
    assert belief_rows(beliefs) == belief_rows(expected)
    assert beliefs.export_state() == expected.export_state()
    return beliefs


def test_a_backdated_merge_by_another_program_is_applied_per_key(
        live: VaultSession) -> None:
    """bob's events land between ana's minutes 25 and 32: they disagree with ana strongly
    (contested), settle one key by attestation, and one, a retraction, sorts last."""
    bob = SigningKey.generate()
    stamps = [stamp(m) for m in (25, 27, 29, 31, 39)]
    stamps = [s.replace("+00:00", ".5+00:00") for s in stamps]  # between ana's minutes
    events = chain(bob, "bob", stamps[:3],
                   [{"subject": "k1", "predicate": "p", "value": "bob", "confidence": 0.9},
                    {"subject": "k2", "predicate": "p", "value": "new", "confidence": 0.9},
                    {"subject": "k9", "predicate": "q", "value": 1, "confidence": 0.7}])
    att = chain(bob, "bob-att", stamps[3:4],
                [{"subject": "k3", "predicate": "p", "value": "settled",
                  "actor_key_id": bob.key_id}], etype="ATTESTATION")
    ret = chain(bob, "bob-ret", stamps[4:5],
                [{"subject": "k4", "predicate": "p", "reason": "wrong"}], etype="RETRACTION")
    before = live.beliefs()
    assert before is not None
    merge_from_another_program(live, events + att + ret, bob)
    assert live.check_external().result(timeout=30) is True
    beliefs = assert_as_a_replay(live)
    assert beliefs is before  # updated in place, not rebuilt
    assert beliefs.is_contested("k1:p")
    assert beliefs.canonical["k3:p"]["value"] == "settled"
    assert "k4:p" not in beliefs.local  # retracted, after ana's last event of it
    assert beliefs.local["k9:q"]["value"] == 1


def test_a_merge_that_moves_the_last_event_and_the_epoch(live: VaultSession) -> None:
    """The metadata follows the tail: an epoch merged into it is the current one, and the
    last event of the log (in the state hash) is a merged one when it sorts last."""
    bob = SigningKey.generate()
    epoch = chain(bob, "bob-epoch", [stamp(38)],
                  [{"epoch_id": "e2", "reducer_hash": "h"}], etype="REDUCER_EPOCH")
    last = chain(bob, "bob", ["2030-01-01T01:00:00+00:00"],
                 [{"subject": "k5", "predicate": "p", "value": "late", "confidence": 0.2}])
    merge_from_another_program(live, epoch + last, bob)
    assert live.check_external().result(timeout=30) is True
    beliefs = assert_as_a_replay(live)
    assert beliefs.current_epoch is not None
    assert beliefs.current_epoch["epoch_id"] == "e2"
    assert beliefs.last_event_id == last[0]["event_id"]


def test_two_merges_in_a_row_and_one_at_the_very_start(live: VaultSession) -> None:
    bob = SigningKey.generate()
    merge_from_another_program(live, chain(bob, "bob", ["2029-01-01T00:00:00+00:00"], [
        {"subject": "k7", "predicate": "p", "value": "first", "confidence": 0.95}]), bob)
    assert live.check_external().result(timeout=30) is True
    assert_as_a_replay(live)
    carl = SigningKey.generate()
    merge_from_another_program(live, chain(carl, "carl", [stamp(10)], [
        {"subject": "k7", "predicate": "p", "value": "carl", "confidence": 0.95}]), carl)
    assert live.check_external().result(timeout=30) is True
    assert_as_a_replay(live)


def test_a_merge_near_the_end_of_a_long_log_reads_only_what_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """600 events over 200 keys, one late event merged 20 events from the end: what is
    read is the tail (from at most a mark before the merge) and the touched keys' events,
    not the log."""
    from provara_desktop.store import key_events

    session = _built_session(tmp_path, monkeypatch, [
        {"subject": f"k{i % 200}", "predicate": "p", "value": i % 2, "confidence": 0.3}
        for i in range(600)])
    try:
        read: list[int] = []
        real = key_events.read_rows

        def counting(vault: Vault, rows: Any) -> Any:
            out = real(vault, rows)
            read.append(len(out))
            return out

        monkeypatch.setattr(key_events, "read_rows", counting)
        bob = SigningKey.generate()
        merge_from_another_program(session, chain(bob, "bob", [stamp(580)], [
            {"subject": "k3", "predicate": "p", "value": "bob", "confidence": 0.9}]), bob)
        assert session.check_external().result(timeout=30) is True
        assert_as_a_replay(session)
        assert 0 < sum(read) < 300 + 100  # a stride (256) of tail and its keys' events
    finally:
        session.close()


def test_a_tail_that_is_most_of_the_log_is_replayed_instead(
        live: VaultSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the tail (or the touched keys' events) is most of the log, reading and reducing
    it again costs more than a replay: the replay runs, with the same result."""
    replays: list[int] = []
    monkeypatch.setattr(session_module, "_TAIL_PER_KEY_MIN", 2)
    monkeypatch.setattr(session_module, "_PER_KEY_SHARE", 40)  # k1's 5 events are "most"
    monkeypatch.setattr(live, "rebuild_beliefs", lambda: replays.append(1) or
                        VaultSession.rebuild_beliefs(live))
    bob = SigningKey.generate()
    merge_from_another_program(live, chain(bob, "bob", [stamp(30)], [
        {"subject": "k1", "predicate": "p", "value": "bob", "confidence": 0.9}]), bob)
    assert live.check_external().result(timeout=30) is True
    assert replays == [1]
    assert_as_a_replay(live)


def test_late_events_on_their_own_keys_leave_the_hot_keys_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three hot keys hold nearly all of 900 events; 30 late events by another device, on
    keys of their own, interleave with the last 300. The hot keys' events only moved (their
    order among themselves is the same), so only the late keys are reduced again: no
    replay, and the hot keys' histories are not read."""
    from provara_desktop.store import key_events

    session = _built_session(tmp_path, monkeypatch, [
        {"subject": f"hot{i % 3}", "predicate": "p", "value": i % 7, "confidence": 0.5}
        for i in range(900)])
    try:
        asked: list[set[str]] = []
        real = key_events.events_of_keys

        def watching(vault: Vault, keys: Any) -> Any:
            asked.append(set(keys))
            return real(vault, keys)

        monkeypatch.setattr(key_events, "events_of_keys", watching)
        dev = SigningKey.generate()
        late = chain(dev, "late-device", [stamp(600 + 10 * i).replace("+00:00", ".5+00:00")
                                          for i in range(30)],
                     [{"subject": f"late{i % 4}", "predicate": "status", "value": i,
                       "confidence": 0.8} for i in range(30)])
        merge_from_another_program(session, late, dev)
        assert session.check_external().result(timeout=30) is True
        assert_as_a_replay(session)
        assert asked == [{f"late{i}:status" for i in range(4)}]
    finally:
        session.close()


def test_an_old_event_that_waited_for_a_merged_one_is_reduced_again(
        live: VaultSession) -> None:
    """carl's second event (minute 10) named a prev the vault did not hold, so it sat at
    minute 10. Its prev arrives, stamped minute 20: the second event now waits for it (the
    total order puts a predecessor first) and moves past ana's minutes 10-19, changing
    which of k2's values came last. Its key is reduced again although the event is old."""
    carl = SigningKey.generate()
    first, second = chain(carl, "carl", [stamp(20), stamp(10)], [
        {"subject": "k8", "predicate": "q", "value": "first", "confidence": 0.6},
        {"subject": "k2", "predicate": "p", "value": "carl", "confidence": 0.6}])
    other = Vault.open(live.vault.root, home=live.vault.home)
    # Sealed by another writer: carl's key may not sign onto a chain head it lacks.
    other.append([second], signer=SigningKey.generate())  # dangling for now
    other.close()
    assert live.check_external().result(timeout=30) is True
    before = assert_as_a_replay(live)
    k2_before = before.export_state()
    merge_from_another_program(live, [first], SigningKey.generate())
    assert live.check_external().result(timeout=30) is True
    after = assert_as_a_replay(live)
    assert after.export_state() != k2_before

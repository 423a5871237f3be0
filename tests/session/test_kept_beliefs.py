"""A session opens with the beliefs kept beside the index when, and only when, they cover an
unchanged prefix of the log; the events after it are applied; the result always equals a
full replay."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import nacl.pwhash
import pytest

from provara_desktop.core.reducer import Reducer
from provara_desktop.runtime.bus import EventBus
from provara_desktop.session import VaultSession, belief_rows
from provara_desktop.store import belief_snapshot, evidence
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey

FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


@pytest.fixture
def signer(home: Path) -> tuple[SigningKey, str]:
    store = IdentityStore(home, **FAST)
    ident = store.create("Ana Lyst", "pw")
    return store.unlock("pw"), ident.actor


def fill(vault: Vault, signer: tuple[SigningKey, str], n: int, start: int = 0) -> None:
    key, actor = signer
    for i in range(start, start + n):
        evidence.observe(vault, key, actor, subject=f"door{i % 3}", predicate="status",
                         value=["open", "shut"][i % 2], confidence=[0.9, 0.3, 0.6][i % 3])


def open_session(path: Path, home: Path) -> VaultSession:
    session = VaultSession(Vault.open(path, home=home), bus=EventBus())
    session.start().result(timeout=30)
    session.submit(lambda: None).result(timeout=30)  # the writer's follow-up jobs are done
    return session


def full_replay(vault: Vault) -> Reducer:
    return Reducer().apply_all(vault.events())


def assert_full_replay(session: VaultSession) -> None:
    beliefs = session.beliefs()
    assert beliefs is not None
    expected = full_replay(session.vault)
    assert beliefs.state_hash() == expected.state_hash()
    assert belief_rows(beliefs) == belief_rows(expected)


@pytest.fixture
def kept_vault(home: Path, signer: tuple[SigningKey, str]) -> Path:
    """A vault whose first session kept its beliefs beside the index."""
    vault = Vault.init(home / "v", key=signer[0], actor=signer[1], home=home)
    fill(vault, signer, 30)
    vault.close()
    session = open_session(home / "v", home)
    kept = belief_snapshot.snapshot_path_for(session.vault.index.path)
    session.close()
    assert kept.is_file()  # a full replay is kept
    return home / "v"


@pytest.fixture
def uses(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each catch-up started from: the kept beliefs, or None for a full replay."""
    seen: list[Any] = []
    real = belief_snapshot.catch_up

    def spy(events_path: Path, kept: Any, **kw: Any) -> Any:
        seen.append(kept)
        return real(events_path, kept, **kw)

    monkeypatch.setattr(belief_snapshot, "catch_up", spy)
    return seen


def test_the_next_session_starts_from_the_kept_beliefs(
        kept_vault: Path, home: Path, uses: list[Any]) -> None:
    session = open_session(kept_vault, home)
    try:
        assert len(uses) == 1
        assert uses[0] is not None
        assert uses[0].from_snapshot
        assert_full_replay(session)
        # And it goes on as ever: a new observation moves the beliefs.
        session.unlock(*_key(home))
        session.observe(subject="door0", predicate="status", value="gone",
                        confidence=0.95).result(timeout=10)
        assert_full_replay(session)
    finally:
        session.close()


def test_one_changed_byte_of_the_covered_log_means_a_full_replay(
        kept_vault: Path, home: Path, uses: list[Any]) -> None:
    log = kept_vault / "events" / "events.ndjson"
    data = bytearray(log.read_bytes())
    at = data.index(b'"value":"open"') + len(b'"value":"op')
    data[at] = ord("m")  # one byte, early in the log: "open" -> "opmn"
    log.write_bytes(bytes(data))
    session = open_session(kept_vault, home)
    try:
        assert uses == [None]  # the kept state was not used
        assert_full_replay(session)
        beliefs = session.beliefs()
        assert beliefs is not None
        histories = [e["value"] for e in beliefs.evidence_for("door0:status")]
        assert "opmn" in histories  # the replay read the changed byte
    finally:
        session.close()


def test_events_appended_after_the_kept_prefix_are_applied(
        kept_vault: Path, home: Path, signer: tuple[SigningKey, str],
        uses: list[Any]) -> None:
    # Another program (the CLI, say) appends to the vault while the app is closed.
    with Vault.open(kept_vault, home=home) as vault:
        fill(vault, signer, 12, start=30)
    session = open_session(kept_vault, home)
    try:
        assert uses[0] is not None
        assert uses[0].from_snapshot
        assert session.beliefs() is not None
        assert_full_replay(session)
        assert session.beliefs().event_count == 2 + 42  # type: ignore[union-attr]
    finally:
        session.close()


def test_a_corrupt_kept_file_is_ignored_with_a_log_line(
        kept_vault: Path, home: Path, uses: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    with Vault.open(kept_vault, home=home, sync_index=False) as vault:
        kept = belief_snapshot.snapshot_path_for(vault.index.path)
    kept.write_bytes(kept.read_bytes()[:-100])  # truncated
    with caplog.at_level(logging.WARNING, logger="provara_desktop.store.belief_snapshot"):
        session = open_session(kept_vault, home)
    try:
        assert uses == [None]
        assert "kept beliefs" in caplog.text
        assert session.beliefs_error is None
        assert_full_replay(session)
        # The full replay is kept anew, good for the next session.
        assert belief_snapshot.load(kept, vault_uid=session.vault.uid,
                                    events_path=session.vault.events_path) is not None
    finally:
        session.close()


def _key(home: Path) -> tuple[SigningKey, str]:
    store = IdentityStore(home, **FAST)
    return store.unlock("pw"), store.load().actor


def table_of(beliefs: Any) -> list[tuple[Any, ...]]:
    """Every row of the beliefs table with the cells it shows."""
    from provara_desktop.ui.models.belief_cells import _cells  # Qt-free: runs headless
    return [(ns, key, _cells(beliefs, ns, key)) for ns, key in belief_rows(beliefs)]


@pytest.fixture
def slow_state(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The whole state's load held until ``.set()``: the window in which the table shows
    the kept rows and the whole state is not there yet."""
    import threading
    release = threading.Event()
    real = belief_snapshot.load

    def held(*args: Any, **kw: Any) -> Any:
        assert release.wait(30)
        return real(*args, **kw)

    monkeypatch.setattr(belief_snapshot, "load", held)
    return release


def _wait_for_table(session: VaultSession) -> Any:
    import time
    deadline = time.monotonic() + 30
    while session.table_beliefs() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return session.table_beliefs()


def test_the_table_shows_the_kept_rows_while_the_state_loads_and_a_write_waits_for_it(
        kept_vault: Path, home: Path, slow_state: Any) -> None:
    with Vault.open(kept_vault, home=home) as vault:
        expected = table_of(full_replay(vault))
    session = VaultSession(Vault.open(kept_vault, home=home), bus=EventBus())
    try:
        done = session.start()
        table = _wait_for_table(session)
        assert session.beliefs() is None  # writes, previews, the workbench: not yet
        assert not isinstance(table, Reducer)
        assert table_of(table) == expected
        # A write asked for now runs behind the whole state, on it.
        session.unlock(*_key(home))
        wrote = session.observe(subject="door0", predicate="status", value="gone",
                                confidence=0.95)
        assert not wrote.done()
        slow_state.set()
        wrote.result(timeout=30)
        done.result(timeout=30)
        assert isinstance(session.table_beliefs(), Reducer)
        assert_full_replay(session)
        assert ("local", "door0:status") in belief_rows(session.beliefs()) or (
            "contested", "door0:status") in belief_rows(session.beliefs())
    finally:
        slow_state.set()
        session.close()


def test_no_kept_rows_when_the_log_grew_after_them_or_changed_under_them(
        kept_vault: Path, home: Path, signer: tuple[SigningKey, str]) -> None:
    # Rows for events the kept state has not applied would be wrong: the table waits for
    # the state plus the events after it.
    with Vault.open(kept_vault, home=home) as vault:
        fill(vault, signer, 4, start=30)
        kept, uid, events_path = (belief_snapshot.snapshot_path_for(vault.index.path),
                                  vault.uid, vault.events_path)
    assert belief_snapshot.load_table(kept, vault_uid=uid, events_path=events_path) is None
    session = open_session(kept_vault, home)
    try:
        assert_full_replay(session)
        with Vault.open(kept_vault, home=home, sync_index=False) as vault:
            assert table_of(session.table_beliefs()) == table_of(full_replay(vault))
    finally:
        session.close()


def test_kept_rows_after_appended_events_equal_a_replay(
        kept_vault: Path, home: Path, signer: tuple[SigningKey, str]) -> None:
    # Many events appended: the session keeps state and rows anew; the next one's rows are
    # those of the whole log.
    with Vault.open(kept_vault, home=home) as vault:
        fill(vault, signer, 40, start=30)
    import provara_desktop.session as session_module
    old = session_module._KEEP_AFTER_EVENTS
    session_module._KEEP_AFTER_EVENTS = 10
    try:
        open_session(kept_vault, home).close()
    finally:
        session_module._KEEP_AFTER_EVENTS = old
    with Vault.open(kept_vault, home=home) as vault:
        rows = belief_snapshot.load_table(belief_snapshot.snapshot_path_for(vault.index.path),
                                          vault_uid=vault.uid, events_path=vault.events_path)
        assert rows is not None
        assert rows.table.event_count == 2 + 70
        assert table_of(rows.table) == table_of(full_replay(vault))


def test_one_changed_byte_of_the_covered_log_discards_the_kept_rows(
        kept_vault: Path, home: Path) -> None:
    log = kept_vault / "events" / "events.ndjson"
    data = bytearray(log.read_bytes())
    at = data.index(b'"value":"open"') + len(b'"value":"op')
    data[at] = ord("m")
    log.write_bytes(bytes(data))
    with Vault.open(kept_vault, home=home, sync_index=False) as vault:
        kept = belief_snapshot.snapshot_path_for(vault.index.path)
        assert belief_snapshot.load_table(kept, vault_uid=vault.uid,
                                          events_path=vault.events_path) is None


def test_closing_while_the_state_loads_stops_the_load(
        kept_vault: Path, home: Path, slow_state: Any) -> None:
    import threading

    from provara_desktop.core.errors import UserCancelled
    session = VaultSession(Vault.open(kept_vault, home=home), bus=EventBus())
    done = session.start()
    _wait_for_table(session)
    closer = threading.Thread(target=session.close)
    closer.start()
    while not session.closed:
        pass
    slow_state.set()  # the state's load starts only now: it sees the session closing
    closer.join(30)
    assert not closer.is_alive()
    with pytest.raises(UserCancelled):
        done.result(timeout=30)


def test_a_state_kept_without_the_tables_rows_is_kept_anew_with_them(
        kept_vault: Path, home: Path) -> None:
    import json
    with Vault.open(kept_vault, home=home, sync_index=False) as vault:
        kept, uid, events_path = (belief_snapshot.snapshot_path_for(vault.index.path),
                                  vault.uid, vault.events_path)
    # As the code before the rows wrote it: no table parts.
    header, _, body = kept.read_bytes().partition(b"\n")
    head = json.loads(header)
    table = sum(head.pop("table_parts"))
    head.pop("table_sha256")
    kept.write_bytes(json.dumps(head).encode() + b"\n" + body[table:])
    assert belief_snapshot.load_table(kept, vault_uid=uid, events_path=events_path) is None
    assert belief_snapshot.load(kept, vault_uid=uid, events_path=events_path) is not None
    session = open_session(kept_vault, home)
    try:
        assert_full_replay(session)
    finally:
        session.close()
    rows = belief_snapshot.load_table(kept, vault_uid=uid, events_path=events_path)
    assert rows is not None
    with Vault.open(kept_vault, home=home, sync_index=False) as vault:
        assert table_of(rows.table) == table_of(full_replay(vault))

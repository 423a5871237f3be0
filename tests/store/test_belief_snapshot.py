"""The beliefs kept beside the index (store/belief_snapshot.py, core/reducer_state.py): used
only for the exact log prefix they cover, the events after it applied, and any damaged,
foreign or hostile file ignored with a log line, never an error."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import InputError
from provara_desktop.core.reducer import Reducer
from provara_desktop.core.reducer_state import (
    STATE_FORMAT,
    StateFormatError,
    reducer_from_state,
    state_of,
)
from provara_desktop.session import belief_rows
from provara_desktop.store import belief_snapshot
from provara_desktop.store.belief_snapshot import catch_up, load, save

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

UID = "vault-uid-kept"


def events(start: int, n: int) -> list[dict[str, Any]]:
    """Events of every kind the reducer treats differently, with values of every JSON type:
    contests (local and canonical conflicts), attestations, retractions, assertions, epochs,
    "sovereign" events, odd payloads."""
    out: list[dict[str, Any]] = []
    values: list[Any] = ["open", "shut", 1, 1.0, True, -0.0, 0.0, None, {"a": [1, 2]},
                         [1, "x"], "déjà ✓", 2**40]
    for i in range(start, start + n):
        key = f"door{i % 5}"
        kind = ["OBSERVATION", "OBSERVATION", "ASSERTION", "OBSERVATION", "ATTESTATION",
                "OBSERVATION", "RETRACTION", "OBSERVATION"][i % 8]
        if kind == "RETRACTION":
            key = "door0"  # the others keep their attested (canonical) values
        elif kind == "OBSERVATION" and i % 9 == 0:
            key = f"item{i}"  # one-off keys: plain local beliefs
        payload: Any = {"subject": key, "predicate": "status",
                        "value": values[i % len(values)],
                        "confidence": [0.9, 0.3, "0.7", None, 0.55, 2][i % 6]}
        if i % 13 == 0:
            payload["timestamp"] = f"2026-01-01T00:00:{i % 60:02d}+00:00"
        ev: dict[str, Any] = {"event_id": f"evt_{i:024x}", "type": kind,
                              "actor": f"actor{i % 3}", "namespace": ["local", "canonical",
                                                                       " Local ", "weird"][i % 4],
                              "payload": payload}
        if i % 37 == 0:
            ev = {"event_id": f"evt_{i:024x}", "type": "REDUCER_EPOCH",
                  "payload": {"epoch_id": f"e{i}", "reducer_hash": "h"}}
        if i % 41 == 0:
            ev = {"event_id": f"evt_{i:024x}", "schema_version": 1, "type": "OBSERVATION"}
        if i % 43 == 0:
            ev = {"event_id": f"evt_{i:024x}", "type": "OBSERVATION", "payload": ["x"]}
        out.append(ev)
    return out


def write(path: Path, evs: list[dict[str, Any]], *, mode: str = "wb") -> None:
    with path.open(mode) as f:
        for ev in evs:
            f.write(canonical_bytes(ev) + b"\n")


def full_replay(path: Path) -> Reducer:
    return Reducer().apply_all(json.loads(line) for line in path.read_bytes().splitlines()
                               if line.strip())


def assert_same(a: Reducer, b: Reducer) -> None:
    assert a.state_hash() == b.state_hash()
    assert a.export_state() == b.export_state()
    assert belief_rows(a) == belief_rows(b)
    assert (a.event_count, a.last_event_id) == (b.event_count, b.last_event_id)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "vault" / "events.ndjson"
    path.parent.mkdir()
    write(path, events(0, 300))
    return path


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    return tmp_path / "home" / "index" / "abc.beliefs"


def test_the_state_survives_the_round_trip_and_goes_on_applying_events() -> None:
    r = Reducer().apply_all(events(0, 500))
    assert r.contested_keys
    assert r.canonical
    assert r.archived
    assert r.local
    back = reducer_from_state(orjson.loads(orjson.dumps(state_of(r))))
    assert_same(back, r)
    more = events(500, 200)
    assert_same(back.apply_all(copy.deepcopy(more)), r.apply_all(more))
    for key in r.contested_keys:
        assert back.contested_entry(key) == r.contested_entry(key)
        assert back.contest_stamp(key) == r.contest_stamp(key)


def test_kept_beliefs_cover_the_log_and_load_back(log: Path, kept: Path) -> None:
    replayed = catch_up(log, None)
    assert replayed.covered_bytes == log.stat().st_size
    assert replayed.applied == 300
    assert save(kept, replayed, vault_uid=UID)
    loaded = load(kept, vault_uid=UID, events_path=log)
    assert loaded is not None
    assert loaded.from_snapshot
    assert loaded.covered_bytes == log.stat().st_size
    assert_same(loaded.reducer, full_replay(log))
    # Nothing after the prefix: the catch-up applies nothing.
    assert catch_up(log, loaded).applied == 0


def test_events_appended_after_the_kept_prefix_are_applied(log: Path, kept: Path) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    write(log, events(300, 120), mode="ab")
    loaded = load(kept, vault_uid=UID, events_path=log)
    assert loaded is not None  # the prefix is unchanged: still good
    after = catch_up(log, loaded)
    assert after.applied == 120
    assert_same(after.reducer, full_replay(log))
    # And the result covers the whole log again, with the hash of the whole log.
    assert after.covered_bytes == log.stat().st_size
    assert after.hasher.hexdigest() == hashlib.sha256(log.read_bytes()).hexdigest()


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_changed_byte_in_the_covered_prefix_discards_them(
        log: Path, kept: Path, where: str, caplog: pytest.LogCaptureFixture) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    data = bytearray(log.read_bytes())
    # A byte inside a value: the log stays valid JSON but says something else.
    at = {"first": data.find(b'"open"'), "middle": data.find(b'"open"', len(data) // 2),
          "last": data.rfind(b'"open"')}[where] + 3
    data[at] = ord("m")  # "open" -> "opmn"
    log.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="provara_desktop.store.belief_snapshot"):
        assert load(kept, vault_uid=UID, events_path=log) is None
    assert "changed" in caplog.text
    # What the session then does: a full replay, which sees the new value.
    replayed = catch_up(log, None)
    assert_same(replayed.reducer, full_replay(log))


def test_a_shorter_log_or_another_vault_discards_them(log: Path, kept: Path) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    assert load(kept, vault_uid="another-vault", events_path=log) is None
    log.write_bytes(log.read_bytes()[:-50])
    assert load(kept, vault_uid=UID, events_path=log) is None


def corruptions(data: bytes) -> dict[str, bytes]:
    header, _, body = data.partition(b"\n")
    head = json.loads(header)
    # The table's rows come first; the state after them.
    table_len = sum(head["table_parts"])
    body = body[table_len:]
    flipped = bytearray(data)
    flipped[len(header) + 1 + table_len + len(body) // 2] ^= 0x01

    def with_parts(parts: list[bytes]) -> bytes:
        # A hostile file: the body's own hash and lengths made to match (no table rows).
        new_body = b"".join(parts)
        h = dict(head, parts=[len(p) for p in parts],
                 body_sha256=hashlib.sha256(new_body).hexdigest(),
                 table_parts=[], table_sha256=hashlib.sha256(b"").hexdigest())
        return json.dumps(h).encode() + b"\n" + new_body

    def with_body(new_body: bytes) -> bytes:
        return with_parts([new_body])

    def encode_any(state: Any) -> list[bytes]:
        try:
            return belief_snapshot._encode(state)
        except (TypeError, AttributeError):  # not columns at all: all in the skeleton
            return [json.dumps({**state, "columns": []}).encode()]

    state = belief_snapshot._decode(memoryview(body), head["parts"])
    bad_states: dict[str, Any] = {}
    changes: dict[str, Callable[[Any], object]] = {
        "confidence index out of range": lambda s: s["local"]["confidence"].__setitem__(
            0, 10**6),
        "negative index": lambda s: s["evidence"]["actor"].__setitem__(0, -1),
        "contest longer than its evidence": lambda s: s["contested"]["evidence_len"]
        .__setitem__(0, 10**6),
        "counts that do not add up": lambda s: s["evidence"]["counts"].__setitem__(0, 999),
        "a confidence that is not a float": lambda s: s["confidences"].__setitem__(0, "x"),
        "an unknown namespace": lambda s: s["namespaces"].append("mine"),
        "a canonical entry that is a list": lambda s: s["canonical"].__setitem__(
            next(iter(s["canonical"])), []),
        "a column missing": lambda s: s["local"].pop("actor"),
        "a table that is an object": lambda s: s.__setitem__("values", {"a": 1}),
        "an unhashable namespace": lambda s: s["namespaces"].append({"x": 1}),
        "a column of another length": lambda s: s["local"]["timestamp"].append(None),
        "not an object at all": lambda s: s.clear(),
    }
    for name, change in changes.items():
        mutated = copy.deepcopy(state)
        change(mutated)
        bad_states[name] = mutated
    return {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "header only": header + b"\n",
        "one bit flipped in the body": bytes(flipped),
        "not JSON": b"\x00\xff" * 100,
        "a header that is a list": b"[1,2]\n" + body,
        "no newline in the first 64 KiB": b"x" * 70_000,
        "a body claiming 10 GB": json.dumps(dict(head, parts=[10**10])).encode()
        + b"\n" + body,
        "a body that is not JSON": with_body(b"{not json"),
        "a skeleton alone": with_body(b'{"format":1}'),
        "a column claiming more parts than there are": with_parts(
            [json.dumps({"columns": [["values", None, 5]]}).encode(), b"[]"]),
        "a column part that is not a list": with_parts(
            [json.dumps({"columns": [["values", None, 1]]}).encode(), b'{"a":1}']),
        "a column of an unknown section": with_parts(
            [json.dumps({"columns": [["format", None, 1]]}).encode(), b"[1]"]),
        "parts left over": with_parts(
            [json.dumps({"columns": []}).encode(), b"[1]"]),
        **{name: with_parts(encode_any(s)) for name, s in bad_states.items()},
    }


def test_a_damaged_or_hostile_file_is_ignored_with_a_log_line(
        log: Path, kept: Path, caplog: pytest.LogCaptureFixture) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    good = kept.read_bytes()
    expected = full_replay(log)
    for name, data in corruptions(good).items():
        kept.write_bytes(data)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="provara_desktop.store.belief_snapshot"):
            assert load(kept, vault_uid=UID, events_path=log) is None, name
        assert "kept beliefs" in caplog.text, name
    kept.write_bytes(good)
    loaded = load(kept, vault_uid=UID, events_path=log)
    assert loaded is not None
    assert_same(loaded.reducer, expected)


def test_another_state_format_is_not_used(log: Path, kept: Path) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    header, _, body = kept.read_bytes().partition(b"\n")
    head = dict(json.loads(header), state_format="SovereignReducerV0/0.1.0/columns-1")
    kept.write_bytes(json.dumps(head).encode() + b"\n" + body)
    assert load(kept, vault_uid=UID, events_path=log) is None
    assert head["state_format"] != STATE_FORMAT


def test_whatever_the_state_checker_accepts_the_reducer_can_use() -> None:
    """Every single-leaf damage of a real state: refused, or a reducer that hashes, exports
    and applies events without failing."""
    r = Reducer().apply_all(events(0, 120))
    state = json.loads(orjson.dumps(state_of(r)))
    junk: list[Any] = [None, -1, 10**9, 0.5, "x", [], {}, True]

    def leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if isinstance(doc, dict):
            return [p for k, v in doc.items() for p in leaves(v, (*path, k))] or [path]
        if isinstance(doc, list) and doc:
            return [p for i in (0, len(doc) - 1) for p in leaves(doc[i], (*path, i))]
        return [path]

    checked = 0
    for path in leaves(state):
        for bad in junk:
            mutated = copy.deepcopy(state)
            target = mutated
            for step in path[:-1]:
                target = target[step]
            if not path:
                continue
            target[path[-1]] = bad
            try:
                back = reducer_from_state(mutated)
            except StateFormatError:
                continue
            back.state_hash()
            back.export_state()
            belief_rows(back)
            back.apply_all(events(120, 40))
            checked += 1
    assert checked  # some damage is harmless (an event id, a value) and must stay usable


def test_a_torn_last_line_is_applied_but_not_kept(log: Path, kept: Path) -> None:
    with log.open("ab") as f:
        f.write(canonical_bytes(events(300, 1)[0]))  # no newline
    replayed = catch_up(log, None)
    assert replayed.reducer.event_count == 301
    assert replayed.beyond_prefix
    assert not save(kept, replayed, vault_uid=UID)
    assert not kept.exists()


def test_a_bad_line_after_the_prefix_is_named(log: Path, kept: Path) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    with log.open("ab") as f:
        f.write(canonical_bytes(events(300, 1)[0]) + b"\n{broken\n")
    loaded = load(kept, vault_uid=UID, events_path=log)
    with pytest.raises(InputError, match=r"events.ndjson line 302"):
        catch_up(log, loaded)


def test_it_lives_beside_the_index(tmp_path: Path) -> None:
    index = tmp_path / "home" / "index" / "0123abcd.sqlite"
    assert belief_snapshot.snapshot_path_for(index) == index.with_suffix(".beliefs")


def table_reads(beliefs: Any) -> list[Any]:
    """All the beliefs table reads of a state: its rows and, per row, the entry (local,
    canonical, archived) or contested summary."""
    out: list[Any] = []
    for ns, key in belief_rows(beliefs):
        if ns == "contested":
            out.append((ns, key, beliefs.contested_values(key)))
        elif ns == "archived":  # the table shows how many, and the last
            entries = beliefs.archived.get(key)
            out.append((ns, key, len(entries), entries[-1]))
        else:
            table = {"canonical": beliefs.canonical, "local": beliefs.local,
                     "archived": beliefs.archived}[ns]
            out.append((ns, key, table.get(key)))
    return out


def test_the_kept_rows_read_as_the_state_does_and_only_for_the_whole_log(
        log: Path, kept: Path) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    rows = belief_snapshot.load_table(kept, vault_uid=UID, events_path=log)
    assert rows is not None
    expected = full_replay(log)
    reads = table_reads(rows.table)
    assert reads == table_reads(expected)
    assert {r[0] for r in reads} == {"canonical", "local", "contested", "archived"}
    # The whole state's load reuses the rows' prefix hash and gives the same state.
    loaded = load(kept, vault_uid=UID, events_path=log, verified=rows)
    assert loaded is not None
    assert_same(loaded.reducer, expected)
    # Events after the prefix: the rows would miss them, so there are none.
    write(log, events(500, 3), mode="ab")
    assert belief_snapshot.load_table(kept, vault_uid=UID, events_path=log) is None


def test_one_changed_byte_in_the_covered_prefix_discards_the_rows(log: Path, kept: Path) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    data = bytearray(log.read_bytes())
    at = data.index(b'"open"') + 2
    data[at] = ord("x")
    log.write_bytes(bytes(data))
    assert belief_snapshot.load_table(kept, vault_uid=UID, events_path=log) is None
    assert load(kept, vault_uid=UID, events_path=log) is None


def test_damaged_or_hostile_rows_are_ignored_with_a_log_line(
        log: Path, kept: Path, caplog: pytest.LogCaptureFixture) -> None:
    save(kept, catch_up(log, None), vault_uid=UID)
    header, _, body = kept.read_bytes().partition(b"\n")
    head = json.loads(header)
    lengths = head["table_parts"]
    a, b = lengths[0], lengths[0] + lengths[1]
    skeleton, keys, lines = json.loads(body[:a]), json.loads(body[a:b]), body[b:sum(lengths)]
    state = body[sum(lengths):]

    def hostile(skel: Any, ks: Any, ls: bytes) -> bytes:
        parts = [json.dumps(skel).encode(), json.dumps(ks).encode(), ls]
        new = b"".join(parts)
        h = dict(head, table_parts=[len(p) for p in parts],
                 table_sha256=hashlib.sha256(new).hexdigest())
        return json.dumps(h).encode() + b"\n" + new + state

    flipped = bytearray(kept.read_bytes())
    flipped[len(header) + 1 + lengths[0] // 2] ^= 0x01
    cases = {
        "a flipped byte": bytes(flipped),
        "a line missing": hostile(skeleton, keys, lines.split(b"\n", 1)[1]),
        "a key that is a number": hostile(skeleton, [1, *keys[1:]], lines),
        "a key repeated": hostile(skeleton, [keys[1], *keys[1:]], lines),
        "keys out of order": hostile(skeleton, [keys[1], keys[0], *keys[2:]], lines),
        "a contested summary with a number for values": hostile(
            dict(skeleton, contested=[[k, r, n, [1]] for k, r, n, _v in
                                      skeleton["contested"]]), keys, lines),
        "a canonical entry that is a list": hostile(
            dict(skeleton, canonical={k: [] for k in skeleton["canonical"]}), keys, lines),
        "an archived count of zero": hostile(
            dict(skeleton, archived={k: [0, v[1]] for k, v in skeleton["archived"].items()}),
            keys, lines),
    }
    for name, data in cases.items():
        kept.write_bytes(data)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="provara_desktop.store.belief_snapshot"):
            assert belief_snapshot.load_table(kept, vault_uid=UID, events_path=log) is None, name
        assert "kept belief rows" in caplog.text, name
    # A line that is not an entry: the file loads, that one row reads as absent.
    bad = lines.split(b"\n")
    bad[0] = b'["x", "not a float", 1, 2, 3, 4]'
    kept.write_bytes(hostile(skeleton, keys, b"\n".join(bad)))
    rows = belief_snapshot.load_table(kept, vault_uid=UID, events_path=log)
    assert rows is not None
    assert rows.table.local.get(keys[0]) is None
    assert rows.table.local.get(keys[1]) == full_replay(log).local[keys[1]]

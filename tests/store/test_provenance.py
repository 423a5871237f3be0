"""Per-event provenance (store.provenance) and the index queries behind the timeline.

``build_case`` writes a small investigation with the real store: three actors, a contested
belief, an attachment, an event whose claimed time is a day ahead, and (optionally) a fork
and a tampered signature. The UI tests build on it too.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.order import detect_forks
from provara_desktop.core.reducer import Reducer
from provara_desktop.store import layout
from provara_desktop.store.evidence import attest, observe
from provara_desktop.store.index import EventIndex, index_path_for
from provara_desktop.store.provenance import (
    IdStatus,
    Provenance,
    SigStatus,
    belief_standing,
    contested_detail,
    contested_summaries,
)
from provara_desktop.store.vault import Vault
from tests.conftest import require_fixture

if TYPE_CHECKING:
    from pathlib import Path


def _key(name: str) -> SigningKey:
    import hashlib

    return SigningKey(hashlib.sha256(f"provenance-test:{name}".encode()).digest())


@dataclass
class Case:
    root: Path
    home: Path
    vault: Vault
    keys: dict[str, SigningKey]
    actors: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def event(self, name: str) -> dict[str, Any]:
        row = self.vault.index.get(self.ids[name])
        assert row is not None
        return self.vault.read_row(row)


def build_case(tmp_path: Path, *, fork: bool = False, skew: bool = True) -> Case:
    home = tmp_path / "home"
    keys = {n: _key(n) for n in ("alice", "bob", "carol")}
    actors = {n: f"{n}-{k.key_id[4:12]}" for n, k in keys.items()}
    vault = Vault.init(tmp_path / "vault", key=keys["alice"], actor=actors["alice"], home=home,
                       uid="provenance-case")
    case = Case(tmp_path / "vault", home, vault, keys, actors)

    def obs(who: str, name: str, subject: str, predicate: str, value: Any,
            confidence: float, **kw: Any) -> None:
        res = observe(vault, keys[who], actors[who], subject=subject, predicate=predicate,
                      value=value, confidence=confidence, **kw)
        case.ids[name] = str(res.events[0]["event_id"])

    obs("alice", "a_loc", "EX-01", "location", "locker-1", 0.8)
    obs("bob", "b_loc", "EX-01", "location", "forensics-lab", 0.9)
    form = tmp_path / "custody.txt"
    form.write_text("chain of custody form for EX-01\n")
    obs("carol", "c_seal", "EX-01", "seal", "intact", 0.7, attachments=[form])
    obs("alice", "a_owner", "EX-02", "owner", "unknown", 0.6)
    obs("bob", "b_owner", "EX-02", "owner", "victim", 0.7)
    res = attest(vault, keys["carol"], actors["carol"], subject="EX-03", predicate="status",
                 value="sealed")
    case.ids["c_attest"] = str(res.events[0]["event_id"])
    if skew:
        # Carol's device clock is a day ahead: claimed time later than first seen here.
        head = vault.chain_head(actors["carol"])
        assert head is not None
        ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        ev = build_event(event_type="OBSERVATION", actor=actors["carol"],
                         payload={"subject": "EX-04", "predicate": "condition",
                                  "value": "damaged", "confidence": 0.4},
                         prev_event_hash=head.event_id, key=keys["carol"],
                         timestamp_utc=ahead, namespace="local")
        vault.append([ev], signer=keys["carol"])
        case.ids["c_ahead"] = str(ev["event_id"])
    if fork:
        # Bob equivocates: two events on the same predecessor. Appended under alice's key
        # (the vault refuses to fork its own signer's chain, not a foreign one's).
        head = vault.chain_head(actors["bob"])
        assert head is not None
        forked = []
        for value in ("returned-to-owner", "locker-2"):
            forked.append(build_event(
                event_type="OBSERVATION", actor=actors["bob"],
                payload={"subject": "EX-05", "predicate": "location", "value": value,
                         "confidence": 0.9},
                prev_event_hash=head.event_id, key=keys["bob"], namespace="local"))
        vault.append(forked, signer=keys["alice"])
        case.ids["fork_a"], case.ids["fork_b"] = (str(e["event_id"]) for e in forked)
        case.ids["fork_base"] = head.event_id
    return case


def tamper_signature(case: Case, name: str) -> Vault:
    """Flip one character of the event's signature in events.ndjson and reopen the vault
    with a fresh index (a new profile directory), as a reviewer receiving it would."""
    case.vault.close()
    path = case.root / layout.EVENTS
    lines = path.read_bytes().split(b"\n")
    eid = case.ids[name].encode()
    for i, line in enumerate(lines):
        if eid in line and b'"event_id":"' + eid in line:
            ev = json.loads(line)
            sig = ev["sig"]
            flipped = ("B" if sig[10] != "B" else "C")
            lines[i] = line.replace(sig.encode(), (sig[:10] + flipped + sig[11:]).encode())
            break
    else:
        raise AssertionError("event not found")
    path.write_bytes(b"\n".join(lines))
    fresh = case.home.parent / "reviewer-home"
    case.vault = Vault.open(case.root, home=fresh)
    case.home = fresh
    return case.vault


# -- per-event checks ------------------------------------------------------------------------

def test_checks_signatures_ids_keys_and_fingerprints(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    prov = Provenance(case.vault)
    row = prov.row(case.ids["b_loc"])
    assert row is not None
    check = prov.check(row)
    assert check.sig is SigStatus.VALID
    assert check.id is IdStatus.OK
    assert check.ok
    assert check.fingerprint == case.keys["bob"].public.fingerprint
    assert prov.cached_check(row.event_id) == check


def test_tampered_signature_is_reported_as_bad(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    vault = tamper_signature(case, "b_loc")
    prov = Provenance(vault)
    bad = prov.check(prov.row(case.ids["b_loc"]))  # type: ignore[arg-type]
    assert bad.sig is SigStatus.BAD_SIGNATURE
    assert not bad.ok
    assert "altered" in bad.detail
    good = prov.check(prov.row(case.ids["a_loc"]))  # type: ignore[arg-type]
    assert good.ok


def test_unknown_key_is_reported(tmp_path: Path) -> None:
    case = build_case(tmp_path, skew=False)
    stranger = _key("mallory")
    head = case.vault.chain_head(case.actors["alice"])
    assert head is not None
    ev = build_event(event_type="OBSERVATION", actor="mallory", payload={"x": 1},
                     prev_event_hash=None, key=stranger)
    # Written by hand: Vault.append would list the signer's key.
    case.vault.close()
    with (case.root / layout.EVENTS).open("ab") as f:
        from provara_desktop.core.canonical import canonical_bytes

        f.write(canonical_bytes(ev) + b"\n")
    vault = Vault.open(case.root, home=case.home)
    prov = Provenance(vault)
    check = prov.check(vault.index.get(str(ev["event_id"])))  # type: ignore[arg-type]
    assert check.sig is SigStatus.UNKNOWN_KEY
    assert check.fingerprint is None


def test_chain_position_predecessor_and_successors(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    prov = Provenance(case.vault)
    first = prov.row(case.ids["a_loc"])
    second = prov.row(case.ids["a_owner"])
    assert first is not None
    assert second is not None
    pos1, pos2 = prov.chain_position(first), prov.chain_position(second)
    # alice: GENESIS, seed observation, a_loc, a_owner
    assert (pos1.rank, pos1.length) == (3, 4)
    assert (pos2.rank, pos2.length) == (4, 4)
    assert pos2.predecessor == first.event_id
    assert pos2.predecessor_found
    assert pos1.successors == (second.event_id,)
    assert pos2.successors == ()


def test_skew_flags_claimed_time_ahead_of_first_seen(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    prov = Provenance(case.vault)
    ahead = prov.row(case.ids["c_ahead"])
    assert ahead is not None
    flags = prov.skew_flags(ahead, prov.predecessor(ahead))
    assert len(flags) == 1
    assert "clock runs ahead" in flags[0]
    normal = prov.row(case.ids["c_seal"])
    assert normal is not None
    assert prov.skew_flags(normal, prov.predecessor(normal)) == []


def test_attachment_hash_check_sees_a_corrupted_file(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    prov = Provenance(case.vault)
    event = case.event("c_seal")
    [att] = prov.attachments(event)
    assert att.ok
    assert att.name == "custody.txt"
    (case.root / layout.CAS_DIR / att.sha256).write_text("forged form\n")
    [att] = prov.attachments(event)
    assert att.status == "corrupt"
    (case.root / layout.CAS_DIR / att.sha256).unlink()
    assert prov.attachments(event)[0].status == "missing"


def test_forks_via_the_index_match_core_detection(tmp_path: Path) -> None:
    case = build_case(tmp_path, fork=True)
    prov = Provenance(case.vault)
    [alert] = prov.forks()
    assert alert.actor == case.actors["bob"]
    assert alert.prev_event_hash == case.ids["fork_base"]
    assert {r.event_id for r in alert.rows} == {case.ids["fork_a"], case.ids["fork_b"]}
    core = detect_forks(list(case.vault.events()))
    assert [(f.actor, f.prev_event_hash, set(f.event_ids)) for f in core] == [
        (alert.actor, alert.prev_event_hash, {r.event_id for r in alert.rows})]
    base = prov.row(case.ids["fork_base"])
    assert base is not None
    assert len(prov.chain_position(base).successors) == 2


def test_contested_detail_and_attestation_targets(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    reducer = case.vault.reduce()
    keys = [s.key for s in contested_summaries(reducer, case.vault)]
    assert keys == ["EX-01:location", "EX-02:owner"]
    detail = contested_detail(reducer, case.vault, "EX-01:location")
    assert detail is not None
    assert (detail.summary.subject, detail.summary.predicate) == ("EX-01", "location")
    assert set(detail.by_value) == {'"locker-1"', '"forensics-lab"'}
    targets = detail.targets_for('"forensics-lab"')
    assert targets == [case.ids["b_loc"], case.ids["a_loc"]]  # the chosen value's first
    assert contested_detail(reducer, case.vault, "EX-03:status") is None
    assert belief_standing(reducer, "EX-03:status").namespaces == ("canonical",)
    assert belief_standing(reducer, "EX-01:location").namespaces == ("contested",)


# -- index queries ------------------------------------------------------------------------------

def test_time_queries_bounds_ranges_and_samples(tmp_path: Path) -> None:
    case = build_case(tmp_path, skew=False)
    index = case.vault.index
    rows = index.query()
    stamps = sorted(r.timestamp_utc for r in rows if r.timestamp_utc)
    assert index.time_bounds() == (stamps[0], stamps[-1])
    bob = case.actors["bob"]
    bob_stamps = sorted(r.timestamp_utc for r in rows if r.actor == bob and r.timestamp_utc)
    assert index.time_bounds(actor=bob) == (bob_stamps[0], bob_stamps[-1])
    # half-open range [stamps[2], stamps[5]) holds exactly stamps[2:5]
    got = index.in_time_range(stamps[2], stamps[5])
    assert [r.timestamp_utc for r in got] == stamps[2:5]
    assert index.count_time_range(stamps[2], stamps[5]) == 3
    assert index.count_time_range(None, None, cap=2) == 2
    assert index.in_time_range(None, None, actor=bob) == [r for r in rows if r.actor == bob]
    # one sample per bucket: buckets [s0,s1), [s1,s3), [s3, end) -> first of each
    edges = [stamps[0], stamps[1], stamps[3], stamps[-1] + "~"]
    samples = index.time_samples(edges)
    assert [r.timestamp_utc for r in samples] == [stamps[0], stamps[1], stamps[3]]
    assert index.positions(actor=bob) == [r.pos for r in rows if r.actor == bob]
    assert index.positions(start=stamps[2], end=stamps[5]) == sorted(r.pos for r in got)
    assert index.positions(namespace="canonical") == [r.pos for r in rows
                                                      if r.namespace == "canonical"]


def test_new_indexes_are_built_on_an_index_file_from_before_them(tmp_path: Path) -> None:
    """An index written before the provenance indexes existed gets them on first use."""
    import sqlite3

    case = build_case(tmp_path, skew=False)
    db = index_path_for(case.home, case.root, case.vault.uid)
    case.vault.close()
    conn = sqlite3.connect(db)
    conn.execute("DROP INDEX events_actor_timestamp")
    conn.execute("DROP INDEX events_prev_actor")
    conn.commit()
    conn.close()
    index = EventIndex.open(db, vault_uid="provenance-case")
    assert not index.indexes_built()
    assert index.chain_rank(case.actors["alice"], 10**9) == 4
    assert index.indexes_built()
    index.close()


def test_reference_vault_with_a_fork(tmp_path: Path) -> None:
    """vaultA, written by the reference, carries a fork in alice's chain and rule-B ids."""
    src = require_fixture("reference_generated/vaultA")
    root = tmp_path / "vaultA"
    shutil.copytree(src, root)
    vault = Vault.open(root, home=tmp_path / "home")
    prov = Provenance(vault)
    forks = prov.forks()
    core = detect_forks(list(vault.events()))
    assert [(f.actor, f.prev_event_hash) for f in forks] == [
        (f.actor, f.prev_event_hash) for f in core]
    assert forks, "vaultA holds a fork"
    for row in vault.index.query():
        check = prov.check(row)
        # every event is a real reference event: signed, with a known key; ids legacy or A
        assert check.sig is SigStatus.VALID, (row.event_id, check.detail)
        assert check.id in (IdStatus.OK, IdStatus.LEGACY)
    bounds = vault.index.time_bounds()
    assert bounds is not None
    assert bounds[0] <= bounds[1]
    assert vault.index.count_time_range(bounds[0], bounds[1] + "~") == vault.index.count()
    assert isinstance(vault.reduce(), Reducer)


@pytest.mark.parametrize("source", ["case", "vaultA", "vaultQ", "legacy_genesis_vault"])
def test_batch_checks_agree_with_the_slow_path(tmp_path: Path, source: str) -> None:
    """check_rows cuts the signed message out of canonical lines; every verdict must equal
    the one from re-encoding the event (check_event without the line)."""
    from provara_desktop.store.provenance import check_event

    if source == "case":
        case = build_case(tmp_path, fork=True)
        vault = tamper_signature(case, "b_loc")
    else:
        src = require_fixture(source if source.startswith("legacy")
                              else f"reference_generated/{source}")
        shutil.copytree(src, tmp_path / source)
        vault = Vault.open(tmp_path / source, home=tmp_path / "home")
    prov = Provenance(vault)
    rows = vault.index.query()
    fast = prov.check_rows(rows)
    keyring = vault.keyring()
    for row in rows:
        slow = check_event(vault.read_row(row), keyring,
                           revoked_but_trusted=fast[row.event_id].sig is SigStatus.VALID
                           and keyring.get(row.actor_key_id or "") is not None
                           and keyring.get(row.actor_key_id or "").status == "revoked")
        assert (fast[row.event_id].sig, fast[row.event_id].id) == (slow.sig, slow.id), row
    if source == "case":
        assert fast[case.ids["b_loc"]].sig is SigStatus.BAD_SIGNATURE


def test_contested_cache_recomputes_only_what_changed(tmp_path: Path) -> None:
    from provara_desktop.store.provenance import ContestedCache

    case = build_case(tmp_path, skew=False)
    cache = ContestedCache()
    reducer = case.vault.reduce()
    first = {s.key: s for s in cache.summaries(reducer, case.vault)}
    assert first["EX-01:location"].evidence == 2
    observe(case.vault, case.keys["carol"], case.actors["carol"], subject="EX-01",
            predicate="location", value="courtroom-3", confidence=0.9)
    # (the reducer now holds carol's value as local; the next conflict re-contests the key)
    observe(case.vault, case.keys["alice"], case.actors["alice"], subject="EX-01",
            predicate="location", value="locker-1", confidence=0.8)
    reducer = case.vault.reduce()
    second = {s.key: s for s in cache.summaries(reducer, case.vault)}
    assert second == {s.key: s for s in contested_summaries(reducer, case.vault)}
    assert second["EX-01:location"].evidence == 4
    assert second["EX-01:location"].values == 3
    assert second["EX-02:owner"] is first["EX-02:owner"]  # reused, not rebuilt


def test_forks_among_new_rows_finds_a_new_fork(tmp_path: Path) -> None:
    case = build_case(tmp_path, fork=True)
    prov = Provenance(case.vault)
    new_rows = [r for r in case.vault.index.query()
                if r.event_id in (case.ids["fork_a"], case.ids["fork_b"])]
    [alert] = prov.forks_among(new_rows)
    assert {r.event_id for r in alert.rows} == {case.ids["fork_a"], case.ids["fork_b"]}
    assert prov.forks_among(case.vault.index.query(actor=case.actors["alice"])) == []


def test_contested_rows_say_what_the_grouped_evidence_says(tmp_path: Path) -> None:
    """The list's rows are made without grouping the evidence (too slow for hot keys on a
    big vault); each must still say what the grouped entry says."""
    case = build_case(tmp_path, fork=True)
    reducer = case.vault.reduce()
    forks = Provenance(case.vault).forks()
    one_contest = {str(ev["event_id"]) for ev in reducer.evidence_for("EX-01:location")[:1]}
    for forked in ({r.event_id for f in forks for r in f.rows}, one_contest, set()):
        rows = contested_summaries(reducer, case.vault, forked)
        assert rows
        for row in rows:
            entry = reducer.contested_entry(row.key)
            assert entry is not None
            groups = entry["evidence_by_value"]
            assert row.values == len(groups)
            assert row.evidence == entry["total_evidence_count"]
            assert row.reason == entry["reason"]
            assert row.involves_fork == any(ev["event_id"] in forked
                                            for group in groups.values() for ev in group)
    assert any(r.involves_fork for r in contested_summaries(reducer, case.vault, one_contest))

"""The store's reads behind the views: one event's verdict (store.event_check), where a
belief stands and what a contest holds (store.belief_standing), and the index queries behind
the timeline. The views' caches over them are tested in tests/ui/test_provenance_cache.py.

``build_case`` writes a small investigation with the real store: three actors, a contested
belief, an attachment, an event whose claimed time is a day ahead, and (optionally) a fork
and a tampered signature. The UI tests build on it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.store import layout
from provara_desktop.store.belief_standing import (
    ContestedSummary,
    belief_standing,
    contested_detail,
    contested_summary,
)
from provara_desktop.store.event_check import EventCheck, IdStatus, SigStatus, check_event
from provara_desktop.store.evidence import attest, observe
from provara_desktop.store.index import EventIndex, index_path_for
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.core.reducer import Reducer


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


def contested_summaries(reducer: Reducer, vault: Vault,
                        forked: frozenset[str] | set[str] = frozenset()
                        ) -> list[ContestedSummary]:
    """Every contested belief's list row, in the reducer's order."""
    out = [contested_summary(reducer, vault, key, forked) for key in reducer.contested_keys]
    return [s for s in out if s is not None]


def check_row(vault: Vault, event_id: str) -> EventCheck:
    row = vault.index.get(event_id)
    assert row is not None
    return check_event(vault.read_row(row), vault.keyring())


# -- one event's verdict -------------------------------------------------------------------

def test_tampered_signature_is_reported_as_bad(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    vault = tamper_signature(case, "b_loc")
    bad = check_row(vault, case.ids["b_loc"])
    assert bad.sig is SigStatus.BAD_SIGNATURE
    assert not bad.ok
    assert "altered" in bad.detail
    good = check_row(vault, case.ids["a_loc"])
    assert good.ok
    assert good.id is IdStatus.OK
    assert good.fingerprint == case.keys["alice"].public.fingerprint


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
    check = check_row(vault, str(ev["event_id"]))
    assert check.sig is SigStatus.UNKNOWN_KEY
    assert check.fingerprint is None


# -- beliefs and contests --------------------------------------------------------------------

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


def test_contested_rows_say_what_the_grouped_evidence_says(tmp_path: Path) -> None:
    """The list's rows are made without grouping the evidence (too slow for hot keys on a
    big vault); each must still say what the grouped entry says."""
    case = build_case(tmp_path, fork=True)
    reducer = case.vault.reduce()
    fork_ids = {i for _actor, _prev, ids in case.vault.index.fork_groups() for i in ids}
    assert fork_ids
    one_contest = {str(ev["event_id"]) for ev in reducer.evidence_for("EX-01:location")[:1]}
    for forked in (fork_ids, one_contest, set()):
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

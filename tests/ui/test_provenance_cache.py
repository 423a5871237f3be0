"""The views' cached per-event provenance (ui/provenance_cache.py) and the contested
workbench's cache of summaries (ui/contested_cache.py), over the real store: verdicts,
chain positions, clock skew, attachments and forks, cached and consistent with the store's
uncached answers. Qt-free code, tested beside the views it serves."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from provara_desktop.core.order import detect_forks
from provara_desktop.core.reducer import Reducer
from provara_desktop.store import layout
from provara_desktop.store.event_check import IdStatus, SigStatus, check_event
from provara_desktop.store.evidence import observe
from provara_desktop.store.vault import Vault
from provara_desktop.ui.contested_cache import ContestedCache
from provara_desktop.ui.provenance_cache import Provenance
from tests.conftest import require_fixture
from tests.store.test_provenance import build_case, contested_summaries, tamper_signature

if TYPE_CHECKING:
    from pathlib import Path


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

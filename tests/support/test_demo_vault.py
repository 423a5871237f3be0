"""The demonstration vault is a real, verifiable vault with exactly the story it promises."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.support.demo_vault import DemoVault, make_demo_vault

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoVault:
    return make_demo_vault(tmp_path_factory.mktemp("demo"))


def test_verifies_except_for_the_deliberate_fork(demo: DemoVault, tmp_path: Path) -> None:
    # A profile that never saw the vault: the index is built from the log, nothing cached.
    with Vault.open(demo.path, home=tmp_path / "fresh") as vault:
        report = verify_vault(vault)
    assert report.all_problems == []
    assert [(f.actor, set(f.event_ids)) for f in report.log.forks] == [
        (demo.fork_actor, set(demo.fork_event_ids))]
    assert report.log.event_count == demo.event_count
    assert not report.ok  # the fork, and only the fork, makes it fail


def test_each_investigator_signs_with_their_own_key(demo: DemoVault) -> None:
    with Vault.open(demo.path, home=demo.viewer_home) as vault:
        events = list(vault.events())
        listed = {k["key_id"] for k in vault.keys_doc["keys"]}
    by_actor = Counter(e["actor"] for e in events)
    assert set(by_actor) == {a.actor for a in demo.actors.values()}
    assert all(n >= 3 for n in by_actor.values())
    for person in demo.actors.values():
        assert {e["actor_key_id"] for e in events if e["actor"] == person.actor} == {
            person.key_id}
        assert person.key_id in listed
        # The profile holds a real identity the app can unlock with the demo passphrase.
        key = IdentityStore(person.home).unlock(demo.passphrase)
        assert key.key_id == person.key_id


def test_beliefs_tell_the_investigation(demo: DemoVault) -> None:
    with Vault.open(demo.path, home=demo.viewer_home) as vault:
        state = vault.reduce().export_state()
    assert sorted(state["contested"]) == sorted(demo.contested_keys)
    for key in demo.contested_keys:
        sides = state["contested"][key]["evidence_by_value"]
        assert len(sides) >= 2, key  # real disagreement, not one voice
        actors = {ev["actor"] for evs in sides.values() for ev in evs}
        assert len(actors) >= 2, key
    settled = state["canonical"][demo.resolved_key]
    assert settled["value"] == "forensics lab, bench 4"
    assert demo.resolved_key not in state["contested"]
    retracted = state["archived"][demo.retracted_key]
    assert retracted[-1]["retracted"] is True
    assert demo.retracted_key not in state["canonical"]
    # A re-attestation archived the first canonical owner of the laptop.
    assert state["archived"]["EX-01:owner"][0]["value"] == "Harbour Logistics Ltd"
    assert state["canonical"]["EX-01:owner"]["value"].startswith("Harbour Logistics Ltd (")


def test_attachments_are_stored_by_content(demo: DemoVault) -> None:
    assert len(demo.attachment_sha256) == 2
    for sha in demo.attachment_sha256:
        stored = demo.path / "artifacts" / "cas" / sha
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha

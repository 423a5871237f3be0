"""The reference reads a three-level hierarchy: `provara verify` passes on every vault after
roll-ups by full merge and by summary, its reducer gives our state_hash (the roll-up is an
ATTESTATION it makes canonical), and each attestation's Merkle root is the one the
reference's streaming reducer (reducer_v1) computes over the child's events."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.conftest import require_reference
from tests.interop.reference_checks import provara, reference_state_hash
from tests.store import test_hierarchy as scenario
from tests.store.test_hierarchy import children, tree, uid

if TYPE_CHECKING:
    from tests.store.test_hierarchy import Person

reducer_v1 = require_reference("provara.reducer_v1")
__all__ = ["tree"]  # the fixture, shared with the command-line scenario


def _reference_merkle_root(person: Person) -> str:
    *_, last = reducer_v1.reduce_stream(str(person.vault))
    return str(last.merkle_root)


def test_the_reference_verifies_every_vault_of_a_hierarchy(tree: dict[str, Person]) -> None:
    olga, tom, tia = tree["Olga"], tree["Tom"], tree["Tia"]
    for person in tree.values():
        done = provara("verify", str(person.vault))
        assert done.returncode == 0, done.stdout + done.stderr
        assert reference_state_hash(person.vault) == person.state()["state_hash"]
    top = children(olga.ok("hierarchy", str(olga.vault))["tree"])
    assert top[uid(tom)]["attested"]["merkle_root"] == _reference_merkle_root(tom)
    assert top[uid(tia)]["attested"]["merkle_root"] == _reference_merkle_root(tia)
    ian = children(top[uid(tom)])[uid(tree["Ian"])]
    assert ian["attested"]["merkle_root"] == _reference_merkle_root(tree["Ian"])


def test_the_reference_after_a_team_key_leaked(tree: dict[str, Person]) -> None:
    """After the scenario of a compromised Team1 key (the forged roll-up merged into the
    org's vault, then the org's revocation): the reference verifies every vault but the
    org's, and there it rejects the revoked key's events and nothing else (it has no trust
    boundary: a key marked revoked loses its whole history, docs/KEYS.md)."""
    scenario.test_a_compromised_team_key_is_confined_to_its_subtree(tree)
    olga, tom = tree["Olga"], tree["Tom"]
    for person in tree.values():
        assert reference_state_hash(person.vault) == person.state()["state_hash"]
        done = provara("verify", str(person.vault))
        if person is not olga:
            assert done.returncode == 0, done.stdout + done.stderr
    done = provara("verify", str(olga.vault))
    named = set(re.findall(r"key (bp1_[0-9a-f]+) not found or revoked", done.stdout))
    assert done.returncode == 1, done.stdout
    assert named == {tom.key_id}, done.stdout

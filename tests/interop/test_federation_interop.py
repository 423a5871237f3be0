"""The reference reads every replica of a federation: after the members shared under the
contract (partial replicas, whose chains flow as prefixes), `provara verify` passes on each
and its reducer gives our state_hash; after a member's key leaked and was rotated as a
compromise, it rejects that key's events and nothing else (it has no trust boundary:
docs/KEYS.md), and its state_hash is still ours."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import require_reference
from tests.interop.reference_checks import provara, reference_state_hash
from tests.net import test_federation_scenario as scenario
from tests.net.test_federation_scenario import agencies

require_reference("provara.reducer_v0")
__all__ = ["agencies"]  # the fixture, shared with the scenario


def _reference_agrees(f: dict[str, Any]) -> None:
    for member, who in (("a", "alice"), ("b", "bob"), ("c", "carol")):
        replica = f["vaults"][member]
        assert reference_state_hash(replica) == f["p"][who].ok("state", str(replica))[
            "state_hash"]


def test_the_reference_verifies_partial_replicas(agencies: dict[str, Any]) -> None:
    scenario.share(agencies)
    for replica in agencies["vaults"].values():
        done = provara("verify", str(replica))
        assert done.returncode == 0, done.stdout + done.stderr
    _reference_agrees(agencies)


def test_the_reference_after_the_revocation_ceremony(agencies: dict[str, Any]) -> None:
    scenario.share(agencies)
    old = agencies["p"]["carol"].key_id
    scenario.leak_and_revoke(agencies)
    for replica in agencies["vaults"].values():
        done = provara("verify", str(replica))
        named = set(re.findall(r"key (bp1_[0-9a-f]+) not found or revoked", done.stdout))
        assert done.returncode in (0, 1), done.stdout
        assert named <= {old}, done.stdout
        if done.returncode:
            assert named == {old}, done.stdout
    _reference_agrees(agencies)

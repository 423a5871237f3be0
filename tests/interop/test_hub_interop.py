"""The reference reads every replica of a hub-and-spoke exchange: after receipts, a hub
rolled back and the spoke's alert events (extension events with the hub's signed notes),
`provara verify` passes on the hub and the spoke, and its reducer gives our state_hash."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from tests.conftest import require_reference
from tests.interop.reference_checks import provara, reference_state_hash
from tests.net import test_hub_spoke as scenario
from tests.net.sync_helpers import replica_factory

if TYPE_CHECKING:
    from pathlib import Path

require_reference("provara.reducer_v0")


def test_the_reference_verifies_a_hub_and_a_spoke_with_alerts(tmp_path: Path) -> None:
    make = replica_factory(tmp_path)
    hub, alice = make("hub"), make("alice")
    scenario._trust_all(hub, alice)
    hub.record(2)
    scenario._with_hub(hub, scenario._sync(alice))
    saved = tmp_path / "hub-backup"
    shutil.copytree(hub.root, saved / "vault")
    shutil.copytree(hub.home, saved / "home")
    alice.record(3)
    scenario._with_hub(hub, scenario._sync(alice))
    for src, dst in ((saved / "vault", hub.root), (saved / "home", hub.home)):
        shutil.rmtree(dst)
        shutil.copytree(src, dst)
    [audit] = scenario._with_hub(hub, scenario._sync(alice, send=False))
    assert audit.hub_audit["alerts"]
    scenario._with_hub(hub, scenario._sync(alice))  # the spoke restores the hub
    for r in (hub, alice):
        done = provara("verify", str(r.root))
        assert done.returncode == 0, done.stdout + done.stderr
        assert reference_state_hash(r.root) == r.state_hash()
    assert hub.state_hash() == alice.state_hash()  # the hub holds the alerts too now

"""A bundle large enough to take the worker-process verification path (25k events from
several actors): it imports whole, the vault verifies (ours and the reference's), and a
second import changes nothing."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from provara_desktop.bundle.export import export_bundle
from provara_desktop.bundle.intake_batch import check_bundle as check
from provara_desktop.bundle.load import load
from provara_desktop.bundle.selection import Selection
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.trust_view import Trust
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.bench.gen_vault import generate
from tests.bundle.conftest import tree_digest
from tests.conftest import optional_reference_cli

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_25k_events_round_trip(tmp_path: Path) -> None:
    gv = generate(tmp_path / "src", 25_000, actors=4, home=tmp_path / "src-home")
    keys = gv.keys()
    out = tmp_path / "big.provara-bundle"
    with Vault.open(gv.path, home=gv.home) as v:
        res = export_bundle(v, out, key=keys[0], actor=gv.actors[0], selection=Selection())
    assert res.event_count == 25_000
    me = SigningKey.generate()
    dest = tmp_path / "dest"
    Vault.init(dest, key=me, actor="receiver", home=tmp_path / "home").close()
    trust = Trust({k.key_id: f"actor {i}" for i, k in enumerate(keys)})
    with Vault.open(dest, home=tmp_path / "home") as vault, load(out) as b:
        c = check(b, trust, vault=vault)
        assert c.ok, c.summary()
        p = intake_commit.commit(vault, intake_plan.plan(vault, c, accept_untrusted=False),
                                 signer=me)
        assert p.imported == 25_000
        assert vault.index.count() == 25_002
        report = verify_vault(vault)
        assert report.ok, [x.message for x in report.all_problems][:5]
    before = tree_digest(dest)
    with Vault.open(dest, home=tmp_path / "home") as vault, load(out) as b:
        c = check(b, trust, vault=vault)
        p = intake_commit.commit(vault, intake_plan.plan(vault, c, accept_untrusted=False),
                                 signer=me)
        assert p.imported == 0
    assert tree_digest(dest) == before
    exe = optional_reference_cli()  # an extra oracle here; a failure if missing under CI
    if exe is not None:
        done = subprocess.run([exe, "verify", str(dest)], capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

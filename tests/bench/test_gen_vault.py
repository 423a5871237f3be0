"""The benchmark generator makes valid vaults: ours verifies them, the reference's
`provara verify` passes, and every event is byte-identical to what build_event makes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from provara_desktop.core.event import build_event
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.bench.gen_vault import GeneratedVault, cached, copy_vault, generate
from tests.conftest import require_reference

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> GeneratedVault:
    base = tmp_path_factory.mktemp("gen")
    return generate(base / "vault", 400, actors=3, hot_keys=4, seed=7, home=base / "home")


def test_generated_vault_verifies_and_matches_build_event(small: GeneratedVault) -> None:
    with Vault.open(small.path, home=small.home) as vault:
        report = verify_vault(vault)
        assert report.ok, [p.to_json() for p in report.all_problems]
        assert report.log.event_count == 400
        assert not report.all_problems  # not even a warning (stale manifest.sig, order...)
        assert vault.index.count() == 400
        reducer = vault.reduce()
        assert reducer.event_count == 400
        assert reducer.contested_keys, "hot keys should end up contested"
    signers = small.keys()  # the generator's signing keys, not a dict view
    keys = {k.key_id: k for k in signers}
    lines = small.path.joinpath("events/events.ndjson").read_bytes().splitlines()
    types = set()
    heads: dict[str, str | None] = {}
    for raw in lines:
        ev = json.loads(raw)
        types.add(ev["type"])
        assert ev["prev_event_hash"] == heads.get(ev["actor"])  # one chain per actor
        heads[ev["actor"]] = ev["event_id"]
        rebuilt = build_event(event_type=ev["type"], actor=ev["actor"], payload=ev["payload"],
                              prev_event_hash=ev["prev_event_hash"],
                              key=keys[ev["actor_key_id"]], timestamp_utc=ev["timestamp_utc"],
                              namespace=ev.get("namespace"), ts_logical=ev.get("ts_logical"))
        assert rebuilt == ev
    assert len(heads) == 3
    assert {"GENESIS", "OBSERVATION", "ATTESTATION", "RETRACTION"} <= types
    stamps = [json.loads(raw)["timestamp_utc"] for raw in lines]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


@pytest.mark.interop
def test_reference_verify_passes(small: GeneratedVault) -> None:
    require_reference("provara")
    proc = subprocess.run([sys.executable, "-m", "provara", "verify", str(small.path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout


@pytest.mark.interop
def test_reference_reducer_agrees(small: GeneratedVault) -> None:
    reducer_v0 = require_reference("provara.reducer_v0")
    events = [json.loads(x) for x in
              small.path.joinpath("events/events.ndjson").read_bytes().splitlines()]
    ref = reducer_v0.SovereignReducerV0()
    ref.apply_events(events)
    with Vault.open(small.path, home=small.home) as vault:
        assert vault.reduce().state_hash() == ref.export_state()["metadata"]["state_hash"]


def test_cache_reuses_and_copies(tmp_path: Path) -> None:
    first = cached(50, actors=2, hot_keys=2, seed=3, cache_dir=tmp_path)
    mtime = first.path.joinpath("events/events.ndjson").stat().st_mtime_ns
    again = cached(50, actors=2, hot_keys=2, seed=3, cache_dir=tmp_path)
    assert again.path == first.path
    assert again.path.joinpath("events/events.ndjson").stat().st_mtime_ns == mtime
    copy = copy_vault(first, tmp_path / "copy", home=tmp_path / "copy-home")
    with Vault.open(copy.path, home=copy.home, sync_index=False) as vault:
        assert vault.index.count() == 50  # the index came along: no rebuild needed
        assert verify_vault(vault).ok

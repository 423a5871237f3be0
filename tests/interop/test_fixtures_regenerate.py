"""tests/fixtures is what scripts/gen_fixtures makes with the installed reference, byte for
byte: anyone can regenerate it and see where each expected hash comes from, and `--check`
notices a fixture that no longer matches."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.conftest import FIXTURES, REPO, require_fixture, require_reference

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.interop

GEN = REPO / "scripts" / "gen_fixtures"


def gen(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    require_reference("provara")
    return subprocess.run([sys.executable, str(GEN), *map(str, argv)], capture_output=True,
                          text=True, timeout=300, check=False)


def test_committed_fixtures_are_what_the_generator_makes() -> None:
    done = gen("--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matches a fresh generation" in done.stdout


def test_check_names_a_fixture_that_was_changed(tmp_path: Path) -> None:
    copy = tmp_path / "fixtures"
    shutil.copytree(require_fixture("."), copy)
    log = copy / "reference_generated" / "vaultB" / "events" / "events.ndjson"
    log.write_bytes(log.read_bytes().replace(b'"closed"', b'"ajar"', 1))
    (copy / "demo_backpack" / "manifest.sig").unlink()
    (copy / "stray.json").write_text("{}")
    done = gen("--check", "--against", copy)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"missing from {copy}: demo_backpack/manifest.sig",
        "not made by the generator: stray.json",
        "differs: reference_generated/vaultB/events/events.ndjson",
    ]
    assert "out of date (3 differences)" in done.stderr


def test_expected_hashes_come_from_the_reference() -> None:
    """Recompute expected.json's reducer hashes with the reference, from the committed logs."""
    reducer_v0 = require_reference("provara.reducer_v0")
    expected = json.loads((FIXTURES / "expected.json").read_text("utf-8"))
    assert expected["generated_by"]["package"] == "provara-protocol"
    for name, facts in expected["vaults"].items():
        lines = (FIXTURES / name / "events" / "events.ndjson").read_text("utf-8").splitlines()
        reducer = reducer_v0.SovereignReducerV0()
        reducer.apply_events([json.loads(x) for x in lines if x.strip()])
        assert reducer.export_state()["metadata"]["state_hash"] == facts["state_hash"], name
        assert facts["event_count"] == len(lines), name


def test_out_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    done = gen("--out", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path} exists and is not empty"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]

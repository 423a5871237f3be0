"""Bundles and the reference implementation (PyPI provara-protocol 1.0.3), both ways:

* after every import (full, delta, selection, from a reference delta, from a plain vault
  copy) the receiving vault passes the reference's ``provara verify``;
* our ``--format provara-delta-v1`` output is read by the reference's
  ``sync_v0 delta-import``;
* the reference's ``sync_v0 delta-export`` output (unsigned, legacy event ids) is verified and
  imported by us, and we say it is unsigned;
* a plain copy of a whole vault directory passes ``provara verify`` and imports like a bundle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.bundle import conftest as people
from tests.bundle.conftest import Cli, Person, event_ids, trust
from tests.conftest import require_reference, require_reference_cli

if TYPE_CHECKING:
    from pathlib import Path

# The bundle tests' people and CLI driver, shared here (pytest finds fixtures by name).
identity_files = people.identity_files
cli = people.cli
alice = people.alice
bob = people.bob

require_reference("provara.sync_v0")
pytestmark = pytest.mark.interop


def reference(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_reference_cli(), *argv], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd)


def sync_v0(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "provara.sync_v0", *argv],
                          capture_output=True, text=True, timeout=120, check=False)


def assert_reference_verifies(vault: Path) -> None:
    done = reference("verify", str(vault))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout


def observe(cli: Cli, who: Person, subject: str, *extra: str) -> str:
    return str(cli.json(who, "observe", str(who.vault), "--subject", subject, "--predicate",
                        "state", "--value", '"seen"', *extra)["event_id"])


def test_reference_verifies_after_full_delta_and_selective_imports(
        cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> None:
    att = tmp_path / "a.bin"
    att.write_bytes(bytes(range(256)) * 40)
    observe(cli, alice, "x", "--attach", str(att))
    observe(cli, bob, "y")
    trust(cli, bob, alice)
    full = tmp_path / "full.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(full))
    cli.json(bob, "import", str(bob.vault), str(full))
    assert_reference_verifies(bob.vault)
    fr = tmp_path / "bob.frontier"
    cli.json(bob, "frontier", str(bob.vault), str(fr))
    observe(cli, alice, "z")
    delta = tmp_path / "d.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(delta), "--since-frontier", str(fr))
    assert cli.json(bob, "import", str(bob.vault), str(delta))["imported"] == 1
    assert_reference_verifies(bob.vault)
    assert cli.json(bob, "verify", str(bob.vault))["ok"]


def test_reference_reads_our_delta_v1(cli: Cli, alice: Person, tmp_path: Path) -> None:
    new = [observe(cli, alice, f"s{i}") for i in range(3)]
    out = tmp_path / "alice.delta"
    doc = cli.json(alice, "export", str(alice.vault), str(out), "--format", "provara-delta-v1")
    assert doc["format"] == "provara-delta-v1"
    assert doc["event_count"] == 5
    header = json.loads(out.read_text().splitlines()[0])
    assert header["type"] == "provara_delta_v1"
    assert header["event_count"] == 5
    ref_vault = tmp_path / "ref"
    assert reference("init", str(ref_vault), "--actor", "refuser").returncode == 0
    done = sync_v0("delta-import", str(ref_vault), str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(new) <= set(event_ids(ref_vault))


def test_we_read_the_references_delta_v1(cli: Cli, bob: Person, tmp_path: Path) -> None:
    ref_vault = tmp_path / "ref"
    assert reference("init", str(ref_vault), "--actor", "refuser").returncode == 0
    keyfile = ref_vault / "identity" / "private_keys.json"
    for i in range(2):
        done = reference("append", str(ref_vault), "--type", "OBSERVATION", "--data",
                         json.dumps({"subject": f"door{i}", "predicate": "status",
                                     "value": "open"}), "--keyfile", str(keyfile),
                         "--actor", "refuser")
        assert done.returncode == 0, done.stderr
    delta = tmp_path / "ref.delta"
    done = sync_v0("delta-export", str(ref_vault), "-o", str(delta))
    assert done.returncode == 0, done.stderr
    code, out, err = cli(bob, "bundle", "verify", str(delta), "--json")
    doc = json.loads(out)
    assert doc["format"] == "provara_delta_v1"
    assert doc["signed"] is False
    assert doc["event_count"] == 4
    assert len(doc["legacy_ids"]) == 2
    assert code == 0, err  # unsigned is said, not an error: each event verified on its own
    assert doc["untrusted_keys"], "the reference's key is nobody's trusted key"
    code, _, err = cli(bob, "import", str(bob.vault), str(delta))
    assert code == 1
    assert "trust" in err
    got = cli.json(bob, "import", str(bob.vault), str(delta), "--accept-untrusted")
    assert got["imported"] == 4
    assert got["signed"] is False
    assert_reference_verifies(bob.vault)
    assert cli.json(bob, "verify", str(bob.vault))["ok"]


def test_plain_vault_copy_is_a_whole_vault_export(cli: Cli, alice: Person, bob: Person,
                                                  tmp_path: Path) -> None:
    att = tmp_path / "a.txt"
    att.write_text("attached")
    observe(cli, alice, "x", "--attach", str(att))
    copy = tmp_path / "usb" / "alice-vault"
    shutil.copytree(alice.vault, copy)
    assert_reference_verifies(copy)
    trust(cli, bob, alice)
    doc = cli.json(bob, "bundle", "verify", str(copy))
    assert doc["format"] == "vault-directory"
    assert doc["ok"]
    got = cli.json(bob, "import", str(bob.vault), str(copy))
    assert got["imported"] == 3
    assert got["attachments"]["new"] == 1
    assert_reference_verifies(bob.vault)
    assert cli.json(bob, "verify", str(bob.vault))["ok"]

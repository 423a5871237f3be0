"""Rotation and the reference implementation (provara-protocol 1.0.3), after every step:

* a routine rotation (boundary = the old key's last event) leaves a vault the reference's
  ``provara verify`` passes, with the reference reducer's state_hash: keys.json marks the old
  key "rotated", which the reference does not treat as revoked (docs/KEYS.md);
* a compromise rotation marks the old key "revoked", and the reference then rejects every
  event that key ever signed, history included (PROTOCOL.md B section 7: it has no trust
  boundary). That is its own behaviour, shown here as it is; our verify accepts the history up
  to the boundary and flags only what came after;
* the reference's own rotation (vaultQ, made by its rekey) reads with us: the revoked root
  key's history up to the boundary is valid."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import nacl.pwhash
import pytest

from provara_desktop.cli import main
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import write_recovery_file
from tests.conftest import require_fixture, require_reference
from tests.interop.reference_checks import provara, reference_state_hash

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

require_reference("provara.reducer_v0")
PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def provara_verify(vault: Path) -> subprocess.CompletedProcess[str]:
    return provara("verify", str(vault))


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def case(tmp_path: Path, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    home, rec, v = tmp_path / "home", tmp_path / "rec.json", tmp_path / "v"
    IdentityStore(home, **FAST).create_with_recovery(
        "Alice", PASS, lambda i, r: write_recovery_file(rec, i, r) and None)
    ok(capsys, "--home", str(home), "init", str(v))
    events = [ok(capsys, "--home", str(home), "observe", str(v), "--subject", "door",
                 "--predicate", "state", "--value", json.dumps(value))["event_id"]
              for value in ("open", "closed")]
    return {"home": home, "rec": rec, "v": v, "events": events}


def our_checks(capsys: pytest.CaptureFixture[str], c: dict[str, Any]) -> dict[str, Any]:
    main(["--home", str(c["home"]), "verify", str(c["v"]), "--json"])  # exit 1 if not ok
    report = json.loads(capsys.readouterr()[0])
    state = ok(capsys, "--home", str(c["home"]), "state", str(c["v"]))
    assert state["state_hash"] == reference_state_hash(c["v"])  # the reducer agrees always
    return dict(report)


def test_after_a_routine_rotation_the_reference_verifies_the_vault(
        case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    home, v = str(case["home"]), str(case["v"])
    assert provara_verify(case["v"]).returncode == 0
    ok(capsys, "--home", home, "identity", "rotate", v, "--recovery-file", str(case["rec"]))
    done = provara_verify(case["v"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert our_checks(capsys, case)["ok"]
    ok(capsys, "--home", home, "observe", v, "--subject", "door", "--predicate", "state",
       "--value", '"sealed"')
    done = provara_verify(case["v"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert our_checks(capsys, case)["ok"]
    # A second routine rotation: the chain of promotions goes on, still readable there.
    ok(capsys, "--home", home, "identity", "rotate", v, "--recovery-file", str(case["rec"]))
    ok(capsys, "--home", home, "observe", v, "--subject", "door", "--predicate", "state",
       "--value", '"open again"')
    done = provara_verify(case["v"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert our_checks(capsys, case)["ok"]


def test_after_a_compromise_rotation_the_reference_rejects_the_history_we_keep(
        case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    home, v = str(case["home"]), str(case["v"])
    old = ok(capsys, "--home", home, "identity", "show")["key_id"]
    ok(capsys, "--home", home, "identity", "rotate", v, "--recovery-file", str(case["rec"]),
       "--reason", "compromise", "--boundary", case["events"][0])
    ours = our_checks(capsys, case)
    # Ours: the history up to the boundary is valid; the one event after it is flagged.
    flagged = [p["event_id"] for p in ours["problems"] if p["code"] == "REVOKED_KEY"]
    assert flagged == [case["events"][1]]
    # The reference: it refuses the revoked key for every event (it has no trust boundary),
    # so the vault fails there, naming signatures by the old key. Its behaviour, not ours.
    done = provara_verify(case["v"])
    assert done.returncode != 0
    assert old in json.loads((case["v"] / "identity/keys.json").read_text())["keys"][0][
        "key_id"]
    assert json.loads((case["v"] / "identity/keys.json").read_text())["keys"][0][
        "status"] == "revoked"


def test_the_references_own_rotation_reads_with_us(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "vaultQ"
    shutil.copytree(require_fixture("reference_generated/vaultQ"), dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    home = tmp_path / "home"
    main(["--home", str(home), "verify", str(dest), "--json"])
    report = json.loads(capsys.readouterr()[0])
    assert report["ok"], report["problems"]
    keys = {k["key_id"]: k for k in ok(capsys, "--home", str(home), "keys", str(dest))["keys"]}
    revoked = [k for k in keys.values() if k["status"] == "revoked"]
    assert len(revoked) == 1
    assert revoked[0]["replaced_by"] in keys  # its rekey's promotion counts with us
    assert revoked[0]["trust_boundary_event_id"]

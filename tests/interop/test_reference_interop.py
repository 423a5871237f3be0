"""Interoperability with the reference implementation (PyPI provara-protocol 1.0.3), both ways:

* every vault we write passes the reference's ``provara verify`` after every operation we
  offer, and the reference reducer gives our state_hash for our events.ndjson;
* every vault the reference wrote (tests/fixtures, made by scripts/gen_fixtures) reads with
  us: the same state_hash as the reference, and a verification report that explains exactly
  what is wrong with the bad ones;
* a vault made and extended by the reference CLI takes our appends and stays valid for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.cli import main
from provara_desktop.core.errors import UsageError
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.store.evidence import observe
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault
from tests.conftest import fixture_json, require_fixture, require_reference
from tests.interop.reference_checks import provara, reference_state_hash

if TYPE_CHECKING:
    from pathlib import Path

require_reference("provara.reducer_v0")  # fail (CI) or skip early without it

pytestmark = pytest.mark.interop

EXPECTED = fixture_json("expected.json")
PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def assert_reference_verifies(vault: Path) -> None:
    done = provara("verify", str(vault))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def identity_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("identities")
    for name in ("Alice", "Bob"):
        IdentityStore(base / name, **FAST).create(name, PASS)
    return {name: base / name / "identity.json" for name in ("Alice", "Bob")}


@pytest.fixture
def homes(home: Path, tmp_path: Path, identity_files: dict[str, Path],
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    out = {"Alice": home, "Bob": tmp_path / "bob-home"}
    for name, h in out.items():
        h.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(identity_files[name], h / "identity.json")
    return out


def copy_fixture(name: str, tmp_path: Path) -> Path:
    """A writable copy of a fixture vault (the committed originals must stay untouched)."""
    dest = tmp_path / name.replace("/", "_")
    shutil.copytree(require_fixture(name), dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dest


def rule_ids(event: dict[str, Any]) -> tuple[str, str]:
    """(rule A id, rule B id), computed here independently of our code."""
    def h(drop: set[str]) -> str:
        body = {k: v for k, v in event.items() if k not in drop}
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "evt_" + hashlib.sha256(data.encode()).hexdigest()[:24]
    return h({"event_id", "sig"}), h({"event_id", "sig", "actor_key_id"})


# -- our vaults, read by the reference --------------------------------------------------------

def test_every_operation_keeps_the_vault_valid_for_the_reference(
        homes: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "case"
    photo = tmp_path / "scene.jpg"
    photo.write_bytes(os.urandom(4096))
    bob = ["--home", str(homes["Bob"])]

    def check(step: str) -> dict[str, Any]:
        assert_reference_verifies(v)
        ours = ok_json(capsys, "state", str(v))
        assert ours["state_hash"] == reference_state_hash(v), step
        report = ok_json(capsys, "verify", str(v))
        assert report["ok"], (step, report)
        return ours

    ok_json(capsys, "init", str(v))
    check("init")
    first = ok_json(capsys, "observe", str(v), "--subject", "door", "--predicate", "status",
                    "--value", '"open"', "--confidence", "0.9")
    check("observe")
    ok_json(capsys, "observe", str(v), "--subject", "scene", "--predicate", "photo",
            "--value", '{"angle": 1.5, "n": 2}', "--attach", str(photo))
    check("observe --attach")
    second = ok_json(capsys, "observe", str(v), "--subject", "door", "--predicate", "status",
                     "--value", '"closed"', "--confidence", "0.8")
    assert "door:status" in check("conflicting observe")["contested"]
    ok_json(capsys, "attest", str(v), "--subject", "door", "--predicate", "status", "--value",
            '"closed"', "--target", second["event_id"], "--target", first["event_id"])
    settled = check("attest --target")
    assert settled["canonical"]["door:status"]["value"] == "closed"
    ok_json(capsys, "retract", str(v), "--subject", "scene", "--predicate", "photo",
            "--reason", "wrong room")
    check("retract")
    b = ok_json(capsys, *bob, "observe", str(v), "--subject", "door", "--predicate", "colour",
                "--value", '"red"')
    assert any("was added to identity/keys.json" in n for n in b["notes"])
    keys = json.loads((v / "identity/keys.json").read_text())["keys"]
    assert b["actor_key_id"] in [k["key_id"] for k in keys]
    final = check("second identity")
    assert final["event_count"] == 8
    # Our manifest.sig is current, as the reference would never keep it.
    sig = json.loads((v / "manifest.sig").read_text())
    assert sig["merkle_root"] == (v / "merkle_root.txt").read_text().strip()


# -- the reference's vaults, read by us -------------------------------------------------------

CASES = ["reference_backpack", "demo_backpack", "legacy_genesis_vault",
         "reference_generated/vaultA", "reference_generated/vaultB",
         "reference_generated/vaultC", "reference_generated/vaultQ"]


@pytest.mark.parametrize("name", CASES)
def test_conformance_state_matches_the_reference(name: str, home: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    v = copy_fixture(name, tmp_path)
    expected = EXPECTED["vaults"][name]
    state = ok_json(capsys, "state", str(v))
    assert state["state_hash"] == expected["state_hash"]
    assert state["event_count"] == expected["event_count"]
    assert sorted(state["local"]) == expected["local_keys"]
    assert sorted(state["contested"]) == expected["contested_keys"]
    assert sorted(state["canonical"]) == expected["canonical_keys"]
    code, out, err = run(capsys, "verify", str(v), "--json")
    report = json.loads(out)
    assert code == (0 if report["ok"] else 1)
    assert report["event_count"] == expected["event_count"]
    if not report["ok"]:
        assert err.startswith("verification failed: ")
        assert err.count("\n") == 1


def verify_json(capsys: pytest.CaptureFixture[str], v: Path) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, "verify", str(v), "--json")
    return code, json.loads(out)


def codes(report: dict[str, Any]) -> set[str]:
    return {p["code"] for p in report["problems"] if p["severity"] == "error"}


def test_reference_backpack_and_demo_are_valid(home: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("reference_backpack", "demo_backpack"):
        code, report = verify_json(capsys, copy_fixture(name, tmp_path))
        assert (code, report["ok"], report["forks"], codes(report)) == (0, True, [], set())


def test_vault_b_is_valid_and_lists_its_legacy_ids(home: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    v = copy_fixture("reference_generated/vaultB", tmp_path)
    code, report = verify_json(capsys, v)
    assert (code, report["ok"]) == (0, True)
    events = [json.loads(x) for x in (v / "events/events.ndjson").read_text().splitlines()]
    variant_b = [e["event_id"] for e in events
                 if rule_ids(e)[0] != e["event_id"] == rule_ids(e)[1]]
    assert variant_b  # `provara append` wrote them
    assert report["legacy_ids"] == variant_b
    assert not {p["code"] for p in report["problems"]} & {"EVENT_ID_MISMATCH", "BAD_SIGNATURE"}


def test_vault_a_reports_the_fork_with_proof_and_the_stale_manifest(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = copy_fixture("reference_generated/vaultA", tmp_path)
    code, report = verify_json(capsys, v)
    assert (code, report["ok"]) == (1, False)
    by_id = {(e := json.loads(x))["event_id"]: e
             for x in (v / "events/events.ndjson").read_text().splitlines()}
    [fork] = report["forks"]
    assert fork["actor"] == "alice"
    assert len(fork["event_ids"]) == 2
    # The proof: both competing events in full, signed by the same key, same predecessor.
    assert fork["events"] == [by_id[e] for e in fork["event_ids"]]
    assert {e["prev_event_hash"] for e in fork["events"]} == {fork["prev_event_hash"]}
    assert len({e["actor_key_id"] for e in fork["events"]}) == 1
    # The stale manifest: the reference's `query` added .index/ after it was written (its
    # checkpoints/ file is listed in this manifest). Every unlisted file is named.
    listed = {f["path"] for f in json.loads((v / "manifest.json").read_text())["files"]}
    on_disk = {p.relative_to(v).as_posix() for p in v.rglob("*") if p.is_file()}
    unlisted = on_disk - listed - {"manifest.json", "manifest.sig", "merkle_root.txt",
                                   "identity/private_keys.json"}
    assert unlisted == {".index/events.db"}
    phantoms = {p["path"] for p in report["problems"] if p["code"] == "PHANTOM_FILE"}
    assert phantoms == unlisted
    assert "checkpoints/0000000004.chk" in listed
    assert "MERKLE_MISMATCH" in codes(report)
    # The reference agrees that this vault is broken.
    assert provara("verify", str(v)).returncode != 0


def test_vault_c_reports_the_fork_and_the_unknown_key(home: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    v = copy_fixture("reference_generated/vaultC", tmp_path)
    code, report = verify_json(capsys, v)
    assert (code, report["ok"]) == (1, False)
    assert [f["actor"] for f in report["forks"]] == ["alice"]
    assert all(e is not None for e in report["forks"][0]["events"])
    unknown = [p for p in report["problems"] if p["code"] == "UNKNOWN_KEY"]
    keys = {k["key_id"] for k in json.loads((v / "identity/keys.json").read_text())["keys"]}
    events = [json.loads(x) for x in (v / "events/events.ndjson").read_text().splitlines()]
    not_stored = [e["event_id"] for e in events if e["actor_key_id"] not in keys]
    assert not_stored  # the reference's delta-import never stored alice's key
    assert [p["event_id"] for p in unknown] == not_stored
    assert all("not in identity/keys.json" in p["message"] for p in unknown)


def test_vault_q_accepts_events_up_to_the_trust_boundary(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """vaultQ after key rotation (rekey_backpack.rotate_key). Its KEY_REVOCATION revokes
    alice's root key (expected.json facts.vaultQ.revoked_key_id) with
    trust_boundary_event_id = the seed OBSERVATION. The reference's `provara verify` rejects
    the GENESIS and that OBSERVATION (E204: key revoked). We report what the contract (A §7) says:

    * both pre-rotation events are the boundary and its chain ancestor, so they stay valid:
      no REVOKED_KEY problem, the vault verifies ok (legacy ids listed, manifest.sig stale as
      a warning);
    * an event signed by the revoked key after the boundary is flagged REVOKED_KEY, naming
      that event and line, and only that one;
    * we refuse to sign anything new with the revoked key, while the promoted/active keys
      still append.
    """
    v = copy_fixture("reference_generated/vaultQ", tmp_path)
    assert provara("verify", str(v)).returncode != 0  # the reference's position
    code, report = verify_json(capsys, v)
    assert (code, report["ok"]) == (0, True)
    assert "REVOKED_KEY" not in {p["code"] for p in report["problems"]}
    assert {p["severity"] for p in report["problems"]} <= {"warning"}
    assert len(report["legacy_ids"]) == 2  # the two rotation events (rule B)

    priv = {k["key_id"]: SigningKey(base64.b64decode(k["private_key_b64"])) for k in
            json.loads((v / "identity/private_keys.json").read_text())["keys"]}
    rotation = EXPECTED["facts"]["vaultQ"]
    revoked, quorum = priv[rotation["revoked_key_id"]], priv[rotation["signing_key_id"]]
    with Vault.open(v, home=home) as vault:
        before = (v / "events/events.ndjson").read_bytes()
        with pytest.raises(UsageError, match="revoked"):
            observe(vault, revoked, "alice", subject="door", predicate="status", value="open")
        assert (v / "events/events.ndjson").read_bytes() == before
        observe(vault, quorum, "quorum-holder", subject="door", predicate="status",
                value="open")
        assert verify_json(capsys, v)[1]["ok"] is True
        # A post-boundary event forged with the revoked key, written by some other tool.
        head = json.loads(before.splitlines()[1])
        forged = build_event(event_type="OBSERVATION", actor="alice",
                             prev_event_hash=head["event_id"], key=revoked,
                             payload={"subject": "door", "predicate": "status", "value": "x"})
    log = v / "events/events.ndjson"
    log.write_bytes(log.read_bytes() + json.dumps(
        forged, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    code, report = verify_json(capsys, v)
    assert code == 1
    flagged = [p for p in report["problems"] if p["code"] == "REVOKED_KEY"]
    assert [(p["event_id"], p["line"]) for p in flagged] == [(forged["event_id"], 6)]
    assert "after the trust boundary" in flagged[0]["message"]


def test_legacy_genesis_vault_fails_with_reasons_without_crashing(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = copy_fixture("legacy_genesis_vault", tmp_path)
    code, report = verify_json(capsys, v)
    assert (code, report["ok"]) == (1, False)
    found = codes(report)
    assert {"CHAIN_BROKEN", "FILE_CHANGED", "MERKLE_MISMATCH"} <= found
    broken = [p for p in report["problems"] if p["code"] == "CHAIN_BROKEN"]
    assert all("an event of another actor" in p["message"] for p in broken)
    assert {p["path"] for p in report["problems"] if p["code"] == "FILE_CHANGED"} >= {
        "events/events.ndjson"}
    assert len(report["legacy_ids"]) == 11
    code, out, err = run(capsys, "verify", str(v))  # the human report too
    assert code == 1
    assert "CHAIN_BROKEN" in out
    assert "Traceback" not in err


# -- a vault the reference made and keeps writing --------------------------------------------

def test_reference_made_vault_takes_our_appends(homes: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "ref-vault"
    done = provara("init", str(v), "--actor", "bob")
    assert done.returncode == 0, done.stderr
    keyfile = v / "identity" / "private_keys.json"

    def ref_append(subject: str) -> None:
        done = provara("append", str(v), "--type", "OBSERVATION", "--data",
                       json.dumps({"subject": subject, "predicate": "status", "value": "ok"}),
                       "--keyfile", str(keyfile), "--actor", "bob")
        assert done.returncode == 0, done.stdout + done.stderr

    ref_append("pump")
    ours = ok_json(capsys, "observe", str(v), "--subject", "pump", "--predicate", "status",
                   "--value", '"leaking"', "--confidence", "0.9")
    assert_reference_verifies(v)
    ref_append("valve")  # the reference continues after us
    assert_reference_verifies(v)
    report = ok_json(capsys, "verify", str(v))
    assert report["ok"] is True
    assert len(report["legacy_ids"]) == 2  # the two `provara append` events
    state = ok_json(capsys, "state", str(v))
    assert state["state_hash"] == reference_state_hash(v)
    assert state["event_count"] == 5
    log = ok_json(capsys, "log", str(v))["events"]
    assert [e["actor"] for e in log][-2:] == [ours["actor"], "bob"]
    assert [e["subject"] for e in log][-1] == "valve"

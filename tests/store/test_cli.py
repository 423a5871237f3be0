"""The provara-desktop CLI, command by command, as a user drives it: real identities (PyNaCl,
Argon2), real vault files in tmp_path, the real SQLite index. Commands run in-process through
``cli.main`` (a few through ``python -m provara_desktop``), and every JSON field the issue
names is checked, together with the exit codes: 0 ok, 1 verification/validation failure,
2 usage or I/O error with one line on stderr."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.cli import main
from provara_desktop.core.keys import PublicKey
from provara_desktop.store.identity import IdentityStore

PASS = "correct horse battery staple"
# Identities made by fixtures use libsodium's minimum Argon2 cost (recorded in the file, so
# every unlock is instant); the CLI's own `identity create` test uses the real defaults.
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def identity_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("identities")
    out = {}
    for name in ("Alice", "Bob"):
        IdentityStore(base / name, **FAST).create(name, PASS)
        out[name] = base / name / "identity.json"
    return out


def install(home: Path, identity_files: dict[str, Path], name: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(identity_files[name], home / "identity.json")
    return home


@pytest.fixture
def alice(home: Path, identity_files: dict[str, Path],
          monkeypatch: pytest.MonkeyPatch) -> Path:
    """PROVARA_HOME holds Alice's identity and the passphrase is in the environment."""
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    return install(home, identity_files, "Alice")


@pytest.fixture
def bob_home(tmp_path: Path, identity_files: dict[str, Path]) -> Path:
    return install(tmp_path / "bob-home", identity_files, "Bob")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def one_line_error(err: str) -> str:
    """Failures print exactly one human line on stderr (no traceback)."""
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def vault(alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    v = tmp_path / "case-42"
    assert run(capsys, "init", str(v))[0] == 0
    return v


def lines(v: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (v / "events/events.ndjson").read_text("utf-8").splitlines()]


# -- identity -------------------------------------------------------------------------------

def test_identity_create_then_show(home: Path, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "identity", "create", "--name", "Dana Scully")
    assert code == 0
    assert "fingerprint" in out
    assert (home / "identity.json").is_file()
    # Without --recovery-out the recovery file goes to the current directory, said so.
    (written,) = tmp_path.glob("provara-recovery-dana-scully-*.json")
    assert str(written) in out
    shown = ok_json(capsys, "identity", "show")
    assert {"key_id", "actor", "public_key_b64", "fingerprint"} <= set(shown)
    public = PublicKey.from_b64(shown["public_key_b64"])
    assert shown["key_id"] == public.key_id
    assert shown["fingerprint"] == public.fingerprint
    assert shown["actor"] == "dana-scully-" + shown["key_id"][4:12]
    # A profile holds one identity: a second create is refused, the first one kept.
    code, _, err = run(capsys, "identity", "create", "--name", "Fox")
    assert code == 2
    one_line_error(err)
    assert ok_json(capsys, "identity", "show") == shown
    assert list(tmp_path.glob("provara-recovery-fox-*.json")) == []


def test_identity_show_without_identity_says_how_to_create_one(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "identity", "show", "--json")
    assert code == 2
    assert out == ""
    assert "identity create" in one_line_error(err)


def test_export_reference_import_reference_round_trip(
        alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = ok_json(capsys, "identity", "show")
    exported = tmp_path / "private_keys.json"
    doc = ok_json(capsys, "identity", "export-reference", str(exported))
    assert Path(doc["path"]) == exported
    ref = json.loads(exported.read_text())
    assert ref["keys"][0]["key_id"] == original["key_id"]
    assert ref["keys"][0]["algorithm"] == "Ed25519"

    other = tmp_path / "laptop-2"
    imported = ok_json(capsys, "--home", str(other), "identity", "import-reference",
                       str(exported), "--name", "Alice on laptop 2")
    assert imported["key_id"] == original["key_id"]
    assert imported["public_key_b64"] == original["public_key_b64"]
    assert imported["fingerprint"] == original["fingerprint"]
    # The imported key really signs: the second profile appends to a vault made by the first
    # and verification accepts the event under the same key.
    v = tmp_path / "shared-vault"
    assert run(capsys, "init", str(v))[0] == 0
    ev = ok_json(capsys, "--home", str(other), "observe", str(v), "--subject", "door",
                 "--predicate", "status", "--value", '"open"')
    assert ev["actor_key_id"] == original["key_id"]
    report = ok_json(capsys, "verify", str(v))
    assert report["ok"] is True
    keys = ok_json(capsys, "keys", str(v))["keys"]
    assert [k["key_id"] for k in keys] == [original["key_id"]]  # not admitted twice
    # Exporting never overwrites an existing file.
    code, _, err = run(capsys, "identity", "export-reference", str(exported))
    assert code == 2
    assert "already exists" in one_line_error(err)


# -- init / observe / attest / retract ----------------------------------------------------

def test_init_json(alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "new-case"
    doc = ok_json(capsys, "init", str(v), "--uid", "case-0001")
    assert doc == {"vault": str(v), "uid": "case-0001", "event_count": 2}
    assert json.loads((v / "identity/genesis.json").read_text())["uid"] == "case-0001"
    assert [e["type"] for e in lines(v)] == ["GENESIS", "OBSERVATION"]
    for rel in ("manifest.json", "merkle_root.txt", "manifest.sig", "identity/keys.json",
                "policies/safety_policy.json", "artifacts/cas"):
        assert (v / rel).exists(), rel
    # Nothing of ours (index, keys) lives inside the vault directory.
    assert not list(v.rglob("*.db"))
    assert not (v / "identity/private_keys.json").exists()
    code, _, err = run(capsys, "init", str(v))  # not over an existing vault
    assert code == 2
    assert "already exists" in one_line_error(err)


def test_observe_with_confidence_and_attachment(vault: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 100)
    me = ok_json(capsys, "identity", "show")
    doc = ok_json(capsys, "observe", str(vault), "--subject", "door", "--predicate",
                  "status", "--value", '{"state": "open", "angle": 30}', "--confidence",
                  "0.8", "--attach", str(photo))
    assert set(doc) >= {"event_id", "type", "actor", "actor_key_id", "timestamp_utc",
                        "prev_event_hash", "notes"}
    assert doc["type"] == "OBSERVATION"
    assert doc["actor"] == me["actor"]
    assert doc["actor_key_id"] == me["key_id"]
    assert doc["prev_event_hash"] == lines(vault)[1]["event_id"]
    last = lines(vault)[-1]
    assert last["event_id"] == doc["event_id"]
    assert last["payload"]["value"] == {"state": "open", "angle": 30}
    assert last["payload"]["confidence"] == 0.8
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert last["payload"]["attachments"] == [
        {"sha256": sha, "size": photo.stat().st_size, "media_type": "image/jpeg",
         "name": "door.jpg"}]
    assert (vault / "artifacts/cas" / sha).read_bytes() == photo.read_bytes()
    assert ok_json(capsys, "verify", str(vault))["ok"] is True


def test_conflicting_observations_are_contested_and_attest_settles_them(
        vault: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = ok_json(capsys, "observe", str(vault), "--subject", "door", "--predicate", "status",
                "--value", '"open"', "--confidence", "0.9")
    b = ok_json(capsys, "observe", str(vault), "--subject", "door", "--predicate", "status",
                "--value", '"closed"', "--confidence", "0.9")
    state = ok_json(capsys, "state", str(vault))
    assert set(state) >= {"state_hash", "event_count", "canonical", "local", "contested",
                          "archived"}
    assert state["event_count"] == 4
    contested = state["contested"]["door:status"]
    assert contested["status"] == "AWAITING_RESOLUTION"
    assert sorted(contested["evidence_by_value"]) == ['"closed"', '"open"']
    assert "door:status" not in state["local"]
    code, out, _ = run(capsys, "state", str(vault))  # the human view shows it too
    assert code == 0
    assert "contested: 1" in out
    assert "door:status" in out

    att = ok_json(capsys, "attest", str(vault), "--subject", "door", "--predicate", "status",
                  "--value", '"closed"', "--target", b["event_id"], "--target", a["event_id"])
    assert att["type"] == "ATTESTATION"
    payload = lines(vault)[-1]["payload"]
    assert payload["target_event_id"] == b["event_id"]
    assert payload["target_event_ids"] == [b["event_id"], a["event_id"]]
    settled = ok_json(capsys, "state", str(vault))
    assert settled["contested"] == {}
    assert settled["canonical"]["door:status"]["value"] == "closed"
    assert settled["canonical"]["door:status"]["provenance"] == b["event_id"]
    assert settled["state_hash"] != state["state_hash"]

    ret = ok_json(capsys, "retract", str(vault), "--subject", "door", "--predicate",
                  "status", "--reason", "wrong door")
    assert ret["type"] == "RETRACTION"
    assert lines(vault)[-1]["payload"] == {"subject": "door", "predicate": "status",
                                           "reason": "wrong door"}
    after = ok_json(capsys, "state", str(vault))
    assert "door:status" not in after["canonical"]
    assert after["archived"]["door:status"][-1]["retracted"] is True
    assert after["archived"]["door:status"][-1]["superseded_by"] == ret["event_id"]
    assert ok_json(capsys, "verify", str(vault))["ok"] is True


def test_attest_unknown_target_is_refused(vault: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_digest(vault)
    code, _, err = run(capsys, "attest", str(vault), "--subject", "door", "--predicate",
                       "status", "--value", '"x"', "--target", "evt_000000000000000000000000")
    assert code == 2
    assert "evt_000000000000000000000000" in one_line_error(err)
    assert tree_digest(vault) == before


# -- verify / state / log / keys / reindex -------------------------------------------------

def test_verify_json_fields_and_tampering(vault: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, "observe", str(vault), "--subject", "door", "--predicate", "status",
            "--value", '"open"')
    report = ok_json(capsys, "verify", str(vault))
    assert report == {"ok": True, "event_count": 3, "problems": [], "forks": [],
                      "legacy_ids": [], "federation": None}  # no contract: not partial
    code, out, err = run(capsys, "verify", str(vault))
    assert (code, err) == (0, "")
    assert out.startswith("OK: 3 events")

    log = vault / "events/events.ndjson"
    log.write_bytes(log.read_bytes().replace(b'"open"', b'"shut"'))
    code, out, err = run(capsys, "verify", str(vault), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    codes = {p["code"] for p in report["problems"]}
    assert {"FILE_CHANGED", "EVENT_ID_MISMATCH", "BAD_SIGNATURE"} <= codes
    bad = next(p for p in report["problems"] if p["code"] == "BAD_SIGNATURE")
    assert (bad["line"], bad["path"]) == (3, "events/events.ndjson")
    assert set(bad) == {"code", "severity", "event_id", "actor", "path", "line", "message"}
    assert "verification failed" in one_line_error(err)
    assert "line 3" in err


def test_log_filters(vault: Path, bob_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    me = ok_json(capsys, "identity", "show")["actor"]
    ok_json(capsys, "observe", str(vault), "--subject", "door", "--predicate", "status",
            "--value", '"open"')
    ok_json(capsys, "observe", str(vault), "--subject", "window", "--predicate", "status",
            "--value", '"shut"')
    bob = ok_json(capsys, "--home", str(bob_home), "observe", str(vault), "--subject", "door",
                  "--predicate", "colour", "--value", '"red"')
    everything = ok_json(capsys, "log", str(vault))
    assert everything["count"] == 5 == len(everything["events"])
    assert [e["pos"] for e in everything["events"]] == list(range(5))
    assert [e["event_id"] for e in everything["events"]] == [e["event_id"] for e in lines(vault)]
    first = everything["events"][0]
    assert set(first) == {"pos", "event_id", "type", "actor", "actor_key_id", "timestamp_utc",
                          "subject", "predicate", "prev_event_hash", "first_seen_utc"}

    by_bob = ok_json(capsys, "log", str(vault), "--actor", bob["actor"])["events"]
    assert [e["event_id"] for e in by_bob] == [bob["event_id"]]
    mine = ok_json(capsys, "log", str(vault), "--actor", me)["events"]
    assert len(mine) == 4
    genesis = ok_json(capsys, "log", str(vault), "--type", "GENESIS")["events"]
    assert [e["type"] for e in genesis] == ["GENESIS"]
    doors = ok_json(capsys, "log", str(vault), "--subject", "door")["events"]
    assert [(e["actor"], e["predicate"]) for e in doors] == [(me, "status"),
                                                               (bob["actor"], "colour")]
    two = ok_json(capsys, "log", str(vault), "--limit", "2")
    assert [e["pos"] for e in two["events"]] == [0, 1]
    assert ok_json(capsys, "log", str(vault), "--actor", "nobody")["count"] == 0
    code, out, _ = run(capsys, "log", str(vault), "--subject", "window")
    assert code == 0
    assert "window:status" in out
    code, _, err = run(capsys, "log", str(vault), "--limit", "-1")
    assert code == 2
    assert "--limit" in one_line_error(err)


def test_second_identity_is_admitted_and_keys_lists_both(
        vault: Path, bob_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    me = ok_json(capsys, "identity", "show")
    bob = ok_json(capsys, "--home", str(bob_home), "identity", "show")
    code, out, err = run(capsys, "--home", str(bob_home), "observe", str(vault), "--subject",
                         "door", "--predicate", "status", "--value", '"open"', "--json")
    assert code == 0
    assert json.loads(out)["notes"] == [f"key {bob['key_id']} was added to identity/keys.json"]
    assert f"note: key {bob['key_id']} was added" in err
    keys = ok_json(capsys, "keys", str(vault))["keys"]
    assert [(k["key_id"], k["event_count"]) for k in keys] == [(me["key_id"], 2),
                                                               (bob["key_id"], 1)]
    for k, who in zip(keys, (me, bob), strict=True):
        assert k["fingerprint"] == who["fingerprint"]
        assert k["public_key_b64"] == who["public_key_b64"]
        assert k["status"] == "active"
    assert keys[0]["roles"] == ["root", "attestation"]
    assert keys[1]["roles"] == ["attestation"]
    assert ok_json(capsys, "verify", str(vault))["ok"] is True


def test_reindex_rebuilds_a_deleted_index(vault: Path, alice: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, "observe", str(vault), "--subject", "door", "--predicate", "status",
            "--value", '"open"')
    before = ok_json(capsys, "log", str(vault))
    dbs = [p for p in alice.rglob("*") if p.is_file() and p.name != "identity.json"]
    assert dbs, "the index lives in the profile directory"
    for p in dbs:
        p.unlink()
    assert ok_json(capsys, "reindex", str(vault)) == {"event_count": 3}
    after = ok_json(capsys, "log", str(vault))
    strip = [{k: v for k, v in e.items() if k != "first_seen_utc"} for e in before["events"]]
    assert [{k: v for k, v in e.items() if k != "first_seen_utc"}
            for e in after["events"]] == strip
    code, out, _ = run(capsys, "reindex", str(vault))
    assert (code, out) == (0, "reindexed 3 events\n")


# -- exit codes and messages ------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "needle"), [
    (["verify", "{missing}"], "no such vault directory"),
    (["state", "{missing}", "--json"], "no such vault directory"),
    (["observe", "{vault}", "--subject", "door", "--predicate", "status", "--value", "open"],
     "--value"),
    (["observe", "{vault}", "--subject", "door", "--predicate", "status", "--value", "NaN"],
     "NaN"),
    (["observe", "{vault}", "--subject", "door", "--predicate", "status", "--value", "1",
      "--confidence", "1.5"], "--confidence"),
    (["observe", "{vault}", "--subject", " ", "--predicate", "status", "--value", "1"],
     "--subject"),
    (["observe", "{vault}", "--subject", "door", "--value", "1"], "--predicate"),
    (["verify", "{vault}", "--no-such-flag"], "--no-such-flag"),
    (["frobnicate"], "frobnicate"),
])
def test_usage_and_io_errors_exit_2_with_one_line(
        vault: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        needle: str) -> None:
    before = tree_digest(vault)
    args = [a.format(vault=vault, missing=tmp_path / "nope") for a in argv]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert needle in one_line_error(err)
    assert tree_digest(vault) == before


def test_wrong_passphrase_exits_2_and_changes_nothing(
        vault: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_digest(vault)
    monkeypatch.setenv("PROVARA_PASSPHRASE", "not the passphrase")
    code, out, err = run(capsys, "observe", str(vault), "--subject", "door", "--predicate",
                         "status", "--value", '"open"', "--json")
    assert (code, out) == (2, "")
    assert "wrong passphrase" in one_line_error(err)
    assert tree_digest(vault) == before
    # The passphrase can also come from a file (one trailing newline stripped).
    monkeypatch.delenv("PROVARA_PASSPHRASE")
    pf = vault.parent / "pass.txt"
    pf.write_text(PASS + "\n")
    assert run(capsys, "--passphrase-file", str(pf), "observe", str(vault), "--subject",
               "door", "--predicate", "status", "--value", '"open"')[0] == 0


def test_no_passphrase_anywhere_says_how_to_give_one(
        vault: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PROVARA_PASSPHRASE")
    with open(os.devnull) as not_a_terminal:
        monkeypatch.setattr(sys, "stdin", not_a_terminal)
        code, _, err = run(capsys, "observe", str(vault), "--subject", "door", "--predicate",
                           "status", "--value", '"open"')
    assert code == 2
    assert "PROVARA_PASSPHRASE" in one_line_error(err)


# -- as a real process -------------------------------------------------------------------------

def cli_process(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provara_desktop", *argv], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_cli_as_a_subprocess(vault: Path, alice: Path) -> None:
    env = {**os.environ, "PROVARA_HOME": str(alice), "PROVARA_PASSPHRASE": PASS}
    env.pop("PYTHONWARNINGS", None)
    done = cli_process("observe", str(vault), "--subject", "door", "--predicate", "status",
                       "--value", "42", "--json", env=env)
    assert done.returncode == 0, done.stderr
    eid = json.loads(done.stdout)["event_id"]
    done = cli_process("verify", str(vault), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["event_count"] == 3
    done = cli_process("state", str(vault), "--json", env=env)
    assert json.loads(done.stdout)["local"]["door:status"]["provenance"] == eid

    done = cli_process("verify", str(vault.parent / "missing"), env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    one_line_error(done.stderr)
    (vault / "events/events.ndjson").write_bytes(b"")  # every event gone
    done = cli_process("verify", str(vault), env=env)
    assert done.returncode == 1
    one_line_error(done.stderr)
    assert done.stdout.startswith("FAILED")

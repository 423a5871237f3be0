"""Hostile or broken input: a bad line put into events.ndjson by hand, a missing vault, a
missing log, a vault from a newer spec, a wrong passphrase, a missing attachment. Every case
must end in a clear message naming the file (and line), the right exit code, and a vault that
is byte-for-byte what it was."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.cli import main
from provara_desktop.store.identity import IdentityStore
from tests.conftest import require_reference_cli

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
LOG = "events/events.ndjson"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(identity file, a vault with 3 good events) made once; tests work on copies."""
    base = tmp_path_factory.mktemp("pristine")
    IdentityStore(base / "home", **FAST).create("Alice", PASS)
    vault = base / "vault"
    argv = ["--home", str(base / "home")]
    mp = pytest.MonkeyPatch()
    mp.setenv("PROVARA_PASSPHRASE", PASS)
    try:
        assert main([*argv, "init", str(vault)]) == 0
        assert main([*argv, "observe", str(vault), "--subject", "door", "--predicate",
                     "status", "--value", '"open"', "--confidence", "0.9"]) == 0
    finally:
        mp.undo()
    return base / "home" / "identity.json", vault


@pytest.fixture
def vault(pristine: tuple[Path, Path], home: Path, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Path:
    home.mkdir()
    shutil.copyfile(pristine[0], home / "identity.json")
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    v = tmp_path / "vault"
    shutil.copytree(pristine[1], v)
    return v


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert "Traceback" not in err
    return err


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under the vault (dotfiles included) and its sha256."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def observe(capsys: pytest.CaptureFixture[str], v: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "observe", str(v), "--subject", "door", "--predicate", "status",
               "--value", '"closed"', *extra)


def seed_line(v: Path) -> bytes:
    return (v / LOG).read_bytes().split(b"\n")[1]


def with_payload(v: Path, payload_json: bytes) -> bytes:
    """The seed observation's line with its payload replaced by raw JSON text."""
    event = json.loads(seed_line(v))
    marker = b'"payload":' + json.dumps(event["payload"], sort_keys=True,
                                         separators=(",", ":")).encode()
    line = seed_line(v)
    assert marker in line
    return line.replace(marker, b'"payload":' + payload_json)


# Each maker returns the bad line (without its newline).
BAD_LINES: dict[str, Callable[[Path], bytes]] = {
    "malformed JSON": lambda v: b'{"type": "OBSERVATION", "actor": }',
    "truncated in the middle": lambda v: seed_line(v)[: len(seed_line(v)) // 2],
    "non-UTF-8 bytes": lambda v: with_payload(v, b'{"subject":"door\xff\xfe","predicate":"x"}'),
    "NaN": lambda v: with_payload(v, b'{"confidence":NaN,"predicate":"p","subject":"s"}'),
    "Infinity": lambda v: with_payload(v, b'{"confidence":-Infinity,"subject":"s"}'),
    "duplicate key": lambda v: seed_line(v).replace(b'"type":"OBSERVATION"',
                                                    b'"type":"OBSERVATION","type":"GENESIS"'),
    "nesting 1000 deep": lambda v: with_payload(
        v, b'{"subject":"s","predicate":"p","value":' + b"[" * 1000 + b"]" * 1000 + b"}"),
    "a 2 MB line": lambda v: with_payload(
        v, b'{"subject":"s","predicate":"p","value":"' + b"x" * (2 << 20) + b'"}'),
    "not an object": lambda v: b'["GENESIS"]',
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_bad_line_verify_names_it_and_observe_changes_nothing(
        case: str, vault: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = vault / LOG
    good = log.read_bytes().split(b"\n")
    bad = BAD_LINES[case](vault)
    # The bad line becomes line 3, between good events.
    log.write_bytes(b"\n".join([*good[:2], bad, *good[2:]]))
    before = tree_digest(vault)

    code, out, err = run(capsys, "verify", str(vault), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["event_count"] == 3  # the three good events are still read
    bad_problems = [p for p in report["problems"] if p["line"] == 3]
    assert [p["code"] for p in bad_problems] == ["MALFORMED_EVENT"]
    assert bad_problems[0]["path"] == LOG
    assert f"{LOG} line 3" in one_line(err)
    assert "FILE_CHANGED" in {p["code"] for p in report["problems"]}  # and the manifest
    code, out, _ = run(capsys, "verify", str(vault))
    assert code == 1
    assert f"MALFORMED_EVENT: {LOG} line 3" in out

    code, out, err = observe(capsys, vault, "--json")
    assert code == 1
    assert out == ""
    assert f"{vault / LOG} line 3" in one_line(err)
    assert tree_digest(vault) == before

    # Taking the bad line out again is all the repair the vault needs.
    log.write_bytes(b"\n".join(good))
    code, _, err = observe(capsys, vault)
    assert code == 0, err
    assert run(capsys, "verify", str(vault))[0] == 0


def test_torn_last_line_without_journal(vault: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A line cut short at the very end (no newline) and no journal of ours to complete it:
    another program crashed while appending. We refuse to append after it."""
    log = vault / LOG
    log.write_bytes(log.read_bytes() + seed_line(vault)[:70])
    before = tree_digest(vault)
    code, out, err = observe(capsys, vault)
    assert code == 1
    assert f"{vault / LOG} line 4" in one_line(err)
    assert "torn" in err
    assert tree_digest(vault) == before
    code, out, err = run(capsys, "verify", str(vault), "--json")
    assert code == 1
    assert [p["line"] for p in json.loads(out)["problems"]
            if p["code"] == "MALFORMED_EVENT"] == [4]
    assert f"{LOG} line 4" in one_line(err)


@pytest.mark.parametrize("blank", [b"", b"\r", b"  \t"])
def test_blank_line_does_not_lock_the_vault(vault: Path, blank: bytes,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The reference verifies a log with a blank line; we open it, warn, and append. (The
    reference writes such a log with its manifest re-made over it: a blank line added by
    hand with the manifest left stale is a change outside any Provara tool, and a write
    refuses it: tests/store/test_laundering.py.)"""
    log = vault / LOG
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join([*lines[:2], blank, *lines[2:]]))
    done = subprocess.run([require_reference_cli(), "manifest", str(vault)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    code, out, err = run(capsys, "verify", str(vault), "--json")
    report = json.loads(out)
    assert [(p["code"], p["severity"], p["line"]) for p in report["problems"]
            if p["line"] is not None] == [("BLANK_LINE", "warning", 3)]
    code, _, err = observe(capsys, vault)
    assert code == 0, err
    assert json.loads(run(capsys, "state", str(vault), "--json")[1])["event_count"] == 4
    assert run(capsys, "verify", str(vault))[0] == 0


def test_missing_vault_directory(home: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["verify"], ["state"], ["log"], ["keys"], ["reindex"]):
        code, out, err = run(capsys, *cmd, str(tmp_path / "no-vault"))
        assert (code, out) == (2, "")
        assert "no such vault directory" in one_line(err)
        assert str(tmp_path / "no-vault") in err
    assert not (tmp_path / "no-vault").exists()


def test_missing_events_file(vault: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (vault / LOG).unlink()
    before = tree_digest(vault)
    for argv in (["verify", str(vault)], ["observe", str(vault), "--subject", "a",
                                          "--predicate", "b", "--value", "1"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert "events.ndjson" in one_line(err)
        assert "missing" in err
    assert tree_digest(vault) == before
    assert not (vault / LOG).exists()


def test_vault_from_a_newer_spec_version(vault: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    manifest = vault / "manifest.json"
    doc: dict[str, Any] = json.loads(manifest.read_bytes())
    doc["backpack_spec_version"] = "2.0"
    manifest.write_text(json.dumps(doc))
    before = tree_digest(vault)
    for argv in (["verify", str(vault)], ["state", str(vault)],
                 ["observe", str(vault), "--subject", "a", "--predicate", "b", "--value", "1"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, "")
        assert "newer version" in one_line(err)
        assert "2.0" in err
    assert tree_digest(vault) == before


def test_wrong_passphrase_changes_nothing(vault: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_digest(vault)
    monkeypatch.setenv("PROVARA_PASSPHRASE", "Correct horse battery staple")
    for verb in ("observe", "attest"):
        code, out, err = run(capsys, verb, str(vault), "--subject", "door", "--predicate",
                             "status", "--value", '"x"')
        assert (code, out) == (2, "")
        assert "wrong passphrase" in one_line(err)
    code, _, err = run(capsys, "retract", str(vault), "--subject", "door", "--predicate", "s")
    assert code == 2
    assert tree_digest(vault) == before


@pytest.mark.parametrize("what", ["missing file", "a directory"])
def test_bad_attachment_changes_nothing(what: str, vault: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "photo.jpg"
    real.write_bytes(b"a real photo")
    target = tmp_path / "no-such-photo.jpg"
    if what == "a directory":
        target = tmp_path / "a-folder"
        target.mkdir()
    before = tree_digest(vault)
    code, out, err = observe(capsys, vault, "--attach", str(real), "--attach", str(target))
    assert (code, out) == (2, "")
    assert str(target) in one_line(err)
    assert tree_digest(vault) == before
    assert list((vault / "artifacts").rglob("*")) == [vault / "artifacts/cas"]
    assert not (vault / ".provara-txn").exists()

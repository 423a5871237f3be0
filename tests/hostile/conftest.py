"""Hostile input for every command that reads it: the values a careful attacker (or a damaged
disk) puts in a vault line, a bundle or a delta file, and helpers that build them.

Fixtures are made once per session (an identity at libsodium's minimum Argon2 cost, a small
vault, a bundle and a delta exported from it); each test works on fresh copies. Commands run
in-process through the real ``main(argv)`` (the CLI as a user runs it, minus the process
start-up); the memory test runs them in a subprocess, where peak RSS can be measured.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.bundle import format as fmt
from provara_desktop.cli import main
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.keys import SigningKey, b64encode
from provara_desktop.store.identity import IdentityStore

if TYPE_CHECKING:
    from pathlib import Path

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
LOG = "events/events.ndjson"

# What goes in place of a JSON value on one line; each must be refused with a message that
# says what is wrong. The last two are whole-line damage rather than a value.
BAD_VALUES: dict[str, tuple[bytes, str]] = {
    "huge-float": (b"1e999", "number 1e999 is out of range"),
    "huge-negative-float": (b"-1e400", "number -1e400 is out of range"),
    "long-integer": (b"9" * 5000, "an integer of 5000 digits"),
    "lone-surrogate": (b'"\\ud800"', "lone surrogate"),
    "raw-invalid-utf8": (b'"\xff\xfe"', "not valid UTF-8"),
    "deep-nesting": (b"[" * 900 + b"1" + b"]" * 900, "nested deeper than 64 levels"),
    "nan": (b"NaN", "NaN is not allowed"),
    "oversized-line": (b'"' + b"a" * (3 << 20) + b'"', "line too large"),
}


@dataclass
class World:
    """The pristine originals: never modified (tests copy them)."""

    home: Path
    vault: Path
    bundle: Path
    delta: Path
    key: SigningKey
    lines: list[bytes]  # the vault's event lines (the last one records "red")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("hostile-world")
    home = base / "home"
    IdentityStore(home, **FAST).create("Alice", PASS)
    vault = base / "vault"
    mp = pytest.MonkeyPatch()
    mp.setenv("PROVARA_PASSPHRASE", PASS)
    try:
        argv = ["--home", str(home)]
        assert main([*argv, "init", str(vault)]) == 0
        for pred, value in (("status", '"open"'), ("color", '"red"')):
            assert main([*argv, "observe", str(vault), "--subject", "door", "--predicate",
                         pred, "--value", value]) == 0
        bundle, delta = base / "a.provara-bundle", base / "a.delta"
        assert main([*argv, "export", str(vault), str(bundle)]) == 0
        assert main([*argv, "export", str(vault), str(delta), "--format",
                     "provara-delta-v1"]) == 0
    finally:
        mp.undo()
    key = IdentityStore(home).unlock(PASS)
    lines = (vault / LOG).read_bytes().splitlines()
    assert b'"red"' in lines[-1]
    return World(home, vault, bundle, delta, key, lines)


@dataclass
class Copy:
    """A user's fresh profile and vault, copied from the world."""

    home: Path
    vault: Path
    tmp: Path
    key: SigningKey
    lines: list[bytes]
    bundle: Path
    delta: Path


@pytest.fixture
def user(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Copy:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    monkeypatch.delenv("PROVARA_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(world.home / "identity.json", home / "identity.json")
    vault = tmp_path / "vault"
    shutil.copytree(world.vault, vault)
    return Copy(home, vault, tmp_path, world.key, list(world.lines), world.bundle, world.delta)


def with_value(line: bytes, value: bytes) -> bytes:
    """``line`` (an event recording "red") with ``value`` in its place."""
    assert line.count(b'"red"') == 1
    return line.replace(b'"red"', value)


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (dotfiles included) and its sha256."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The one line a refusal prints (warnings and notes may precede it), checked for the
    things a user must never see."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err  # the last-resort guard is not an answer
    assert err.endswith("\n"), err
    lines = [x for x in err.splitlines() if not x.startswith(("note:", "warning:"))]
    assert len(lines) == 1, err
    return lines[0]


def members_of(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def signed_bundle(path: Path, events: bytes, key: SigningKey, base: dict[str, bytes], *,
                  patch: dict[str, Any] | None = None,
                  extra: dict[str, bytes] | None = None) -> Path:
    """A bundle carrying ``events`` (and ``extra`` members), its manifest listing them and
    declaring their count, signed by ``key``: as its holder would build it, so that only the
    hostile content is wrong."""
    members = {**base, fmt.EVENTS: events, **(extra or {})}
    manifest = json.loads(members[fmt.MANIFEST])
    manifest["members"] = sorted(
        ({"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
         for n, d in members.items() if n not in (fmt.MANIFEST, fmt.SIGNATURE)),
        key=lambda m: m["path"])
    manifest["event_count"] = sum(1 for x in events.split(b"\n") if x.strip())
    manifest["exporter"] = {**manifest["exporter"], "key_id": key.key_id,
                            "public_key_b64": key.public.b64}
    manifest.update(patch or {})
    body = canonical_bytes(manifest)
    members[fmt.MANIFEST] = body
    members[fmt.SIGNATURE] = canonical_bytes({
        "format": fmt.SIG_FORMAT, "key_id": key.key_id, "public_key_b64": key.public.b64,
        "sig": b64encode(key.sign(fmt.SIG_DOMAIN + body))})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def delta_file(path: Path, lines: list[bytes], original: Path) -> Path:
    """A provara_delta_v1 file with the original's header (its count made to match)."""
    header = json.loads(original.read_bytes().split(b"\n", 1)[0])
    header["event_count"] = len(lines)
    path.write_bytes(b"\n".join([canonical_bytes(header), *lines]) + b"\n")
    return path

"""Fixtures for the bundle tests: three investigators (real identities, Argon2 at libsodium's
minimum cost so unlocking is instant), each with a profile directory and a vault, driven
through the real CLI in-process, plus helpers to hash a vault and to rebuild a bundle."""

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


@dataclass
class Person:
    name: str
    home: Path
    vault: Path
    key_id: str
    public_key_b64: str
    actor: str
    fingerprint: str

    def key(self) -> SigningKey:
        return IdentityStore(self.home).unlock(PASS)


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, who: Person, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--home", str(who.home), *argv])
        out, err = self.capsys.readouterr()
        if code != 0:
            assert err.endswith("\n"), err
            assert "Traceback" not in err
            # one human line saying what went wrong (notes may precede it)
            assert err.strip().splitlines()[-1].startswith(
                ("error:", "bundle not ok:", "verification failed:")), err
        return code, out, err

    def json(self, who: Person, *argv: str) -> Any:
        code, out, err = self(who, *argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture(scope="session")
def identity_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bundle-identities")
    out = {}
    for name in ("Alice", "Bob", "Carol"):
        IdentityStore(base / name, **FAST).create(name, PASS)
        out[name] = base / name / "identity.json"
    return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    monkeypatch.delenv("PROVARA_HOME", raising=False)
    return Cli(capsys)


def _person(name: str, tmp_path: Path, identity_files: dict[str, Path], cli: Cli) -> Person:
    home = tmp_path / f"{name.lower()}-home"
    home.mkdir()
    shutil.copyfile(identity_files[name], home / "identity.json")
    ident = IdentityStore(home).load()
    p = Person(name, home, tmp_path / f"{name.lower()}-vault", ident.key_id,
               ident.public_key_b64, ident.actor, ident.fingerprint)
    assert cli(p, "init", str(p.vault))[0] == 0
    return p


@pytest.fixture
def alice(tmp_path: Path, identity_files: dict[str, Path], cli: Cli) -> Person:
    return _person("Alice", tmp_path, identity_files, cli)


@pytest.fixture
def bob(tmp_path: Path, identity_files: dict[str, Path], cli: Cli) -> Person:
    return _person("Bob", tmp_path, identity_files, cli)


@pytest.fixture
def carol(tmp_path: Path, identity_files: dict[str, Path], cli: Cli) -> Person:
    return _person("Carol", tmp_path, identity_files, cli)


def trust(cli: Cli, who: Person, other: Person) -> None:
    code, _, err = cli(who, "trust", "add", other.key_id, "--public-key",
                       other.public_key_b64, "--name", other.name)
    assert code == 0, err


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the vault directory) with its sha256."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def event_ids(vault: Path) -> list[str]:
    return [json.loads(x)["event_id"]
            for x in (vault / "events/events.ndjson").read_text("utf-8").splitlines()]


def read_members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def write_bundle(path: Path, members: dict[str, bytes], *, signer: SigningKey | None = None,
                 manifest_patch: dict[str, Any] | None = None, relist: bool = True) -> Path:
    """Rebuild a bundle from members. With ``signer``: recompute the member list (unless
    ``relist`` is False), apply ``manifest_patch`` and sign bundle.json again, as an
    attacker holding that key would."""
    members = dict(members)
    if signer is not None:
        manifest = json.loads(members[fmt.MANIFEST])
        if relist:
            manifest["members"] = sorted(
                ({"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                 for n, d in members.items() if n not in (fmt.MANIFEST, fmt.SIGNATURE)),
                key=lambda m: m["path"])
            if "event_count" in manifest:  # as the signer would, for the events it sends
                manifest["event_count"] = sum(
                    1 for line in members.get(fmt.EVENTS, b"").split(b"\n") if line.strip())
            # as the attacker would: a declared count that differs is refused up front
            manifest["event_count"] = sum(1 for x in members[fmt.EVENTS].split(b"\n")
                                          if x.strip())
        manifest["exporter"] = {**manifest["exporter"], "key_id": signer.key_id,
                                "public_key_b64": signer.public.b64}
        manifest.update(manifest_patch or {})
        body = canonical_bytes(manifest)
        members[fmt.MANIFEST] = body
        members[fmt.SIGNATURE] = canonical_bytes({
            "format": fmt.SIG_FORMAT, "key_id": signer.key_id,
            "public_key_b64": signer.public.b64,
            "sig": b64encode(signer.sign(fmt.SIG_DOMAIN + body))})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path

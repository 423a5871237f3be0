"""Tests for the passphrase-sealed identity store (real PyNaCl crypto, no mocks)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import nacl.pwhash.argon2id
import pytest

from provara_desktop.core.errors import (
    IdentityError,
    InputError,
    StoreError,
    UsageError,
    WrongPassphraseError,
)
from provara_desktop.core.keys import PublicKey, SigningKey, b64encode, key_id_for
from provara_desktop.passphrase_input import read_passphrase
from provara_desktop.store.identity import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    Identity,
    IdentityStore,
    actor_label_for,
)
from provara_desktop.store.profile_paths import resolve_home
from tests.conftest import require_fixture, require_reference

# libsodium's minimum Argon2id cost keeps the suite fast; one test below uses the defaults.
FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}
PASS = "correct horse battery staple"

# a vault `provara init` wrote (tests/fixtures, made by scripts/gen_fixtures)
REFERENCE_VAULT = "reference_generated/vaultB"

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def make_store(home: Path) -> IdentityStore:
    return IdentityStore(home, **FAST)


@pytest.fixture
def store(tmp_path: Path) -> IdentityStore:
    return make_store(tmp_path / "home")


def write_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------
# create / load / unlock
# ------------------------------------------------------------------------------------------


def test_create_load_unlock_round_trip_and_signature(store: IdentityStore) -> None:
    assert not store.exists()
    created = store.create("Alex Doe", PASS)
    assert store.exists()
    assert store.path == store.home / "identity.json"

    loaded = store.load()
    assert loaded == created
    assert loaded.name == "Alex Doe"
    assert loaded.actor == "alex-doe-" + loaded.key_id[4:12]
    assert loaded.key_id == key_id_for(PublicKey.from_b64(loaded.public_key_b64).raw)
    assert loaded.fingerprint == PublicKey.from_b64(loaded.public_key_b64).fingerprint
    assert set(loaded.to_json()) == {
        "name",
        "actor",
        "key_id",
        "public_key_b64",
        "fingerprint",
        "created_at_utc",
        "recovery_key_id",
        "recovery_fingerprint",
        "recovery_confirmed",
        "person_actor",
        "device_name",
    }
    assert loaded.recovery_key_id is None  # create() makes none (tests/store/test_keys_life.py)

    key = store.unlock(PASS)
    assert key.key_id == loaded.key_id
    message = b"evidence item 42"
    signature = key.sign(message)
    assert PublicKey.from_b64(loaded.public_key_b64).verify(message, signature)
    assert not PublicKey.from_b64(loaded.public_key_b64).verify(b"tampered", signature)


def test_file_layout(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    assert doc["format"] == "provara-desktop-identity"
    assert doc["version"] == 1
    assert doc["kdf"]["alg"] == "argon2id13"
    assert doc["kdf"]["opslimit"] == FAST["opslimit"]
    assert doc["kdf"]["memlimit"] == FAST["memlimit"]
    assert doc["secretbox"]["alg"] == "xsalsa20poly1305"
    assert set(doc) == {
        "format",
        "version",
        "name",
        "actor",
        "key_id",
        "public_key_b64",
        "created_at_utc",
        "kdf",
        "secretbox",
    }
    assert set(doc["kdf"]) == {"alg", "opslimit", "memlimit", "salt_b64"}
    assert set(doc["secretbox"]) == {"alg", "nonce_b64", "ciphertext_b64"}


def test_default_argon2_parameters(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path / "home")  # interactive limits, as the app uses
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    assert doc["kdf"]["opslimit"] == DEFAULT_OPSLIMIT == nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
    assert doc["kdf"]["memlimit"] == DEFAULT_MEMLIMIT == nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    assert store.unlock(PASS).key_id == store.load().key_id


def test_unlock_uses_parameters_stored_in_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_store(home).create("Alex", PASS)
    # A store configured with other limits must still open the file with its own limits.
    other = IdentityStore(home)
    assert other.unlock(PASS).key_id == other.load().key_id


def test_wrong_passphrase_leaves_file_unchanged(store: IdentityStore) -> None:
    identity = store.create("Alex", PASS)
    before = store.path.read_bytes()
    with pytest.raises(WrongPassphraseError) as excinfo:
        store.unlock("not the passphrase")
    assert identity.actor in str(excinfo.value)
    assert str(store.path) in str(excinfo.value)
    assert isinstance(excinfo.value, IdentityError)
    assert store.path.read_bytes() == before


def test_unicode_passphrase_normalised(store: IdentityStore) -> None:
    store.create("José", "caf\u00e9")  # composed é
    assert store.unlock("cafe\u0301").key_id == store.load().key_id  # decomposed é


def test_no_seed_in_clear_and_private_mode(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    seed = store.unlock(PASS).seed
    raw = store.path.read_bytes()
    assert seed not in raw
    assert b64encode(seed).encode("ascii") not in raw
    assert b64encode(seed).rstrip("=").encode("ascii") not in raw
    assert seed.hex().encode("ascii") not in raw
    assert PASS.encode() not in raw
    # no stray temporary files left next to it
    assert sorted(p.name for p in store.home.iterdir()) == ["identity.json", "profile.lock"]
    if sys.platform != "win32":
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.home.stat().st_mode) == 0o700


def test_same_name_gives_different_actor_labels(tmp_path: Path) -> None:
    first = make_store(tmp_path / "a").create("Alex", PASS)
    second = make_store(tmp_path / "b").create("Alex", PASS)
    assert first.name == second.name
    assert first.key_id != second.key_id
    assert first.actor != second.actor
    assert first.actor.startswith("alex-")
    assert second.actor.startswith("alex-")


def test_create_refuses_existing_identity(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    before = store.path.read_bytes()
    with pytest.raises(IdentityError, match="already exists") as excinfo:
        store.create("Someone Else", PASS)
    assert str(store.path) in str(excinfo.value)
    assert store.path.read_bytes() == before


@pytest.mark.parametrize(("name", "passphrase"), [("", PASS), ("   ", PASS), ("Alex", "")])
def test_create_refuses_empty_name_or_passphrase(
    store: IdentityStore, name: str, passphrase: str
) -> None:
    with pytest.raises(UsageError):
        store.create(name, passphrase)
    assert not store.exists()


def test_constructor_rejects_bad_kdf_params(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memlimit"):
        IdentityStore(tmp_path, opslimit=FAST["opslimit"], memlimit=1)


# ------------------------------------------------------------------------------------------
# load errors
# ------------------------------------------------------------------------------------------


def test_load_missing_identity(store: IdentityStore) -> None:
    with pytest.raises(IdentityError) as excinfo:
        store.load()
    message = str(excinfo.value)
    assert str(store.home) in message
    assert "provara-desktop identity create --name NAME" in message
    with pytest.raises(IdentityError):
        store.unlock(PASS)


def test_load_corrupt_json(store: IdentityStore) -> None:
    store.home.mkdir(parents=True)
    store.path.write_text('{"format": "provara-desktop-identity", ', encoding="utf-8")
    with pytest.raises(IdentityError, match="corrupt") as excinfo:
        store.load()
    assert str(store.path) in str(excinfo.value)


def test_load_newer_version(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    doc["version"] = 2
    write_json(store.path, doc)
    with pytest.raises(IdentityError, match="version 2") as excinfo:
        store.load()
    assert str(store.path) in str(excinfo.value)


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("format", "something-else", "unknown format"),
        ("version", "1", "bad version"),
        ("public_key_b64", "not base64!", "public_key_b64"),
        ("name", 7, "name"),
    ],
)
def test_load_invalid_fields(store: IdentityStore, field: str, value: object, expect: str) -> None:
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    doc[field] = value
    write_json(store.path, doc)
    with pytest.raises(IdentityError, match=expect) as excinfo:
        store.load()
    assert str(store.path) in str(excinfo.value)


def test_load_rejects_hostile_kdf_memlimit(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    doc["kdf"]["memlimit"] = 1 << 42
    write_json(store.path, doc)
    with pytest.raises(IdentityError, match="memlimit"):
        store.unlock(PASS)


def test_load_key_id_mismatch(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    doc["key_id"] = "bp1_0000000000000000"
    write_json(store.path, doc)
    with pytest.raises(IdentityError, match="does not match"):
        store.load()


def test_unlock_detects_swapped_public_key(store: IdentityStore) -> None:
    store.create("Alex", PASS)
    doc = json.loads(store.path.read_text(encoding="utf-8"))
    other = SigningKey.generate().public
    doc["public_key_b64"] = other.b64
    doc["key_id"] = other.key_id
    doc["actor"] = actor_label_for("Alex", other.key_id)
    write_json(store.path, doc)
    assert store.load().key_id == other.key_id  # public facts are self-consistent...
    with pytest.raises(IdentityError, match="does not belong") as excinfo:
        store.unlock(PASS)  # ...but the sealed key is someone else's
    assert not isinstance(excinfo.value, WrongPassphraseError)


# ------------------------------------------------------------------------------------------
# actor labels
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Alex Doe", "alex-doe"),
        ("  J. R. R.  Tolkien ", "j.-r.-r.-tolkien"),
        ("under_score", "under_score"),
        ("José Ñúñez", "jos-ez"),
        ("!!!", "investigator"),
        ("", "investigator"),
    ],
)
def test_actor_label_for(name: str, slug: str) -> None:
    assert actor_label_for(name, "bp1_0123456789abcdef") == f"{slug}-01234567"


def test_actor_label_rejects_non_key_id() -> None:
    with pytest.raises(ValueError, match="key id"):
        actor_label_for("Alex", "nope")


def test_identity_to_json_exact_keys() -> None:
    ident = Identity("n", "a", "k", "p", "f", "c")
    assert ident.to_json() == {
        "name": "n",
        "actor": "a",
        "key_id": "k",
        "public_key_b64": "p",
        "fingerprint": "f",
        "created_at_utc": "c",
        "recovery_key_id": None,
        "recovery_fingerprint": None,
        "recovery_confirmed": False,
        "person_actor": None,
        "device_name": None,
    }


# ------------------------------------------------------------------------------------------
# reference export / import
# ------------------------------------------------------------------------------------------


def test_export_then_import_into_another_home(tmp_path: Path) -> None:
    source = make_store(tmp_path / "a")
    created = source.create("Alex", PASS)
    exported = source.export_reference(tmp_path / "private_keys.json", PASS)
    assert exported == tmp_path / "private_keys.json"

    text = exported.read_text(encoding="utf-8")
    assert not text.endswith("\n")
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2)
    (entry,) = doc["keys"]
    assert entry["key_id"] == created.key_id
    assert entry["algorithm"] == "Ed25519"
    assert list(entry) == ["key_id", "private_key_b64", "algorithm"]
    if sys.platform != "win32":
        assert stat.S_IMODE(exported.stat().st_mode) == 0o600

    target = make_store(tmp_path / "b")
    imported = target.import_reference(exported, "another passphrase", "Alex")
    assert imported.key_id == created.key_id
    assert imported.public_key_b64 == created.public_key_b64
    assert target.unlock("another passphrase").seed == source.unlock(PASS).seed


def test_export_refuses_to_overwrite(store: IdentityStore, tmp_path: Path) -> None:
    store.create("Alex", PASS)
    out = tmp_path / "keys.json"
    out.write_text("precious", encoding="utf-8")
    with pytest.raises(StoreError, match="already exists"):
        store.export_reference(out, PASS)
    assert out.read_text(encoding="utf-8") == "precious"


def test_export_wrong_passphrase_writes_nothing(store: IdentityStore, tmp_path: Path) -> None:
    store.create("Alex", PASS)
    out = tmp_path / "keys.json"
    with pytest.raises(WrongPassphraseError):
        store.export_reference(out, "wrong")
    assert not out.exists()


def _key() -> tuple[str, str]:
    key = SigningKey.generate()
    return key.key_id, b64encode(key.seed)


def test_import_shape_a_keys_list(tmp_path: Path) -> None:
    kid, priv = _key()
    kid2, priv2 = _key()
    path = write_json(
        tmp_path / "pk.json",
        {
            "keys": [
                {"key_id": kid, "private_key_b64": priv, "algorithm": "Ed25519"},
                {"key_id": kid2, "private_key_b64": priv2, "algorithm": "Ed25519"},
            ]
        },
    )
    assert make_store(tmp_path / "h1").import_reference(path, PASS, "A").key_id == kid
    picked = make_store(tmp_path / "h2").import_reference(path, PASS, "A", key_id=kid2)
    assert picked.key_id == kid2


def test_import_shape_b_flat_map_with_warning(tmp_path: Path) -> None:
    kid, priv = _key()
    kid2, priv2 = _key()
    path = write_json(
        tmp_path / "pk.json",
        {"WARNING": "PRIVATE KEYS — DO NOT STORE IN THE BACKPACK", kid: priv, kid2: priv2},
    )
    store = make_store(tmp_path / "h1")
    imported = store.import_reference(path, PASS, "Flat")
    assert imported.key_id == kid
    assert store.unlock(PASS).key_id == kid
    assert make_store(tmp_path / "h2").import_reference(path, PASS, "F", kid2).key_id == kid2


def test_import_shape_c_root_and_quorum(tmp_path: Path) -> None:
    root_kid, root_priv = _key()
    q_kid, q_priv = _key()
    # quorum written first on purpose: root must still be the default choice
    path = write_json(
        tmp_path / "pk.json",
        {
            "WARNING": "PRIVATE KEYS — DO NOT STORE IN THE BACKPACK",
            "quorum": {"key_id": q_kid, "private_key_b64": q_priv},
            "root": {"key_id": root_kid, "private_key_b64": root_priv},
        },
    )
    assert make_store(tmp_path / "h1").import_reference(path, PASS, "R").key_id == root_kid
    assert make_store(tmp_path / "h2").import_reference(path, PASS, "Q", q_kid).key_id == q_kid


def test_import_unknown_key_id_lists_available(tmp_path: Path) -> None:
    kid, priv = _key()
    path = write_json(tmp_path / "pk.json", {kid: priv})
    store = make_store(tmp_path / "h")
    with pytest.raises(UsageError) as excinfo:
        store.import_reference(path, PASS, "A", key_id="bp1_ffffffffffffffff")
    assert kid in str(excinfo.value)
    assert not store.exists()


def test_import_key_id_mismatch(tmp_path: Path) -> None:
    _, priv = _key()
    other_kid, _ = _key()
    path = write_json(
        tmp_path / "pk.json",
        {"keys": [{"key_id": other_kid, "private_key_b64": priv, "algorithm": "Ed25519"}]},
    )
    store = make_store(tmp_path / "h")
    with pytest.raises(InputError) as excinfo:
        store.import_reference(path, PASS, "A")
    assert str(path) in str(excinfo.value)
    assert other_kid in str(excinfo.value)
    assert not store.exists()


@pytest.mark.parametrize(
    ("entry", "expect"),
    [
        ({"private_key_b64": b64encode(b"\x01" * 31)}, "expected 32 bytes"),
        ({"private_key_b64": "%%%"}, "base64"),
        ({"algorithm": "secp256k1"}, "not Ed25519"),
    ],
)
def test_import_invalid_key(tmp_path: Path, entry: dict[str, str], expect: str) -> None:
    kid, priv = _key()
    path = write_json(
        tmp_path / "pk.json",
        {"keys": [{"key_id": kid, "private_key_b64": priv, "algorithm": "Ed25519", **entry}]},
    )
    with pytest.raises(InputError, match=expect) as excinfo:
        make_store(tmp_path / "h").import_reference(path, PASS, "A")
    assert str(path) in str(excinfo.value)
    assert kid in str(excinfo.value)


def test_import_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "pk.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        make_store(tmp_path / "h").import_reference(path, PASS, "A")
    assert str(path) in str(excinfo.value)


def test_import_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="missing.json"):
        make_store(tmp_path / "h").import_reference(tmp_path / "missing.json", PASS, "A")


def test_import_refuses_existing_identity(store: IdentityStore, tmp_path: Path) -> None:
    store.create("Alex", PASS)
    kid, priv = _key()
    path = write_json(tmp_path / "pk.json", {kid: priv})
    with pytest.raises(IdentityError, match="already exists"):
        store.import_reference(path, PASS, "B")
    assert store.load().name == "Alex"


def test_import_real_reference_private_keys(tmp_path: Path) -> None:
    private_keys = require_fixture(f"{REFERENCE_VAULT}/identity/private_keys.json")
    store = make_store(tmp_path / "h")
    imported = store.import_reference(private_keys, PASS, "Reference Root")
    public_keys = json.loads(
        require_fixture(f"{REFERENCE_VAULT}/identity/keys.json").read_text("utf-8"))
    by_id = {k["key_id"]: k for k in public_keys["keys"]}
    assert imported.key_id in by_id
    assert imported.public_key_b64 == by_id[imported.key_id]["public_key_b64"]
    assert store.unlock(PASS).key_id == imported.key_id


@pytest.mark.interop
def test_exported_key_loads_in_reference(store: IdentityStore, tmp_path: Path) -> None:
    signing = require_reference("provara.backpack_signing")
    store.create("Alex", PASS)
    out = store.export_reference(tmp_path / "private_keys.json", PASS)
    (entry,) = json.loads(out.read_text(encoding="utf-8"))["keys"]
    ref_key = signing.load_private_key_b64(entry["private_key_b64"])
    message = b"signed by the reference"
    signature = ref_key.sign(message)
    assert PublicKey.from_b64(store.load().public_key_b64).verify(message, signature)


# ------------------------------------------------------------------------------------------
# passphrase input
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"secret\n", "secret"),
        (b"secret\r\n", "secret"),
        (b"secret", "secret"),
        (b"secret \n\n", "secret \n"),
        ("pässwört\n".encode(), "pässwört"),
    ],
)
def test_read_passphrase_from_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "pass.txt"
    path.write_bytes(content)
    # the file wins over the environment
    got = read_passphrase(str(path), env={"PROVARA_PASSPHRASE": "from-env"}, prompt=False)
    assert got == expected


def test_read_passphrase_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(StoreError, match="nope.txt"):
        read_passphrase(str(missing), env={}, prompt=False)


def test_read_passphrase_from_env() -> None:
    assert read_passphrase(None, env={"PROVARA_PASSPHRASE": "hunter2"}, prompt=False) == "hunter2"


def test_read_passphrase_from_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVARA_PASSPHRASE", "from-os-environ")
    assert read_passphrase(None, prompt=False) == "from-os-environ"


def test_read_passphrase_none_available() -> None:
    with pytest.raises(IdentityError) as excinfo:
        read_passphrase(None, env={}, prompt=False)
    assert "--passphrase-file FILE" in str(excinfo.value)
    assert "PROVARA_PASSPHRASE" in str(excinfo.value)


def test_read_passphrase_no_tty_does_not_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(IdentityError, match="a passphrase is needed"):
        read_passphrase(None, env={}, prompt=True)


# ------------------------------------------------------------------------------------------
# profile directory
# ------------------------------------------------------------------------------------------


def test_resolve_home_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PROVARA_HOME", str(tmp_path / "env-home"))

    assert resolve_home(tmp_path / "arg-home") == tmp_path / "arg-home"
    assert resolve_home(str(tmp_path / "arg-home")) == tmp_path / "arg-home"
    assert resolve_home() == tmp_path / "env-home"

    monkeypatch.delenv("PROVARA_HOME")
    if sys.platform.startswith("linux"):
        assert resolve_home() == tmp_path / "xdg" / "provara-desktop"


def test_resolve_home_platform_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "user"))
    user = Path.home()
    linux_env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert resolve_home(env=linux_env, platform="linux") == tmp_path / "xdg" / "provara-desktop"
    assert resolve_home(env={}, platform="linux") == user / ".local" / "share" / "provara-desktop"
    # a relative XDG_DATA_HOME is invalid per the XDG spec and ignored
    assert (
        resolve_home(env={"XDG_DATA_HOME": "rel"}, platform="linux")
        == user / ".local" / "share" / "provara-desktop"
    )
    assert (
        resolve_home(env={}, platform="darwin")
        == user / "Library" / "Application Support" / "provara-desktop"
    )
    appdata = tmp_path / "AppData" / "Roaming"
    assert (
        resolve_home(env={"APPDATA": str(appdata)}, platform="win32") == appdata / "provara-desktop"
    )
    # PROVARA_HOME beats the platform default; the argument beats both
    env = {"PROVARA_HOME": str(tmp_path / "p"), **linux_env}
    assert resolve_home(env=env, platform="linux") == tmp_path / "p"
    assert resolve_home(tmp_path / "a", env=env, platform="linux") == tmp_path / "a"


def test_resolve_home_is_absolute_and_not_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    result = resolve_home("relative/profile")
    assert result.is_absolute()
    assert result == tmp_path / "relative" / "profile"
    assert not result.exists()


def test_store_uses_provara_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROVARA_HOME", str(tmp_path / "env-home"))
    store = IdentityStore(**FAST)
    assert store.path == tmp_path / "env-home" / "identity.json"
    store.create("Alex", PASS)
    assert (tmp_path / "env-home" / "identity.json").is_file()


@posix_only
def test_existing_home_permissions_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o750)
    make_store(home).create("Alex", PASS)
    assert stat.S_IMODE(home.stat().st_mode) == 0o750

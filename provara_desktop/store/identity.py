"""The investigator's identity: one Ed25519 key per profile directory, sealed by a passphrase.

Layout: ``<home>/identity.json`` holds the public facts in clear (so the app can show who you
are and verify your events without asking for anything) and the 32-byte Ed25519 seed sealed
with ``nacl.secret.SecretBox`` (XSalsa20-Poly1305) under a key stretched from the passphrase by
Argon2id. The seed is never written in clear and never logged; the only way out is the explicit
:meth:`IdentityStore.export_reference`, which exists so a key can be carried to the reference
implementation (``provara`` CLI) and back.

Nothing here imports Qt: the CLI, the GUI and the tests all use the same store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.exceptions
import nacl.pwhash.argon2id
import nacl.secret
import nacl.utils

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import (
    IdentityError,
    InputError,
    StoreError,
    UsageError,
    WrongPassphraseError,
)
from provara_desktop.core.keys import (
    PUBLIC_KEY_BYTES,
    SEED_BYTES,
    SigningKey,
    b64decode_strict,
    b64encode,
    fingerprint_for,
    key_id_for,
)
from provara_desktop.store.profile_files import create_file, profile_lock

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MEMLIMIT",
    "DEFAULT_OPSLIMIT",
    "IDENTITY_FILE",
    "IDENTITY_FORMAT",
    "IDENTITY_VERSION",
    "Identity",
    "IdentityStore",
    "actor_label_for",
    "read_passphrase",
    "resolve_home",
]

APP_DIR_NAME = "provara-desktop"
IDENTITY_FILE = "identity.json"
IDENTITY_FORMAT = "provara-desktop-identity"
IDENTITY_VERSION = 1

KDF_ALG = "argon2id13"
BOX_ALG = "xsalsa20poly1305"

# Interactive limits (2 passes, 64 MiB) unlock in well under a second on a laptop. They are
# stored in the file, so a later version can raise them and still open older identities.
DEFAULT_OPSLIMIT: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
DEFAULT_MEMLIMIT: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE

_OPSLIMIT_MIN: int = nacl.pwhash.argon2id.OPSLIMIT_MIN
_OPSLIMIT_MAX: int = nacl.pwhash.argon2id.OPSLIMIT_MAX
_MEMLIMIT_MIN: int = nacl.pwhash.argon2id.MEMLIMIT_MIN
# libsodium accepts up to 4 TiB; a damaged or hostile file must not make unlock try to allocate
# that. 4 GiB is four times the "sensitive" preset, far beyond any sane setting.
_MEMLIMIT_MAX: int = min(nacl.pwhash.argon2id.MEMLIMIT_MAX, 4 << 30)
_SALT_BYTES: int = nacl.pwhash.argon2id.SALTBYTES
_BOX_KEY_BYTES: int = nacl.secret.SecretBox.KEY_SIZE
_NONCE_BYTES: int = nacl.secret.SecretBox.NONCE_SIZE
_MAC_BYTES: int = nacl.secret.SecretBox.MACBYTES

# An identity file is a few hundred bytes; anything much bigger is not ours.
_MAX_IDENTITY_BYTES = 64 * 1024
# The reference's private key files hold one or two keys.
_MAX_REFERENCE_KEYS_BYTES = 1 << 20

PASSPHRASE_ENV = "PROVARA_PASSPHRASE"
HOME_ENV = "PROVARA_HOME"

_SLUG_DROP = re.compile(r"[^a-z0-9._]+")
_KEY_ID_RE = re.compile(r"^bp1_[0-9a-f]{16}$")


# --------------------------------------------------------------------------------------------
# Profile directory
# --------------------------------------------------------------------------------------------


def resolve_home(
    home: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> Path:
    """The user profile directory, as an absolute path (not created here).

    Precedence: ``home`` (the CLI's ``--home``), then ``$PROVARA_HOME``, then the platform's
    per-user application data directory. ``env`` and ``platform`` default to ``os.environ``
    and ``sys.platform``; they are parameters so the rules can be exercised for every OS.
    """
    environ = os.environ if env is None else env
    plat = sys.platform if platform is None else platform
    if home is not None and os.fspath(home) != "":
        chosen = Path(os.fspath(home))
    elif environ.get(HOME_ENV):
        chosen = Path(environ[HOME_ENV])
    else:
        chosen = _platform_data_dir(environ, plat) / APP_DIR_NAME
    # expanduser: a value put in a config file or env var by hand may start with "~", which no
    # shell expanded. absolute (not resolve): keep the user's symlinks as they wrote them.
    return chosen.expanduser().absolute()


def _platform_data_dir(environ: Mapping[str, str], plat: str) -> Path:
    if plat == "win32":
        appdata = environ.get("APPDATA")
        if appdata:
            return Path(appdata)
        return Path.home() / "AppData" / "Roaming"
    if plat == "darwin":
        return Path.home() / "Library" / "Application Support"
    # Linux and other Unixes: XDG base directories. The spec says a relative XDG_DATA_HOME is
    # invalid and must be ignored, which also keeps the result independent of the cwd.
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".local" / "share"


# --------------------------------------------------------------------------------------------
# Public facts
# --------------------------------------------------------------------------------------------


def actor_label_for(name: str, key_id: str) -> str:
    """A readable, unique actor label: ``<slug of name>-<8 hex digits of the key id>``.

    The name alone is not unique (two investigators may both be "Alex"); the key id suffix
    makes two identities' labels differ while staying short enough to read in a timeline.
    """
    if not _KEY_ID_RE.match(key_id):
        raise ValueError(f"not a protocol key id: {key_id!r}")
    slug = _SLUG_DROP.sub("-", name.lower()).strip("-") or "investigator"
    return f"{slug}-{key_id[4:12]}"


@dataclass(frozen=True)
class Identity:
    """What anyone may know about an identity: no secret material lives here."""

    name: str
    actor: str
    key_id: str
    public_key_b64: str
    fingerprint: str
    created_at_utc: str

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "actor": self.actor,
            "key_id": self.key_id,
            "public_key_b64": self.public_key_b64,
            "fingerprint": self.fingerprint,
            "created_at_utc": self.created_at_utc,
        }


@dataclass(frozen=True)
class _Sealed:
    """A parsed identity file: the public facts plus what is needed to open the seed."""

    identity: Identity
    public_key: bytes
    opslimit: int
    memlimit: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class IdentityStore:
    """The single identity of one profile directory.

    ``opslimit``/``memlimit`` only apply to identities this store creates or imports; unlocking
    always uses the parameters recorded in the file. Tests pass libsodium's minimums to stay
    fast; the app keeps the defaults.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        opslimit: int = DEFAULT_OPSLIMIT,
        memlimit: int = DEFAULT_MEMLIMIT,
    ) -> None:
        _check_kdf_params(opslimit, memlimit, where="IdentityStore", error=ValueError)
        self._home = resolve_home(home)
        self._path = self._home / IDENTITY_FILE
        self._opslimit = opslimit
        self._memlimit = memlimit

    @property
    def home(self) -> Path:
        return self._home

    @property
    def path(self) -> Path:
        return self._path

    def exists(self) -> bool:
        # lexists: a dangling symlink or a directory in the way still means "do not create".
        return os.path.lexists(self._path)

    # -- creating ---------------------------------------------------------------------------

    def create(self, name: str, passphrase: str) -> Identity:
        """Generate a new Ed25519 key and seal it under ``passphrase``."""
        name = _check_name(name)
        _check_new_passphrase(passphrase)
        self._refuse_if_exists()
        identity = self._seal_and_write(SigningKey.generate(), name, passphrase)
        logger.info("created identity %s (%s) in %s", identity.actor, identity.key_id, self._home)
        return identity

    def import_reference(
        self,
        path: str | os.PathLike[str],
        passphrase: str,
        name: str,
        key_id: str | None = None,
    ) -> Identity:
        """Adopt a private key written by the reference implementation.

        Accepts the three shapes the reference writes (``provara init``'s ``{"keys": [...]}``,
        the legacy flat ``{key_id: b64}`` map and the bootstrap's ``{"root": {...}}``).
        """
        name = _check_name(name)
        _check_new_passphrase(passphrase)
        self._refuse_if_exists()
        source = Path(os.fspath(path))
        where = str(source)
        entries = _reference_entries(_read_reference_file(source), where)
        if not entries:
            raise InputError("no private key found in the file", where=where)
        if key_id is None:
            chosen = entries[0]
        else:
            found = [e for e in entries if e.key_id == key_id]
            if not found:
                listed = ", ".join(e.key_id for e in entries)
                raise UsageError(f"{where} has no key {key_id} (it holds: {listed})")
            chosen = found[0]
        key = chosen.signing_key(where)
        identity = self._seal_and_write(key, name, passphrase)
        logger.info(
            "imported identity %s (%s) from %s into %s",
            identity.actor,
            identity.key_id,
            source,
            self._home,
        )
        return identity

    # -- reading ----------------------------------------------------------------------------

    def load(self) -> Identity:
        """The public facts; no passphrase needed."""
        return self._read().identity

    def unlock(self, passphrase: str) -> SigningKey:
        """Open the sealed seed. Raises :class:`WrongPassphraseError` when it does not open."""
        sealed = self._read()
        box_key = _derive_box_key(passphrase, sealed.salt, sealed.opslimit, sealed.memlimit)
        try:
            seed = bytes(nacl.secret.SecretBox(box_key).decrypt(sealed.ciphertext, sealed.nonce))
        except nacl.exceptions.CryptoError:
            # Poly1305 cannot tell a wrong passphrase from a damaged ciphertext; the wrong
            # passphrase is by far the likelier, so that is what we say.
            raise WrongPassphraseError(
                f"wrong passphrase for identity {sealed.identity.actor} ({self._path})"
            ) from None
        if len(seed) != SEED_BYTES:
            raise IdentityError(
                f"identity file {self._path} is not valid: the sealed key has the wrong size"
            )
        key = SigningKey(seed)
        # The box authenticates the seed but not the clear public key next to it; an edited
        # public key would otherwise make us sign as someone the file claims we are not.
        if key.public.raw != sealed.public_key:
            raise IdentityError(
                f"identity file {self._path} is inconsistent: the sealed private key does not "
                f"belong to public key {sealed.identity.key_id}"
            )
        logger.debug("unlocked identity %s", sealed.identity.actor)
        return key

    def export_reference(self, path: str | os.PathLike[str], passphrase: str) -> Path:
        """Write the key in the reference's ``private_keys.json`` format (seed in clear!).

        The output is byte-identical to what ``provara init`` writes (indent 2, no trailing
        newline), mode 0600, and never replaces an existing file.
        """
        target = Path(os.fspath(path)).absolute()
        # Checked before the (deliberately slow) key derivation; the write re-checks atomically.
        if os.path.lexists(target):
            raise StoreError(f"{target} already exists: refusing to overwrite it")
        key = self.unlock(passphrase)
        document = {
            "keys": [
                {
                    "key_id": key.key_id,
                    "private_key_b64": b64encode(key.seed),
                    "algorithm": "Ed25519",
                }
            ]
        }
        data = json.dumps(document, indent=2).encode("utf-8")
        try:
            _write_new_file(target, data)
        except FileExistsError:
            raise StoreError(f"{target} already exists: refusing to overwrite it") from None
        except OSError as exc:
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
        logger.warning("exported the private key of %s in clear to %s", key.key_id, target)
        return target

    # -- internals --------------------------------------------------------------------------

    def _refuse_if_exists(self) -> None:
        if self.exists():
            raise IdentityError(
                f"an identity already exists in {self._path}: this profile holds one identity; "
                "use another --home for a second one"
            )

    def _seal_and_write(self, key: SigningKey, name: str, passphrase: str) -> Identity:
        public = key.public
        identity = Identity(
            name=name,
            actor=actor_label_for(name, public.key_id),
            key_id=public.key_id,
            public_key_b64=public.b64,
            fingerprint=public.fingerprint,
            created_at_utc=datetime.now(UTC).isoformat(),
        )
        salt = nacl.utils.random(_SALT_BYTES)
        nonce = nacl.utils.random(_NONCE_BYTES)
        box_key = _derive_box_key(passphrase, salt, self._opslimit, self._memlimit)
        ciphertext = bytes(nacl.secret.SecretBox(box_key).encrypt(key.seed, nonce).ciphertext)
        record: dict[str, Any] = {
            "format": IDENTITY_FORMAT,
            "version": IDENTITY_VERSION,
            "name": identity.name,
            "actor": identity.actor,
            "key_id": identity.key_id,
            "public_key_b64": identity.public_key_b64,
            "created_at_utc": identity.created_at_utc,
            "kdf": {
                "alg": KDF_ALG,
                "opslimit": self._opslimit,
                "memlimit": self._memlimit,
                "salt_b64": b64encode(salt),
            },
            "secretbox": {
                "alg": BOX_ALG,
                "nonce_b64": b64encode(nonce),
                "ciphertext_b64": b64encode(ciphertext),
            },
        }
        data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            _make_private_dir(self._home)
            # Under the profile lock: the app and a headless peer share this profile.
            with profile_lock(self._home):
                _write_new_file(self._path, data)
        except FileExistsError:
            # Another process created one between our check and the write: theirs wins, ours
            # is discarded before anything could use it.
            raise IdentityError(
                f"an identity already exists in {self._path}: this profile holds one identity"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot write {self._path}: {exc.strerror or exc}") from None
        return identity

    def _read(self) -> _Sealed:
        path = self._path
        try:
            with path.open("rb") as fh:
                data = fh.read(_MAX_IDENTITY_BYTES + 1)
        except FileNotFoundError:
            raise IdentityError(
                f"no identity in {self._home}: run `provara-desktop identity create --name NAME`"
            ) from None
        except OSError as exc:
            raise IdentityError(
                f"cannot read identity file {path}: {exc.strerror or exc}"
            ) from None
        try:
            doc = strict_loads(data, where=str(path), max_bytes=_MAX_IDENTITY_BYTES)
        except InputError as exc:
            raise IdentityError(f"identity file is corrupt: {exc}") from None
        return _parse_identity(doc, path)


# --------------------------------------------------------------------------------------------
# Parsing the identity file
# --------------------------------------------------------------------------------------------


def _parse_identity(doc: Any, path: Path) -> _Sealed:
    def bad(what: str) -> IdentityError:
        return IdentityError(f"identity file {path} is not valid: {what}")

    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    if doc.get("format") != IDENTITY_FORMAT:
        raise bad(f"unknown format {doc.get('format')!r} (expected {IDENTITY_FORMAT!r})")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad(f"bad version {version!r}")
    if version > IDENTITY_VERSION:
        raise IdentityError(
            f"identity file {path} has version {version}, newer than this program understands "
            f"({IDENTITY_VERSION}): upgrade provara-desktop"
        )

    def text(obj: Mapping[str, Any], field: str, where: str = "") -> str:
        value = obj.get(field)
        if not isinstance(value, str) or not value:
            raise bad(f"{where}{field} is missing or not a non-empty string")
        return value

    def b64(obj: Mapping[str, Any], field: str, size: int, where: str) -> bytes:
        try:
            return b64decode_strict(text(obj, field, where), expected_len=size)
        except ValueError as exc:
            raise bad(f"{where}{field}: {exc}") from None

    def section(field: str) -> Mapping[str, Any]:
        value = doc.get(field)
        if not isinstance(value, dict):
            raise bad(f"{field} is missing or not an object")
        return value

    name = text(doc, "name")
    actor = text(doc, "actor")
    key_id = text(doc, "key_id")
    created = text(doc, "created_at_utc")
    public_key = b64(doc, "public_key_b64", PUBLIC_KEY_BYTES, "")
    if key_id != key_id_for(public_key):
        raise bad(
            f"key_id {key_id} does not match the public key (its id is {key_id_for(public_key)})"
        )
    # The key id suffix is what makes actor labels unique; an actor edited to drop it could
    # collide with someone else's.
    if not actor.endswith("-" + key_id[4:12]):
        raise bad(f"actor {actor!r} does not end with its key id digits {key_id[4:12]!r}")

    kdf = section("kdf")
    if kdf.get("alg") != KDF_ALG:
        raise bad(f"kdf.alg {kdf.get('alg')!r} is not supported (expected {KDF_ALG!r})")
    opslimit, memlimit = _check_kdf_params(
        kdf.get("opslimit"), kdf.get("memlimit"), where=f"identity file {path}", error=IdentityError
    )
    salt = b64(kdf, "salt_b64", _SALT_BYTES, "kdf.")

    box = section("secretbox")
    if box.get("alg") != BOX_ALG:
        raise bad(f"secretbox.alg {box.get('alg')!r} is not supported (expected {BOX_ALG!r})")
    nonce = b64(box, "nonce_b64", _NONCE_BYTES, "secretbox.")
    ciphertext = b64(box, "ciphertext_b64", SEED_BYTES + _MAC_BYTES, "secretbox.")

    identity = Identity(
        name=name,
        actor=actor,
        key_id=key_id,
        public_key_b64=b64encode(public_key),
        fingerprint=fingerprint_for(public_key),
        created_at_utc=created,
    )
    return _Sealed(identity, public_key, opslimit, memlimit, salt, nonce, ciphertext)


def _check_kdf_params(
    opslimit: object, memlimit: object, *, where: str, error: type[Exception]
) -> tuple[int, int]:
    """The Argon2id limits as ints, or ``error`` when they are not ints libsodium accepts."""
    checked: list[int] = []
    for label, value, low, high in (
        ("opslimit", opslimit, _OPSLIMIT_MIN, _OPSLIMIT_MAX),
        ("memlimit", memlimit, _MEMLIMIT_MIN, _MEMLIMIT_MAX),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise error(f"{where}: argon2id {label} {value!r} is outside [{low}, {high}]")
        checked.append(value)
    return checked[0], checked[1]


# --------------------------------------------------------------------------------------------
# Crypto helpers
# --------------------------------------------------------------------------------------------


def _passphrase_bytes(passphrase: str) -> bytes:
    # NFC: the same passphrase typed on macOS (which may hand us decomposed accents) and on
    # Windows/Linux must give the same bytes, or the identity would not travel between them.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive_box_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(
            _BOX_KEY_BYTES,
            _passphrase_bytes(passphrase),
            salt,
            opslimit=opslimit,
            memlimit=memlimit,
        )
    )


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise UsageError("an identity needs a name: use --name NAME")
    return cleaned


def _check_new_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise UsageError("the passphrase must not be empty")


# --------------------------------------------------------------------------------------------
# Reference private key files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RefEntry:
    key_id: str
    private_key_b64: object
    algorithm: object  # None when the shape carries no algorithm field

    def signing_key(self, where: str) -> SigningKey:
        label = f"key {self.key_id}"
        if self.algorithm is not None and self.algorithm != "Ed25519":
            raise InputError(f"{label}: algorithm {self.algorithm!r} is not Ed25519", where=where)
        if not isinstance(self.private_key_b64, str):
            raise InputError(f"{label}: private_key_b64 is not a string", where=where)
        try:
            seed = b64decode_strict(self.private_key_b64, expected_len=SEED_BYTES)
        except ValueError as exc:
            raise InputError(f"{label}: private key {exc}", where=where) from None
        key = SigningKey(seed)
        if key.key_id != self.key_id:
            raise InputError(
                f"{label}: the private key belongs to {key.key_id}, not to {self.key_id}",
                where=where,
            )
        return key


def _read_reference_file(source: Path) -> Any:
    try:
        with source.open("rb") as fh:
            data = fh.read(_MAX_REFERENCE_KEYS_BYTES + 1)
    except OSError as exc:
        raise StoreError(f"cannot read {source}: {exc.strerror or exc}") from None
    return strict_loads(data, where=str(source), max_bytes=_MAX_REFERENCE_KEYS_BYTES)


def _reference_entries(doc: Any, where: str) -> list[_RefEntry]:
    """The keys of a reference private key file, in the order the reference would pick them."""
    if not isinstance(doc, dict):
        raise InputError("not a JSON object", where=where)

    def entry_from(obj: Any, label: str) -> _RefEntry:
        if not isinstance(obj, dict):
            raise InputError(f"{label} is not an object", where=where)
        kid = obj.get("key_id")
        if not isinstance(kid, str) or not kid:
            raise InputError(f"{label} has no key_id", where=where)
        if "private_key_b64" not in obj:
            raise InputError(f"key {kid} has no private_key_b64", where=where)
        return _RefEntry(kid, obj["private_key_b64"], obj.get("algorithm"))

    # (a) provara init: {"keys": [{key_id, private_key_b64, algorithm}, ...]}
    if "keys" in doc:
        keys = doc["keys"]
        if not isinstance(keys, list):
            raise InputError('"keys" is not a list', where=where)
        return [entry_from(obj, f"keys[{i}]") for i, obj in enumerate(keys)]

    rest = {k: v for k, v in doc.items() if k != "WARNING"}
    # (c) bootstrap: {"WARNING": ..., "root": {key_id, private_key_b64}, "quorum": {...}}.
    # The root key is the vault's authority, so it comes first whatever the file order.
    if any(isinstance(v, dict) for v in rest.values()):
        ordered = sorted(rest.items(), key=lambda item: item[0] != "root")
        return [entry_from(obj, f'"{role}"') for role, obj in ordered]

    # (b) legacy flat map: {key_id: private_key_b64, "WARNING": ...}
    return [_RefEntry(kid, value, None) for kid, value in rest.items()]


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _make_private_dir(home: Path) -> None:
    if home.is_dir():
        # An existing directory keeps the permissions its owner chose; the identity file
        # itself is 0600 regardless.
        return
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask; say what we mean explicitly.
    with contextlib.suppress(OSError):
        os.chmod(home, 0o700)


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, mode 0600, atomically and without replacing anything
    (store/profile_files.py): a crash leaves either no file or the whole file, and two
    processes creating an identity at once cannot silently destroy each other's key.
    Raises FileExistsError when the name is taken.
    """
    create_file(path, data, mode=0o600)


# --------------------------------------------------------------------------------------------
# Passphrase input
# --------------------------------------------------------------------------------------------


def read_passphrase(
    passphrase_file: str | None,
    *,
    env: Mapping[str, str] | None = None,
    prompt: bool = True,
    confirm: bool = False,
) -> str:
    """Get the passphrase: ``--passphrase-file``, then ``$PROVARA_PASSPHRASE``, then a prompt.

    Non-interactive sources win so that scripts never hang on a hidden prompt. The prompt is
    only used when stdin is a terminal; otherwise the error says how to supply one.
    """
    if passphrase_file is not None:
        try:
            raw = Path(passphrase_file).read_bytes()
        except OSError as exc:
            raise StoreError(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror or exc}"
            ) from None
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StoreError(f"passphrase file {passphrase_file} is not UTF-8 text") from None
        # Exactly one line ending is stripped: editors add one, but any other whitespace may
        # be a deliberate part of the passphrase.
        if content.endswith("\r\n"):
            content = content[:-2]
        elif content.endswith("\n"):
            content = content[:-1]
        if not content:
            raise UsageError(f"passphrase file {passphrase_file} is empty")
        return content

    environ = os.environ if env is None else env
    from_env = environ.get(PASSPHRASE_ENV)
    if from_env:  # an empty variable counts as unset
        return from_env

    if prompt and _stdin_is_tty():
        import getpass

        try:
            first = getpass.getpass("Passphrase: ")
            if confirm:
                second = getpass.getpass("Repeat passphrase: ")
                if first != second:
                    raise UsageError("the two passphrases do not match")
        except EOFError:
            raise IdentityError("no passphrase was entered") from None
        return first

    raise IdentityError(
        f"a passphrase is needed: use --passphrase-file FILE or set {PASSPHRASE_ENV}"
    )


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False

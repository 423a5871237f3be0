"""The investigator's identity: one Ed25519 key per profile directory, sealed by a passphrase.

Layout: ``<home>/identity.json`` holds the public facts in clear (so the app can show who you
are and verify your events without asking for anything) and the 32-byte Ed25519 seed sealed
with ``nacl.secret.SecretBox`` (XSalsa20-Poly1305) under a key stretched from the passphrase by
Argon2id. The seed is never written in clear and never logged; the only way out is the explicit
:meth:`IdentityStore.export_reference`, which exists so a key can be carried to the reference
implementation (``provara`` CLI) and back.

Nothing here imports Qt: the CLI, the GUI and the tests all use the same store. The sealing
itself is store/sealed_key.py, the reference's key files store/reference_keys.py, where the
profile lives store/profile_paths.py; the passphrase comes from the caller
(provara_desktop/passphrase_input.py on the command line, a dialog in the app).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from provara_desktop.store import reference_keys
from provara_desktop.store.profile_files import create_file, profile_lock, replace_file
from provara_desktop.store.profile_paths import make_private_dir, resolve_home
from provara_desktop.store.sealed_key import (
    BOX_ALG,
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    KDF_ALG,
    MAC_BYTES,
    NONCE_BYTES,
    SALT_BYTES,
    SealedSeed,
    check_kdf_params,
    open_seed,
    seal_seed,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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
]

IDENTITY_FILE = "identity.json"
IDENTITY_FORMAT = "provara-desktop-identity"
IDENTITY_VERSION = 1

# An identity file is a few hundred bytes; anything much bigger is not ours.
_MAX_IDENTITY_BYTES = 64 * 1024

_SLUG_DROP = re.compile(r"[^a-z0-9._]+")
_KEY_ID_RE = re.compile(r"^bp1_[0-9a-f]{16}$")
_LABEL_RE = re.compile(r"^[a-z0-9._-]+-[0-9a-f]{8}$")


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
    # The recovery key that may rotate this identity's keys (None: an identity from before
    # recovery keys, or adopted from the reference); its private half is never kept here.
    recovery_key_id: str | None = None
    recovery_public_key_b64: str | None = None
    # Whether the user confirmed the recovery file is stored away (the app warns until then).
    recovery_confirmed: bool = False
    # A device of a person (store/devices.py): the person's label, and what the device is.
    person_actor: str | None = None
    device_name: str | None = None

    @property
    def recovery_fingerprint(self) -> str | None:
        if self.recovery_public_key_b64 is None:
            return None
        return fingerprint_for(b64decode_strict(self.recovery_public_key_b64,
                                                expected_len=PUBLIC_KEY_BYTES))

    @property
    def recovery_actor(self) -> str | None:
        """The label the recovery key signs rotations under (its own key id's digits)."""
        if self.recovery_key_id is None:
            return None
        return actor_label_for(f"{self.name} recovery", self.recovery_key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "actor": self.actor,
            "key_id": self.key_id,
            "public_key_b64": self.public_key_b64,
            "fingerprint": self.fingerprint,
            "created_at_utc": self.created_at_utc,
            "recovery_key_id": self.recovery_key_id,
            "recovery_fingerprint": self.recovery_fingerprint,
            "recovery_confirmed": self.recovery_confirmed,
            "person_actor": self.person_actor,
            "device_name": self.device_name,
        }


@dataclass(frozen=True)
class _Sealed:
    """A parsed identity file: the public facts plus the sealed seed."""

    identity: Identity
    public_key: bytes
    seed: SealedSeed


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
        check_kdf_params(opslimit, memlimit, where="IdentityStore", error=ValueError)
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
        """Generate a new Ed25519 key and seal it under ``passphrase`` (no recovery key:
        see create_with_recovery)."""
        name = _check_name(name)
        _check_new_passphrase(passphrase)
        self._refuse_if_exists()
        identity = self._seal_and_write(SigningKey.generate(), name, passphrase)
        logger.info("created identity %s (%s) in %s", identity.actor, identity.key_id, self._home)
        return identity

    def create_with_recovery(self, name: str, passphrase: str,
                             write_recovery: Callable[[Identity, SigningKey], None]
                             ) -> Identity:
        """A new identity and its recovery key. ``write_recovery`` hands the recovery key to
        the user (a recovery file); only its public half stays in the profile, and the
        identity is written only once the recovery file was (a failed write leaves no
        identity whose recovery key nobody holds)."""
        name = _check_name(name)
        _check_new_passphrase(passphrase)
        self._refuse_if_exists()
        key, recovery = SigningKey.generate(), SigningKey.generate()
        planned = self._facts(key, name, recovery.public.b64)
        write_recovery(planned, recovery)
        identity = self._seal_and_write(key, name, passphrase,
                                        recovery_public_b64=recovery.public.b64)
        logger.info("created identity %s (%s) with recovery key %s in %s", identity.actor,
                    identity.key_id, identity.recovery_key_id, self._home)
        return identity

    def add_recovery(self, passphrase: str,
                     write_recovery: Callable[[Identity, SigningKey], None]) -> Identity:
        """Give an identity without one a recovery key (old identities, adopted keys)."""
        current = self.load()
        if current.recovery_key_id is not None:
            raise UsageError(f"identity {current.actor} already has recovery key "
                             f"{current.recovery_key_id}")
        key = self.unlock(passphrase)
        recovery = SigningKey.generate()
        planned = self._facts(key, current.name, recovery.public.b64,
                              actor=current.actor, created=current.created_at_utc)
        write_recovery(planned, recovery)
        return self._seal_and_write(key, current.name, passphrase,
                                    recovery_public_b64=recovery.public.b64,
                                    actor=current.actor, created=current.created_at_utc,
                                    replace=True)

    def replace_key(self, new_key: SigningKey, passphrase: str) -> Identity:
        """After a rotation recorded in a vault: the profile signs with ``new_key`` under the
        same name, label and recovery key. ``passphrase`` must open the current key."""
        current = self.load()
        self.unlock(passphrase)
        return self._seal_and_write(new_key, current.name, passphrase,
                                    recovery_public_b64=current.recovery_public_key_b64,
                                    actor=current.actor, created=current.created_at_utc,
                                    replace=True)

    def restore(self, name: str, actor: str, key: SigningKey, passphrase: str,
                recovery_public_b64: str) -> Identity:
        """A new machine's profile for an identity whose key a rotation replaced by ``key``
        (cli_keys.cmd_identity_restore records the rotation first): same name and label."""
        _check_new_passphrase(passphrase)
        self._refuse_if_exists()
        return self._seal_and_write(key, _check_name(name), passphrase,
                                    recovery_public_b64=recovery_public_b64, actor=actor,
                                    confirmed=True)

    def change_passphrase(self, old: str, new: str) -> Identity:
        """Seal the same key under a new passphrase (the old one must open it)."""
        _check_new_passphrase(new)
        current = self.load()
        key = self.unlock(old)
        return self._seal_and_write(key, current.name, new,
                                    recovery_public_b64=current.recovery_public_key_b64,
                                    actor=current.actor, created=current.created_at_utc,
                                    replace=True, confirmed=current.recovery_confirmed)

    def confirm_recovery_stored(self) -> Identity:
        """The user says the recovery file is stored away: the app stops warning."""
        with profile_lock(self._home):
            doc = self._read_doc()
            doc["recovery_confirmed"] = True
            replace_file(self._path, _record_bytes(doc))
        return self.load()

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
        key = reference_keys.read_signing_key(source, key_id)
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
        seed = open_seed(sealed.seed, passphrase)
        if seed is None:
            # Poly1305 cannot tell a wrong passphrase from a damaged ciphertext; the wrong
            # passphrase is by far the likelier, so that is what we say.
            raise WrongPassphraseError(
                f"wrong passphrase for identity {sealed.identity.actor} ({self._path})"
            )
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
        data = reference_keys.private_keys_json(key)
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

    @staticmethod
    def _facts(key: SigningKey, name: str, recovery_public_b64: str | None, *,
               actor: str | None = None, created: str | None = None,
               confirmed: bool = False) -> Identity:
        public = key.public
        rid = None
        if recovery_public_b64 is not None:
            rid = key_id_for(b64decode_strict(recovery_public_b64,
                                              expected_len=PUBLIC_KEY_BYTES))
        return Identity(
            name=name,
            actor=actor or actor_label_for(name, public.key_id),
            key_id=public.key_id,
            public_key_b64=public.b64,
            fingerprint=public.fingerprint,
            created_at_utc=created or datetime.now(UTC).isoformat(),
            recovery_key_id=rid,
            recovery_public_key_b64=recovery_public_b64,
            recovery_confirmed=confirmed,
        )

    def sealed_record(self, identity: Identity, key: SigningKey, passphrase: str
                      ) -> dict[str, Any]:
        """The identity file's document for ``identity`` with ``key`` sealed under
        ``passphrase`` (also what a device file carries to the device: store/devices.py)."""
        sealed = seal_seed(key.seed, passphrase, opslimit=self._opslimit,
                           memlimit=self._memlimit)
        return {
            "format": IDENTITY_FORMAT,
            "version": IDENTITY_VERSION,
            "name": identity.name,
            "actor": identity.actor,
            "key_id": identity.key_id,
            "public_key_b64": identity.public_key_b64,
            "created_at_utc": identity.created_at_utc,
            **({"recovery_public_key_b64": identity.recovery_public_key_b64,
                "recovery_key_id": identity.recovery_key_id,
                "recovery_confirmed": identity.recovery_confirmed}
               if identity.recovery_public_key_b64 is not None else {}),
            **({"person_actor": identity.person_actor, "device_name": identity.device_name}
               if identity.person_actor is not None else {}),
            "kdf": {
                "alg": KDF_ALG,
                "opslimit": sealed.opslimit,
                "memlimit": sealed.memlimit,
                "salt_b64": b64encode(sealed.salt),
            },
            "secretbox": {
                "alg": BOX_ALG,
                "nonce_b64": b64encode(sealed.nonce),
                "ciphertext_b64": b64encode(sealed.ciphertext),
            },
        }

    def adopt_record(self, record: Mapping[str, Any], passphrase: str) -> Identity:
        """Make ``record`` (an identity document, a device's) this profile's identity, once
        ``passphrase`` opens its key and the key matches its public facts."""
        self._refuse_if_exists()
        sealed = _parse_identity(record, self._path)
        seed = open_seed(sealed.seed, passphrase)
        if seed is None or SigningKey(seed).public.raw != sealed.public_key:
            raise WrongPassphraseError(f"wrong passphrase for {sealed.identity.actor}, or "
                                       "its sealed key is damaged")
        self._write(_record_bytes(record), replace=False)
        return sealed.identity

    def _seal_and_write(self, key: SigningKey, name: str, passphrase: str, *,
                        recovery_public_b64: str | None = None, actor: str | None = None,
                        created: str | None = None, replace: bool = False,
                        confirmed: bool = False) -> Identity:
        identity = self._facts(key, name, recovery_public_b64, actor=actor, created=created,
                               confirmed=confirmed)
        current = self._read_doc() if replace else {}
        if current.get("person_actor") is not None:  # a device stays its person's
            identity = dataclasses.replace(identity, person_actor=current["person_actor"],
                                           device_name=current.get("device_name"))
        self._write(_record_bytes(self.sealed_record(identity, key, passphrase)),
                    replace=replace)
        return identity

    def _write(self, data: bytes, *, replace: bool) -> None:
        try:
            make_private_dir(self._home)
            # Under the profile lock: the app and a headless peer share this profile.
            with profile_lock(self._home):
                if replace:
                    replace_file(self._path, data)
                else:
                    _write_new_file(self._path, data)
        except FileExistsError:
            # Another process created one between our check and the write: theirs wins, ours
            # is discarded before anything could use it.
            raise IdentityError(
                f"an identity already exists in {self._path}: this profile holds one identity"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot write {self._path}: {exc.strerror or exc}") from None

    def _read(self) -> _Sealed:
        return _parse_identity(self._read_doc(), self._path)

    def _read_doc(self) -> dict[str, Any]:
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
        if not isinstance(doc, dict):
            raise IdentityError(f"identity file {path} is not valid: not a JSON object")
        return doc


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
    # collide with someone else's. After a rotation the label keeps the first key's digits
    # (the promotion passes it on), so only a label of our form is required then.
    if not actor.endswith("-" + key_id[4:12]) and (
            doc.get("recovery_public_key_b64") is None or not _LABEL_RE.match(actor)):
        raise bad(f"actor {actor!r} does not end with its key id digits {key_id[4:12]!r}")

    kdf = section("kdf")
    if kdf.get("alg") != KDF_ALG:
        raise bad(f"kdf.alg {kdf.get('alg')!r} is not supported (expected {KDF_ALG!r})")
    opslimit, memlimit = check_kdf_params(
        kdf.get("opslimit"), kdf.get("memlimit"), where=f"identity file {path}", error=IdentityError
    )
    salt = b64(kdf, "salt_b64", SALT_BYTES, "kdf.")

    box = section("secretbox")
    if box.get("alg") != BOX_ALG:
        raise bad(f"secretbox.alg {box.get('alg')!r} is not supported (expected {BOX_ALG!r})")
    nonce = b64(box, "nonce_b64", NONCE_BYTES, "secretbox.")
    ciphertext = b64(box, "ciphertext_b64", SEED_BYTES + MAC_BYTES, "secretbox.")

    recovery_b64 = doc.get("recovery_public_key_b64")
    if recovery_b64 is not None:
        recovery_raw = b64(doc, "recovery_public_key_b64", PUBLIC_KEY_BYTES, "")
        if key_id_for(recovery_raw) == key_id:
            raise bad("the recovery key is the identity's own key")
    confirmed = doc.get("recovery_confirmed") is True
    person = doc.get("person_actor")
    device = doc.get("device_name")
    identity = Identity(
        name=name,
        actor=actor,
        key_id=key_id,
        public_key_b64=b64encode(public_key),
        fingerprint=fingerprint_for(public_key),
        created_at_utc=created,
        recovery_key_id=key_id_for(recovery_raw) if recovery_b64 is not None else None,
        recovery_public_key_b64=b64encode(recovery_raw) if recovery_b64 is not None else None,
        recovery_confirmed=confirmed,
        person_actor=person if isinstance(person, str) else None,
        device_name=device if isinstance(device, str) else None,
    )
    return _Sealed(identity, public_key,
                   SealedSeed(opslimit, memlimit, salt, nonce, ciphertext))


# --------------------------------------------------------------------------------------------
# Checks on what the caller passes
# --------------------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise UsageError("an identity needs a name: use --name NAME")
    return cleaned


def _check_new_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise UsageError("the passphrase must not be empty")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _record_bytes(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, mode 0600, atomically and without replacing anything
    (store/profile_files.py): a crash leaves either no file or the whole file, and two
    processes creating an identity at once cannot silently destroy each other's key.
    Raises FileExistsError when the name is taken.
    """
    create_file(path, data, mode=0o600)

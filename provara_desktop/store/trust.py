"""The keys this user has decided to trust, kept in the profile directory (``trust.json``).

A bundle, a delta file or a LAN peer never adds trust by itself: the only way in is the
user's explicit ``trust add`` (after comparing the fingerprint with its owner, out of band).
Import consults this store, together with the user's own key and the keys the receiving vault
already lists (those were accepted before). LAN pairing will share the same file.

The file is small JSON, rewritten whole through a temp file and a rename, so a crash never
leaves half a trust store.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UsageError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keys import PublicKey

if TYPE_CHECKING:
    from pathlib import Path

TRUST_FILE = "trust.json"
TRUST_FORMAT = "provara-desktop-trust"
TRUST_VERSION = 1
_MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key_b64: str
    name: str
    added_at_utc: str

    @property
    def fingerprint(self) -> str:
        return PublicKey.from_b64(self.public_key_b64).fingerprint

    def to_json(self) -> dict[str, str]:
        return {"key_id": self.key_id, "name": self.name,
                "public_key_b64": self.public_key_b64, "fingerprint": self.fingerprint,
                "added_at_utc": self.added_at_utc}


def checked_public_key(key_id: str, public_key_b64: str, *, where: str) -> PublicKey:
    """The public key, after checking that ``key_id`` really is its protocol id."""
    try:
        public = PublicKey.from_b64(public_key_b64)
    except ValueError as exc:
        raise InputError(f"not an Ed25519 public key in base64 ({exc})", where=where) from None
    if public.key_id != key_id:
        raise InputError(f"key id {key_id} does not belong to this public key (its id is "
                         f"{public.key_id}); check both with the key's owner", where=where)
    return public


class TrustStore:
    def __init__(self, home: Path) -> None:
        self.path = home / TRUST_FILE

    def load(self) -> dict[str, TrustedKey]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read ({exc.strerror})") from None
        doc = strict_loads(data, where=str(self.path), max_bytes=_MAX_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != TRUST_FORMAT:
            raise InputError("not a provara-desktop trust store", where=str(self.path))
        version = doc.get("version")
        if not isinstance(version, int) or version > TRUST_VERSION:
            raise InputError(f"trust store version {version!r} is newer than this program "
                             f"reads ({TRUST_VERSION})", where=str(self.path))
        out: dict[str, TrustedKey] = {}
        keys = doc.get("keys")
        for i, raw in enumerate(keys if isinstance(keys, list) else []):
            where = f"{self.path} keys[{i}]"
            if not isinstance(raw, dict):
                raise InputError("a key entry must be an object", where=where)
            kid, b64 = raw.get("key_id"), raw.get("public_key_b64")
            if not isinstance(kid, str) or not isinstance(b64, str):
                raise InputError("key_id and public_key_b64 must be text", where=where)
            # A hand-edited entry whose id does not match its key must not make anything
            # trusted: refuse the whole file rather than guess which half is right.
            checked_public_key(kid, b64, where=where)
            out[kid] = TrustedKey(kid, b64, str(raw.get("name") or ""),
                                  str(raw.get("added_at_utc") or ""))
        return out

    def trusted_ids(self) -> set[str]:
        return set(self.load())

    def add(self, key_id: str, public_key_b64: str, name: str | None = None) -> TrustedKey:
        checked_public_key(key_id, public_key_b64, where="--public-key")
        keys = self.load()
        old = keys.get(key_id)
        entry = TrustedKey(key_id, public_key_b64, name if name is not None else
                           (old.name if old else ""),
                           old.added_at_utc if old else utc_now_iso())
        keys[key_id] = entry
        self._write(keys)
        return entry

    def remove(self, key_id: str) -> TrustedKey:
        keys = self.load()
        entry = keys.pop(key_id, None)
        if entry is None:
            raise UsageError(f"{key_id} is not in the trust store ({self.path})")
        self._write(keys)
        return entry

    def _write(self, keys: dict[str, TrustedKey]) -> None:
        doc: dict[str, Any] = {
            "format": TRUST_FORMAT, "version": TRUST_VERSION,
            "keys": [{"key_id": k.key_id, "public_key_b64": k.public_key_b64,
                      "name": k.name, "added_at_utc": k.added_at_utc}
                     for k in sorted(keys.values(), key=lambda k: k.key_id)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(TRUST_FILE + ".tmp")
        try:
            with tmp.open("wb") as f:
                f.write((json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{self.path}: cannot write ({exc.strerror})") from None

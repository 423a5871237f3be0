"""The reference implementation's private key files (``private_keys.json``): reading the three
shapes it writes, to adopt one of their keys as an identity, and writing the one ``provara
init`` writes, to carry a key back to it. The seed is in clear in these files: that is their
format, and why the identity store only reads or writes one when asked to explicitly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UsageError
from provara_desktop.core.keys import SEED_BYTES, SigningKey, b64decode_strict, b64encode

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["private_keys_json", "read_signing_key"]

# The reference's private key files hold one or two keys.
_MAX_REFERENCE_KEYS_BYTES = 1 << 20


def read_signing_key(source: Path, key_id: str | None) -> SigningKey:
    """The key ``key_id`` of the file at ``source`` (the one the reference would pick when
    None). Accepts the three shapes the reference writes (``provara init``'s
    ``{"keys": [...]}``, the legacy flat ``{key_id: b64}`` map and the bootstrap's
    ``{"root": {...}}``)."""
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
    return chosen.signing_key(where)


def private_keys_json(key: SigningKey) -> bytes:
    """``key`` in the reference's ``private_keys.json`` format, byte-identical to what
    ``provara init`` writes (indent 2, no trailing newline). The seed is in clear."""
    document = {
        "keys": [
            {
                "key_id": key.key_id,
                "private_key_b64": b64encode(key.seed),
                "algorithm": "Ed25519",
            }
        ]
    }
    return json.dumps(document, indent=2).encode("utf-8")


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

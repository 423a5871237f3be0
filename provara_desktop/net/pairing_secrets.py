"""The per-pair secrets agreed at pairing (net/pairing.py), for discreet discovery: the
profile's ``pairing_secrets.json``, mode 0600.

Each pairing derives 32 bytes from the SPAKE2 key that both sides, and only they, hold. A
discreet announcement carries a token made with it (an HMAC of the current time window, the
discovery helper's business), which a stranger cannot tell from noise and a paired peer
recognises. The file holds secrets: it is written only through store/profile_files.py
(under the profile lock, a unique temporary file, 0600, atomic rename) and never logged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import InputError, StoreError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keys import b64decode_strict, b64encode
from provara_desktop.store.profile_files import profile_lock, read_profile_doc, replace_file

if TYPE_CHECKING:
    from pathlib import Path

SECRETS_FILE = "pairing_secrets.json"
SECRETS_FORMAT = "provara-desktop-pairing-secrets"
SECRETS_VERSION = 1
SECRET_BYTES = 32


def _read(home: Path) -> dict[str, dict[str, Any]]:
    path = home / SECRETS_FILE
    doc = read_profile_doc(path, fmt=SECRETS_FORMAT, what="pairing secrets file")
    if doc is None:
        return {}
    peers = doc.get("peers")
    if not isinstance(peers, dict):
        raise InputError("no \"peers\" object", where=str(path))
    return {k: v for k, v in peers.items() if isinstance(k, str) and isinstance(v, dict)}


def load_pairing_secrets(home: Path) -> dict[str, bytes]:
    """key_id -> the 32-byte secret shared with that paired peer (entries that are not 32
    bytes of base64 are skipped: a damaged entry must not stop discovery of the others)."""
    out: dict[str, bytes] = {}
    for kid, entry in _read(home).items():
        try:
            out[kid] = b64decode_strict(str(entry.get("secret_b64")),
                                        expected_len=SECRET_BYTES)
        except ValueError:
            continue
    return out


def save_pairing_secret(home: Path, key_id: str, secret: bytes) -> None:
    """Record (or replace, on a new pairing with the same peer) the secret of one pair."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a pairing secret is {SECRET_BYTES} bytes")
    with profile_lock(home):
        peers = _read(home)
        peers[key_id] = {"secret_b64": b64encode(secret), "paired_at_utc": utc_now_iso()}
        doc = {"format": SECRETS_FORMAT, "version": SECRETS_VERSION,
               "peers": dict(sorted(peers.items()))}
        path = home / SECRETS_FILE
        try:
            replace_file(path, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)
        except OSError as exc:
            raise StoreError(f"{path}: cannot write ({exc.strerror})") from None

"""Where each trusted peer was last reached: the profile's ``sync_addresses.json``.

``sync --all`` needs an address per trusted peer when discovery is off or sees nothing.
Pairing records the peer's host with the default ``serve`` port (the port a peer listens on
unless told otherwise); a ``sync --peer HOST:PORT`` that completed with a trusted key records
that exact address for it. An address is only a hint: whoever answers there must still
prove, in the TLS handshake, that it holds the key the address is recorded for.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import InputError, StoreError, UsageError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.store.profile_files import profile_lock, read_profile_doc, replace_file

if TYPE_CHECKING:
    from pathlib import Path

ADDRESSES_FILE = "sync_addresses.json"
ADDRESSES_FORMAT = "provara-desktop-sync-addresses"
DEFAULT_PORT = 47474  # `serve` listens here unless --port says otherwise


def parse_address(text: str, *, where: str = "--peer") -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port); a usage error otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{where}: expected HOST:PORT (e.g. 192.168.1.20:{DEFAULT_PORT}), "
                         f"got {text!r}")
    return host, int(port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _read(home: Path) -> dict[str, dict[str, Any]]:
    path = home / ADDRESSES_FILE
    doc = read_profile_doc(path, fmt=ADDRESSES_FORMAT, what="sync addresses file")
    if doc is None:
        return {}
    if not isinstance(doc.get("peers"), dict):
        raise InputError("not a provara-desktop sync addresses file", where=str(path))
    return {k: v for k, v in doc["peers"].items()
            if isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("address"), str)}


def known_addresses(home: Path) -> dict[str, str]:
    """key_id -> the address recorded for it."""
    return {kid: str(v["address"]) for kid, v in _read(home).items()}


def remember(home: Path, key_id: str, address: str, *, source: str,
             replace: bool = True) -> None:
    """Record ``address`` for ``key_id`` (``replace=False``: only when none is known)."""
    with profile_lock(home):
        peers = _read(home)
        if not replace and key_id in peers:
            return
        if peers.get(key_id, {}).get("address") == address:
            return
        peers[key_id] = {"address": address, "source": source, "at_utc": utc_now_iso()}
        doc = {"format": ADDRESSES_FORMAT, "version": 1, "peers": dict(sorted(peers.items()))}
        path = home / ADDRESSES_FILE
        try:
            replace_file(path, (json.dumps(doc, indent=2) + "\n").encode())
        except OSError as exc:
            raise StoreError(f"{path}: cannot write ({exc.strerror})") from None

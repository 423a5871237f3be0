"""manifest.json, merkle_root.txt and manifest.sig exactly as the reference lays them out.

The Merkle tree is over the manifest's file entries (B §1): leaf = sha256(canonical entry),
parent = sha256(left || right), an odd node pairs with itself, empty tree = sha256(b"").
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.keys import PublicKey, SigningKey, b64decode_strict, b64encode
from provara_desktop.store.layout import (
    MANIFEST_EXCLUDED,
    MANIFEST_VERSION,
    SPEC_VERSION,
    TXN_DIR,
    pretty_json,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

FileEntry = dict[str, Any]  # {"path", "sha256", "size"}


def merkle_root(entries: Sequence[Mapping[str, Any]]) -> str:
    level = [hashlib.sha256(canonical_bytes(dict(e))).digest() for e in entries]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest()
                 for i in range(0, len(level), 2)]
    return level[0].hex()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def walk_files(root: Path) -> Iterable[str]:
    """Every regular file under root as a relative POSIX path, as the reference walks it
    (dotfiles included), minus the excluded paths and our in-flight transaction dir.
    Symlinks are listed only if they stay inside the vault."""
    root_resolved = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != TXN_DIR]
        for name in filenames:
            full = Path(dirpath) / name
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel in MANIFEST_EXCLUDED:
                continue
            if full.is_symlink():
                try:
                    full.resolve().relative_to(root_resolved)
                except ValueError:
                    continue
            if full.is_file():
                yield rel


def entry_for(root: Path, rel: str) -> FileEntry:
    p = root / rel
    return {"path": rel, "sha256": sha256_file(p), "size": p.stat().st_size}


def manifest_doc(entries: Sequence[FileEntry], created_at: str) -> dict[str, Any]:
    files = sorted(entries, key=lambda e: str(e["path"]))
    return {
        "backpack_spec_version": SPEC_VERSION,
        "manifest_version": MANIFEST_VERSION,
        "created_at_utc": created_at,
        "file_count": len(files),
        "files": files,
    }


def manifest_bytes(doc: Mapping[str, Any]) -> bytes:
    """Canonical JSON, no trailing newline (what the reference writes)."""
    return canonical_bytes(dict(doc))


def merkle_bytes(root_hex: str) -> bytes:
    return (root_hex + "\n").encode("ascii")


def manifest_sig_doc(root_hex: str, key: SigningKey, signed_at: str) -> dict[str, Any]:
    body = {"merkle_root": root_hex, "key_id": key.key_id, "spec_version": SPEC_VERSION,
            "signed_at_utc": signed_at}
    return {**body, "sig": b64encode(key.sign(canonical_bytes(body)))}


def manifest_sig_bytes(root_hex: str, key: SigningKey, signed_at: str) -> bytes:
    return pretty_json(manifest_sig_doc(root_hex, key, signed_at))


def check_manifest_sig(doc: Mapping[str, Any], public: PublicKey | None) -> str | None:
    """None when manifest.sig is a valid signature by ``public``; else what is wrong."""
    if public is None:
        return f"manifest.sig is signed by {doc.get('key_id')}, a key this vault does not list"
    body = {k: doc.get(k) for k in ("merkle_root", "key_id", "spec_version", "signed_at_utc")}
    try:
        sig = b64decode_strict(str(doc.get("sig", "")), expected_len=64)
    except ValueError as exc:
        return f"manifest.sig signature is malformed ({exc})"
    if not public.verify(canonical_bytes(body), sig):
        return "manifest.sig signature does not verify"
    return None

"""Where a vault's index (and what else this profile keeps beside it) lives: outside the
vault, in the profile, keyed by the vault's resolved path and uid."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

def index_path_for(home: Path, vault_dir: Path, vault_uid: str) -> Path:
    """Where the index of the vault at ``vault_dir`` lives: ``<home>/index/<hash>.sqlite``.

    The hash covers the resolved vault path AND the vault uid: two copies of one vault (same
    uid, different paths) get separate indexes, and a different vault later created at the
    same path does not inherit the old one's.
    """
    resolved = vault_dir.resolve()
    # surrogateescape gives back the exact filesystem bytes for undecodable POSIX names
    # instead of raising; for ordinary paths it is plain UTF-8.
    key = (str(resolved) + "\0" + vault_uid).encode("utf-8", "surrogateescape")
    path = home / "index" / f"{hashlib.sha256(key).hexdigest()[:24]}.sqlite"
    if path.resolve().is_relative_to(resolved):
        # An index inside the vault would be copied/bundled/synced with it as if it were
        # evidence, and would make the vault's directory listing change on every query.
        raise ValueError(f"index directory {home} must be outside the vault {vault_dir}")
    return path

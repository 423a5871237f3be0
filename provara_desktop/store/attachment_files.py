"""An attachment's bytes, checked again every time they are used (issue "Reviewing evidence
together", item 1): before it is shown, saved or opened, the CAS file is hashed and must
still be the sha256 it is stored under. One that is not is never handed out. Reads stream:
a huge file is hashed a megabyte at a time, and previews read only its beginning."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provara_desktop.core.errors import StoreError, TamperedVaultError
from provara_desktop.store import layout

_SHA = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Checked:
    path: Path
    size: int
    ok: bool
    status: str  # "ok", "missing", "altered", "invalid reference"


def cas_path(vault_root: Path, sha256: str) -> Path:
    if not _SHA.fullmatch(sha256):
        raise StoreError(f"{sha256!r} is not an attachment's sha256")
    return vault_root / layout.CAS_DIR / sha256


def check(vault_root: Path, sha256: str) -> Checked:
    """Hash the stored file now (streaming)."""
    try:
        path = cas_path(vault_root, sha256)
    except StoreError:
        return Checked(vault_root, 0, False, "invalid reference")
    h, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return Checked(path, 0, False, "missing")
    except OSError as exc:
        return Checked(path, 0, False, f"unreadable ({exc.strerror})")
    if h.hexdigest() != sha256:
        return Checked(path, size, False, "altered")
    return Checked(path, size, True, "ok")


def _refuse(c: Checked, sha256: str) -> None:
    if not c.ok:
        raise TamperedVaultError(
            f"attachment {sha256}: the stored file is {c.status} (its bytes no longer have "
            "the sha256 the evidence names): it is not shown, saved or opened")


def head(vault_root: Path, sha256: str, limit: int) -> tuple[bytes, Checked]:
    """The first ``limit`` bytes of a verified attachment (a preview of a huge text)."""
    c = check(vault_root, sha256)
    _refuse(c, sha256)
    with c.path.open("rb") as f:
        return f.read(limit), c


def copy_verified(vault_root: Path, sha256: str, dest: Path) -> int:
    """Copy the attachment to ``dest``, hashing what is copied: ``dest`` appears (atomically)
    only if the copy has exactly the named sha256. Returns its size."""
    src = cas_path(vault_root, sha256)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    h, size = hashlib.sha256(), 0
    try:
        with src.open("rb") as f, tmp.open("wb") as out:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            tmp.unlink(missing_ok=True)
            _refuse(Checked(src, size, False, "altered"), sha256)
        os.replace(tmp, dest)
    except FileNotFoundError:
        tmp.unlink(missing_ok=True)
        _refuse(Checked(src, 0, False, "missing"), sha256)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    return size


def viewer_copy(vault_root: Path, sha256: str, name: str) -> Path:
    """A verified, read-only copy for the system viewer, in a private temporary folder:
    the viewer gets exactly the checked bytes, and cannot change the vault's file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or sha256[:16]
    folder = Path(tempfile.mkdtemp(prefix="provara-attachment-"))
    dest = folder / safe
    try:
        copy_verified(vault_root, sha256, dest)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    dest.chmod(stat.S_IRUSR)
    return dest

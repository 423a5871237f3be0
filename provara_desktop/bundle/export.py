"""Writing bundles: the signed ``.provara-bundle`` and the reference's ``provara_delta_v1``.

The output is built in a temp file beside ``out`` and renamed into place, so a crash or a
full USB stick never leaves a half bundle under the final name; an existing file is never
overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provara_desktop import __version__
from provara_desktop.bundle import format as fmt
from provara_desktop.bundle.selection import Selection, select
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import StoreError, UsageError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keys import b64encode
from provara_desktop.core.logline import join_lines
from provara_desktop.intake.attachment_refs import attachment_refs
from provara_desktop.store import layout

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from provara_desktop.bundle.selection import Selected
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

FORMATS = ("provara-bundle", "provara-delta-v1")


@dataclass
class ExportResult:
    path: Path
    format: str
    event_count: int
    attachment_count: int
    size: int
    scope: dict[str, Any]
    prerequisites: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "event_count": self.event_count,
                "attachment_count": self.attachment_count, "bytes": self.size,
                "scope": self.scope, "prerequisites": self.prerequisites,
                "notes": self.notes}


def _key_entries(vault: Vault, key_ids: set[str]) -> list[dict[str, Any]]:
    out = []
    for entry in vault.keys_doc.get("keys", []):
        if isinstance(entry, dict) and entry.get("key_id") in key_ids:
            out.append(entry)
            key_ids = key_ids - {entry["key_id"]}
    if key_ids:
        raise StoreError(f"{vault.root / layout.KEYS} does not list key(s) "
                         f"{', '.join(sorted(key_ids))} that sign exported events; run verify")
    return out


_PARTIAL = re.compile(r"\..+\.partial-([0-9]+)")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists (another user's process)
        return True
    return True


def remove_stale_partials(folder: Path) -> list[str]:
    """Remove what killed exports left in ``folder`` (``.NAME.partial-PID`` files of
    processes that no longer run) and say so: they are never a finished bundle, and no one
    else would ever remove them."""
    notes = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for path in entries:
        m = _PARTIAL.fullmatch(path.name)
        if m is None or _pid_alive(int(m.group(1))) or path.is_symlink() or not path.is_file():
            continue
        try:
            path.unlink()
        except OSError:
            continue
        notes.append(f"removed {path.name}, left in {folder} by an export that was "
                     "interrupted (it was never a complete file)")
    return notes


def _temp_beside(out: Path) -> Path:
    if out.exists():
        raise UsageError(f"{out}: already exists; choose another name (nothing is overwritten)")
    if not out.parent.is_dir():
        raise StoreError(f"{out.parent}: no such directory")
    return out.with_name(f".{out.name}.partial-{os.getpid()}")


def _zip_time(iso: str) -> tuple[int, int, int, int, int, int]:
    t = datetime.fromisoformat(iso)
    return (max(1980, t.year), t.month, t.day, t.hour, t.minute, t.second)


def export_bundle(vault: Vault, out: Path, *, key: SigningKey, actor: str,
                  selection: Selection, cancelled: Callable[[], bool] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  witnessed: list[dict[str, Any]] | None = None) -> ExportResult:
    sel = select(vault, selection)
    tmp = _temp_beside(out)
    stale = remove_stale_partials(out.parent)
    try:
        result = _write_bundle(vault, tmp, sel, key=key, actor=actor, selection=selection,
                               cancelled=cancelled, progress=progress, witnessed=witnessed)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{out}: cannot write the bundle ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result.path = out
    result.size = out.stat().st_size
    result.notes.extend(stale)
    return result


def _write_bundle(vault: Vault, tmp: Path, sel: Selected, *, key: SigningKey, actor: str,
                  selection: Selection, cancelled: Callable[[], bool] | None,
                  progress: Callable[[int, int], None] | None,
                  witnessed: list[dict[str, Any]] | None = None) -> ExportResult:
    now = utc_now_iso()
    stamp = _zip_time(now)
    members: list[dict[str, Any]] = []
    events_bytes = join_lines(sel.lines)
    signer_ids = {str(ev.get("actor_key_id")) for ev in sel.events
                  if isinstance(ev.get("actor_key_id"), str)}
    keys_bytes = canonical_bytes({"keys": _key_entries(vault, signer_ids)}) + b"\n"
    atts: dict[str, int] = {}
    for ev in sel.events:
        for ref in attachment_refs(ev):
            atts.setdefault(ref["sha256"], 0)
    missing = sorted(sha for sha in atts if not (vault.root / layout.CAS_DIR / sha).is_file())

    def info(name: str, compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, date_time=stamp)
        zi.compress_type = compress
        zi.external_attr = 0o644 << 16
        return zi

    with zipfile.ZipFile(tmp, "w", compresslevel=6, allowZip64=True) as zf:
        for name, data in ((fmt.EVENTS, events_bytes), (fmt.KEYS, keys_bytes)):
            zf.writestr(info(name), data)
            members.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data)})
        present = [sha for sha in sorted(atts) if sha not in missing]
        for i, sha in enumerate(present):
            if cancelled is not None and cancelled():
                from provara_desktop.core.errors import UserCancelled

                raise UserCancelled("export cancelled")
            if progress is not None:
                progress(i, len(present))
            src = vault.root / layout.CAS_DIR / sha
            h = hashlib.sha256()
            size = 0
            with src.open("rb") as f, zf.open(info(fmt.cas_member(sha)), "w",
                                              force_zip64=True) as dst:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
            if h.hexdigest() != sha:
                raise StoreError(f"{src}: the attachment no longer has the sha256 it is stored "
                                 "under (damaged); run verify, nothing was exported")
            members.append({"path": fmt.cas_member(sha), "sha256": sha, "size": size})
        manifest = {
            "format": fmt.FORMAT, "format_version": fmt.FORMAT_VERSION,
            "created_at_utc": now, "generator": f"provara-desktop {__version__}",
            "source_vault": {"uid": vault.uid, "event_count": sel.vault_event_count},
            "exporter": {"key_id": key.key_id, "public_key_b64": key.public.b64,
                         "fingerprint": key.public.fingerprint, "actor": actor},
            "scope": selection.scope_json(),
            "sender_frontier": {"heads": sel.frontier.heads,
                                "event_count": sel.frontier.event_count},
            "receiver_frontier": (None if selection.frontier is None else
                                  {"vault_uid": selection.frontier.vault_uid,
                                   "heads": selection.frontier.heads,
                                   "event_count": selection.frontier.event_count}),
            "prerequisites": sel.prerequisites, "dangling": sel.dangling,
            "event_count": len(sel.lines), "attachment_count": len(present),
            "missing_attachments": missing,
            "members": sorted(members, key=lambda m: str(m["path"])),
        }
        if witnessed:
            manifest["witnessed_checkpoints"] = witnessed
        manifest_bytes = canonical_bytes(manifest)
        sig = {"format": fmt.SIG_FORMAT, "key_id": key.key_id,
               "public_key_b64": key.public.b64,
               "sig": b64encode(key.sign(fmt.SIG_DOMAIN + manifest_bytes))}
        zf.writestr(info(fmt.MANIFEST), manifest_bytes)
        zf.writestr(info(fmt.SIGNATURE), canonical_bytes(sig) + b"\n")
    with tmp.open("rb+") as done:
        os.fsync(done.fileno())
    notes = []
    if missing:
        notes.append(f"{len(missing)} attachment(s) referenced by exported events are missing "
                     "from this vault and were not included")
    return ExportResult(tmp, "provara-bundle", len(sel.lines), len(present), 0,
                        selection.scope_json(), sel.prerequisites, notes)


def export_delta_v1(vault: Vault, out: Path, *, selection: Selection) -> ExportResult:
    """The reference's ``sync_v0`` delta: an NDJSON header then one event per line. It is
    unsigned and carries no attachments; ``python -m provara.sync_v0 delta-import`` reads it.
    """
    sel = select(vault, selection)
    signer_ids = {str(ev.get("actor_key_id")) for ev in sel.events
                  if isinstance(ev.get("actor_key_id"), str)}
    header = {"event_count": len(sel.lines), "exported_at": utc_now_iso(),
              "keys": _key_entries(vault, signer_ids), "since_hash": None,
              "type": fmt.DELTA_V1_TYPE}
    data = join_lines([canonical_bytes(header), *sel.lines])
    tmp = _temp_beside(out)
    stale = remove_stale_partials(out.parent)
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{out}: cannot write ({exc.strerror or exc})") from None
    n_att = len({r["sha256"] for ev in sel.events for r in attachment_refs(ev)})
    notes = ["provara_delta_v1 is unsigned: the receiver can check each event's signature, "
             "but not who made the file", *stale]
    if n_att:
        notes.append(f"provara_delta_v1 cannot carry attachments: {n_att} referenced "
                     "attachment(s) were left out (use --format provara-bundle)")
    return ExportResult(out, "provara-delta-v1", len(sel.lines), 0, len(data),
                        selection.scope_json(), sel.prerequisites, notes)


def default_name(vault: Vault, when: str | None = None) -> str:
    stamp = re.sub(r"[^0-9]", "", (when or utc_now_iso())[:19])
    return f"{vault.uid[:8]}-{stamp}{fmt.EXTENSION}"

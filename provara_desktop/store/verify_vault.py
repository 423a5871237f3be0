"""Whole-vault verification: files and manifest, then the event log, then attachments."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError
from provara_desktop.core.logline import parse_line
from provara_desktop.core.verify import ERROR, WARNING, LogReport, Problem
from provara_desktop.store import layout, seen_heads
from provara_desktop.store.manifest import (
    check_manifest_sig,
    entry_for,
    merkle_root,
    walk_files,
)
from provara_desktop.store.parallel_verify import verify_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from provara_desktop.store.vault import Vault


@dataclass
class VaultReport:
    log: LogReport
    problems: list[Problem] = field(default_factory=list)  # file-level problems
    fork_events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def all_problems(self) -> list[Problem]:
        return self.problems + self.log.problems

    @property
    def ok(self) -> bool:
        return self.log.ok and all(p.severity != ERROR for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "event_count": self.log.event_count,
            "problems": [p.to_json() for p in self.all_problems],
            "forks": [
                {**f.to_json(), "events": [self.fork_events.get(e) for e in f.event_ids]}
                for f in self.log.forks
            ],
            "legacy_ids": self.log.legacy_ids,
        }


def _check_files(vault: Vault, out: list[Problem],
                 known: dict[str, dict[str, Any]] | None = None) -> None:
    """Files against manifest.json, merkle_root.txt and manifest.sig. ``known`` holds
    entries already computed (the log's, hashed while it was read for verification)."""
    root = vault.root
    known = known or {}
    for d in layout.REQUIRED_DIRS:
        if not (root / d).is_dir():
            out.append(Problem("MISSING_DIRECTORY", f"{d}/ is missing", path=d,
                               severity=WARNING))
    try:
        manifest = strict_loads((root / layout.MANIFEST).read_bytes(),
                                where=layout.MANIFEST, max_bytes=256 << 20)
    except InputError as exc:
        out.append(Problem("MANIFEST_UNREADABLE", str(exc), path=layout.MANIFEST))
        return
    listed = {str(e.get("path")): e for e in manifest.get("files", []) if isinstance(e, dict)}
    on_disk = set(walk_files(root))
    for rel in sorted(set(listed) - on_disk):
        out.append(Problem("MISSING_FILE", f"{rel} is listed in manifest.json but missing",
                           path=rel))
    for rel in sorted(on_disk - set(listed)):
        out.append(Problem("PHANTOM_FILE", f"{rel} is in the vault but not in manifest.json",
                           path=rel))
    rebuilt = []
    for rel in sorted(on_disk):
        entry = known.get(rel) or entry_for(root, rel)
        rebuilt.append(entry)
        want = listed.get(rel)
        if want is not None and (want.get("sha256"), want.get("size")) != (
                entry["sha256"], entry["size"]):
            out.append(Problem("FILE_CHANGED",
                               f"{rel} does not match manifest.json (its sha256 or size "
                               "differs): changed after the manifest was written", path=rel))
    if manifest.get("file_count") != len(listed):
        out.append(Problem("MANIFEST_COUNT", "manifest.json file_count does not match its list",
                           path=layout.MANIFEST))
    root_hex = merkle_root(sorted(rebuilt, key=lambda e: str(e["path"])))
    try:
        recorded = (root / layout.MERKLE_ROOT).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if recorded != root_hex:
        out.append(Problem("MERKLE_MISMATCH",
                           "merkle_root.txt does not match the files on disk",
                           path=layout.MERKLE_ROOT))
    sig_path = root / layout.MANIFEST_SIG
    if not sig_path.exists():
        out.append(Problem("MANIFEST_SIG_MISSING", "manifest.sig is missing",
                           path=layout.MANIFEST_SIG, severity=WARNING))
        return
    try:
        sig_doc = json.loads(sig_path.read_bytes())
        signer = vault.keyring().get(str(sig_doc.get("key_id")))
        why = check_manifest_sig(sig_doc, signer.public if signer else None)
    except (ValueError, AttributeError):
        why = "manifest.sig is not a readable JSON document"
    if why is not None:
        out.append(Problem("MANIFEST_SIG_INVALID", why, path=layout.MANIFEST_SIG))
    elif sig_doc.get("merkle_root") != recorded:
        # The reference never re-signs, so its vaults always look like this after one append.
        out.append(Problem("MANIFEST_SIG_STALE",
                           "manifest.sig signs an older merkle root (the reference "
                           "implementation never re-signs it)", path=layout.MANIFEST_SIG,
                           severity=WARNING))


def _check_attachments(vault: Vault, out: list[Problem]) -> None:
    seen: set[str] = set()
    for lineno, _, raw in vault.iter_raw_lines():
        if b'"attachments"' not in raw:
            continue
        ev = parse_line(raw, where=f"line {lineno}").event
        payload = ev.get("payload") if ev else None
        atts = payload.get("attachments") if isinstance(payload, dict) else None
        if not isinstance(atts, list):
            continue
        for att in atts:
            sha = att.get("sha256") if isinstance(att, dict) else None
            if not isinstance(sha, str) or sha in seen:
                continue
            seen.add(sha)
            eid = ev.get("event_id") if ev else None
            path = vault.root / layout.CAS_DIR / sha
            rel = f"{layout.CAS_DIR}/{sha}"
            if not path.is_file():
                out.append(Problem("ATTACHMENT_MISSING",
                                   f"{eid} references attachment {att.get('name')!r} "
                                   f"({sha[:12]}…), which is not in {layout.CAS_DIR}/",
                                   event_id=eid, line=lineno, path=rel))
                continue
            h = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != sha or path.stat().st_size != att.get("size"):
                out.append(Problem("ATTACHMENT_CORRUPT",
                                   f"attachment {att.get('name')!r} of {eid} no longer has the "
                                   "hash or size its event recorded", event_id=eid,
                                   line=lineno, path=rel))


def _check_seen(vault: Vault, log: LogReport, out: list[Problem]) -> None:
    """Events this profile saw before and the log no longer holds (store/seen_heads.py):
    a re-sealed manifest hides their removal from every check above, not from this one.
    Only looks; the memory moves on when the vault is opened for use, not by verify."""
    loss = seen_heads.for_vault(vault.home, vault.root, vault.uid).check(
        present=log.lines_by_id.__contains__, count=lambda: log.event_count, heads=None)
    if loss is not None:
        first = loss.missing[0] if loss.missing else None
        out.append(Problem("EVENTS_REMOVED", loss.message(str(vault.root)),
                           event_id=first.event_id if first else None,
                           actor=first.actor if first else None, path=layout.EVENTS))


def _numbered_lines(path: Path, digest: Any, size: list[int]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without newline) of every line, the last one too when it lacks
    its newline. Split in bulk: verification reads a million lines at the pace of two
    cores, so per-line bookkeeping here would show. The bytes also go into ``digest`` (and
    their count into ``size``): the manifest check then needs no second pass over the log,
    which at a million events was a second with one core idle."""
    lineno = 0
    rest = b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            size[0] += len(chunk)
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for raw in parts:
                lineno += 1
                yield lineno, raw
    if rest:
        yield lineno + 1, rest


def verify_vault(vault: Vault, *, workers: int = 2,
                 cancelled: Callable[[], bool] | None = None,
                 progress: Callable[[int], None] | None = None) -> VaultReport:
    problems: list[Problem] = [Problem("RECOVERED", n, severity=WARNING) for n in vault.notes]
    digest, size = hashlib.sha256(), [0]
    lines = _numbered_lines(vault.events_path, digest, size)
    log = verify_lines(lines, vault.keyring(), path=layout.EVENTS, workers=workers,
                       cancelled=cancelled, progress=progress,
                       size_hint=vault.index.count())
    _check_files(vault, problems, {layout.EVENTS: {
        "path": layout.EVENTS, "sha256": digest.hexdigest(), "size": size[0]}})
    report = VaultReport(log=log, problems=problems)
    _check_attachments(vault, problems)
    _check_seen(vault, log, problems)
    wanted = {eid: log.lines_by_id[eid] for f in log.forks for eid in f.event_ids}
    if wanted:
        by_line = {v: k for k, v in wanted.items()}
        for lineno, _, raw in vault.iter_raw_lines():
            if lineno in by_line:
                report.fork_events[by_line[lineno]] = json.loads(raw)
    # A foreign key that signs nothing is fine; a key entry that cannot be used is not.
    for entry in vault.keyring().entries.values():
        if entry.entry_error:
            problems.append(Problem("BAD_KEY_ENTRY", entry.entry_error, path=layout.KEYS,
                                    severity=WARNING))
    return report

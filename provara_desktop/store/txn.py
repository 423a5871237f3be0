"""Crash-safe multi-file commits for a vault directory.

A change to a vault touches several files (events.ndjson, keys.json, manifest.json,
merkle_root.txt, manifest.sig, attachments). We write the whole intended result to a journal
inside ``.provara-txn/`` first; renaming the journal into place is the commit point. After a
crash (kill -9 at any instant) the next open either finds no committed journal, deletes the
half-written transaction directory and has the old vault, or finds one and rolls it forward
to the new vault. Bytes before the journal's offset in events.ndjson are never touched, so
rolling forward is idempotent and no evidence already on disk can be lost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provara_desktop.core.errors import StoreError
from provara_desktop.store.layout import EVENTS, TXN_DIR

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

JOURNAL = "journal.json"
# v2 keeps the new log tail in a file of its own beside the journal: v1 held it as base64
# inside the JSON, which cost more than a second per 100k imported events to write and read.
JOURNAL_FORMAT = "provara-desktop-journal-v2"
_READABLE_FORMATS = ("provara-desktop-journal-v1", JOURNAL_FORMAT)
TAIL = "events.tail"


def fsync_dir(path: Path) -> None:
    if os.name != "posix":  # directory fsync is a POSIX notion
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@dataclass
class Change:
    """Everything one operation does to a vault."""

    events_offset: int  # events.ndjson keeps its first events_offset bytes...
    events_tail: bytes  # ...followed by these
    files: dict[str, bytes] = field(default_factory=dict)  # whole-file writes
    staged: dict[str, Path] = field(default_factory=dict)  # dest rel path -> staged file


def begin(root: Path) -> Path:
    """Create the transaction directory; refuses if one is left over (recover first)."""
    txn = root / TXN_DIR
    try:
        txn.mkdir()
    except FileExistsError:
        raise StoreError(
            f"{txn} exists: another operation is in progress or was interrupted; "
            "open the vault again to recover it") from None
    (txn / "staged").mkdir()
    # Make the transaction directory's own entry durable before anything in the vault is
    # touched, so that after a power cut a committed journal is never missing its directory.
    fsync_dir(txn)
    fsync_dir(root)
    return txn


def stage_file(txn: Path, data_source: Path, name: str) -> Path:
    """Copy an attachment into the transaction dir (same filesystem, so it can be renamed
    into artifacts/ at commit time without a second copy). ``name`` is the sha256 the event
    records for it: the copy is hashed as it is made, and a file that changed since it was
    hashed (still being written or downloaded) is refused rather than stored under a hash
    it does not have."""
    dest = txn / "staged" / name
    h = hashlib.sha256()
    with data_source.open("rb") as src, dest.open("wb") as out:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if h.hexdigest() != name:
        raise StoreError(f"{data_source} changed while it was being attached (is it still "
                         "being written?); nothing was written, try again when it is complete")
    return dest


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read()


def commit(root: Path, txn: Path, change: Change) -> None:
    # What the log holds from the offset on *before* this change (empty for a plain append,
    # the old tail for a reorder): recovery uses it to tell the states a crash of ours can
    # leave from a log that another program changed afterwards.
    old_tail = _read_from(root / EVENTS, change.events_offset)
    # The tail is durable before the journal names it, so a committed journal always has
    # its whole tail beside it; the hash guards against anything else.
    write_file_durably(txn / TAIL, change.events_tail)
    doc = {
        "format": JOURNAL_FORMAT,
        "events_offset": change.events_offset,
        "events_tail_file": TAIL,
        "events_tail_sha256": hashlib.sha256(change.events_tail).hexdigest(),
        "events_old_tail_sha256": hashlib.sha256(old_tail).hexdigest(),
        "files": {rel: base64.b64encode(data).decode("ascii")
                  for rel, data in change.files.items()},
        "staged": {rel: p.name for rel, p in change.staged.items()},
    }
    tmp = txn / (JOURNAL + ".tmp")
    write_file_durably(tmp, json.dumps(doc).encode("utf-8"))
    os.replace(tmp, txn / JOURNAL)  # the commit point
    fsync_dir(txn)
    _apply(root, txn, doc, change.events_tail)
    _finish(root, txn)


def abort(root: Path, txn: Path) -> None:
    """Drop an uncommitted transaction: nothing in the vault itself was touched yet."""
    shutil.rmtree(txn, ignore_errors=True)
    fsync_dir(root)


def _journal_tail(txn: Path, doc: dict[str, object]) -> bytes:
    """The new log tail a committed journal stands for (v1: inline, v2: its own file)."""
    if "events_tail_b64" in doc:
        return base64.b64decode(str(doc["events_tail_b64"]))
    path = txn / str(doc.get("events_tail_file"))
    try:
        tail = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{path}: the journal's copy of the new log tail cannot be read "
                         f"({exc.strerror}); the vault was left untouched") from None
    if hashlib.sha256(tail).hexdigest() != doc.get("events_tail_sha256"):
        raise StoreError(f"{path}: the journal's copy of the new log tail is damaged (its "
                         "hash differs from the journal's); the vault was left untouched")
    return tail


def _apply(root: Path, txn: Path, doc: dict[str, object], tail: bytes) -> None:
    offset = doc["events_offset"]
    assert isinstance(offset, int)
    events = root / EVENTS
    with events.open("r+b") as f:
        f.truncate(offset)
        f.seek(offset)
        f.write(tail)
        f.flush()
        os.fsync(f.fileno())
    files = doc["files"]
    assert isinstance(files, dict)
    for rel, b64 in files.items():
        dest = root / rel
        tmp = txn / ("write-" + rel.replace("/", "_"))
        write_file_durably(tmp, base64.b64decode(b64))
        os.replace(tmp, dest)
    staged = doc["staged"]
    assert isinstance(staged, dict)
    for rel, name in staged.items():
        src = txn / "staged" / str(name)
        dest = root / rel
        if src.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
    for d in {(root / rel).parent for rel in [*files, *staged, EVENTS]}:
        fsync_dir(d)


def _finish(root: Path, txn: Path) -> None:
    shutil.rmtree(txn)
    fsync_dir(root)


def recover(root: Path) -> str | None:
    """Finish or drop an interrupted transaction. Returns a sentence saying what was done,
    or None when there was nothing to recover."""
    txn = root / TXN_DIR
    if not txn.exists():
        return None
    journal = txn / JOURNAL
    if not journal.exists():
        abort(root, txn)
        return ("an operation was interrupted before it committed; it was discarded and the "
                "vault is exactly as it was before it")
    why: str | None
    try:
        doc = json.loads(journal.read_bytes())
    except ValueError as exc:  # UnicodeDecodeError included
        doc, why = None, str(exc)
    else:
        # Not only a wrong format string: a journal that is valid JSON but not an object
        # crashed here with an AttributeError (a traceback instead of this message).
        fmt = doc.get("format") if isinstance(doc, dict) else None
        why = None if fmt in _READABLE_FORMATS else f"unknown journal format {fmt!r}"
    if why is not None or not isinstance(doc, dict):
        raise StoreError(f"{journal}: cannot read the journal of an interrupted operation "
                         f"({why}); the vault was left untouched")
    size = (root / EVENTS).stat().st_size
    offset = doc["events_offset"]
    tail = _journal_tail(txn, doc)
    now = _read_from(root / EVENTS, offset) if size >= offset else None
    old_sha = doc.get("events_old_tail_sha256")
    # A crash of ours leaves the log as it was (old tail still there) or with a prefix of
    # the new tail from the offset. Anything else means another program (e.g. `provara
    # append`) wrote it after the crash: rolling forward would truncate its events away.
    if old_sha is not None and (now is None or not (
            tail.startswith(now) or hashlib.sha256(now).hexdigest() == old_sha)):
        raise StoreError(
            f"{root / EVENTS} was changed by another program after an operation of ours was "
            f"interrupted (its journal is in {txn}); completing that operation now would "
            "overwrite those changes, so nothing was done. Move the journal directory out "
            "of the vault to keep the log as it is, then run verify.")
    torn = size > offset and size < offset + len(tail)
    _apply(root, txn, doc, tail)
    _finish(root, txn)
    what = "a torn last line in events.ndjson was completed from the journal; " if torn else ""
    log.warning("recovered interrupted operation in %s", root)
    return (f"{what}an interrupted operation had committed; it was completed from its "
            "journal")

"""Atomic import of events signed by other keys (bundles, delta files, later LAN sync).

One transaction through the vault's journal (store/txn.py), exactly like ``Vault.append``:
the new events take their place in the deterministic total order (a tail of the log is
rewritten when some sort before events already there), the public keys that sign them are
added to identity/keys.json so the reference's ``provara verify`` can resolve them,
attachments land in artifacts/cas/<sha256>, manifest.json / merkle_root.txt / manifest.sig are
regenerated (signed by the importing user), and the SQLite index follows. Either all of it
happens or none of it: a failure or a cancel before the commit point leaves the vault
byte-for-byte as it was.

The caller has already verified the events (ids, signatures, chains, trust); this module
only refuses what would corrupt the vault under the lock: nothing is re-verified here.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import UserCancelled
from provara_desktop.core.event import order_key, utc_now_iso
from provara_desktop.core.logline import join_lines, parse_line_or_raise
from provara_desktop.core.order import total_order
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store import layout, txn
from provara_desktop.store.index import IndexRow, row_from_event
from provara_desktop.store.vault import OpResult

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from provara_desktop.core.event import Event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

log = logging.getLogger(__name__)
_ROWS_PER_APPEND = 20_000

# The fields of a keys.json entry we carry over from another vault (nothing else: a bundle
# must not be able to plant arbitrary data in identity/keys.json).
_KEY_FIELDS = ("key_id", "algorithm", "public_key_b64", "roles", "scopes", "status",
               "created_at_utc", "revoked_at_utc", "revocation_event_id", "promotion_event_id")


def present_ids(vault: Vault, ids: set[str]) -> set[str]:
    """Which of ``ids`` the vault already holds: one scan of the index when the batch is
    large next to the vault, else one lookup per id."""
    index = vault.index
    if index.count() <= 4 * len(ids):
        held: set[str] = set()
        after = -1
        while rows := index.query(after_pos=after, limit=50_000):
            held.update(r.event_id for r in rows)
            after = rows[-1].pos
        return held & ids
    return {eid for eid in ids if index.get(eid) is not None}


def _clean_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in _KEY_FIELDS if k in entry}


@gc_paused()
def merge_foreign(vault: Vault, events: Sequence[Event], *, signer: SigningKey,
                  key_entries: Sequence[Mapping[str, Any]] = (),
                  attachments: Mapping[str, Callable[[Path], None]] | None = None,
                  lines: Mapping[str, bytes] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> OpResult:
    """Add ``events`` (those the vault does not hold yet) in one atomic transaction.

    ``key_entries``: keys.json entries for the keys that sign them (added when missing).
    ``attachments``: sha256 -> a function writing that attachment's verified bytes to a path
    (the bundle reader streams it straight into the transaction's staging directory).
    ``lines``: event_id -> the event's canonical line, when the caller has it (saves
    encoding every event again).
    """
    result = OpResult()

    def check_cancel() -> None:
        if cancelled is not None and cancelled():
            raise UserCancelled("import cancelled; the vault was not changed")

    with vault._locked():
        vault._check_external_change(result)
        held = present_ids(vault, {str(e.get("event_id")) for e in events})
        new = [e for e in events if e.get("event_id") not in held]
        if not new:
            return result
        signing = {e.get("actor_key_id") for e in new}
        size = vault.events_path.stat().st_size
        count = vault.index.count()
        start, merged, old_tail = _placement(vault, new, size, count)
        if start < count:
            result.reordered_from = start
            result.notes.append(f"imported events sort before {count - start} existing "
                                "event(s); the log tail was rewritten in total order")
            fresh = {e.get("event_id") for e in new}
            result.events = [e for e in merged if e.get("event_id") in fresh]
        else:
            result.events = merged  # the new events only, in their log order
        result.in_log_order = True
        raws = [(lines or {}).get(str(e.get("event_id"))) or canonical_bytes(e) for e in merged]
        tail = join_lines(raws)
        change = txn.Change(events_offset=vault._offset_of(start, size), events_tail=tail)
        keys_doc = vault._keys_with(signer)
        listed = {k.get("key_id") for k in keys_doc["keys"] if isinstance(k, dict)}
        added = [_clean_entry(k) for k in key_entries
                 if k.get("key_id") in signing and k.get("key_id") not in listed]
        if added:
            keys_doc = {**keys_doc, "keys": [*keys_doc["keys"], *added]}
            result.notes.append(f"{len(added)} key(s) added to identity/keys.json: "
                                + ", ".join(str(k["key_id"]) for k in added))
        if keys_doc is not vault.keys_doc:
            change.files[layout.KEYS] = layout.pretty_json(keys_doc)
        check_cancel()
        handle = txn.begin(vault.root)
        try:
            for sha, write in sorted((attachments or {}).items()):
                rel = f"{layout.CAS_DIR}/{sha}"
                if (vault.root / rel).exists():
                    continue
                check_cancel()
                dest = handle / "staged" / sha
                write(dest)
                change.staged[rel] = dest
            check_cancel()
            log_hash = vault._log_hash_after(change, size, old_tail)
            vault._write_manifest(change, signer, log_hash, len(tail) + change.events_offset)
        except BaseException:
            txn.abort(vault.root, handle)
            # The cached manifest entries may now name staged files that never landed:
            # forget them and re-read what is on disk.
            vault._entries_checked = False
            vault._load_documents()
            raise
        txn.commit(vault.root, handle, change)  # the commit point: no cancel after this
        vault.keys_doc = keys_doc
        offset = change.events_offset
        vault._log_size = offset + len(tail)
        vault._manifest_seen = vault._manifest_stamp()
        vault._log_hasher = log_hash
        # The written tail is as large as the events' NDJSON (50 MB per 100k events): let
        # it go before the index rows are made, rather than hold both at the peak.
        del change, tail, old_tail
        _reindex(vault, start, count, offset, merged, raws)
    log.info("imported %d event(s) into %s", len(new), vault.root)
    return result


def placement(vault: Vault, new: Sequence[Event]) -> tuple[int, list[Event]]:
    """Where ``new`` would go in the vault's total order: (the first log position that
    would be rewritten, the events from there on in their final order). Positions before
    it keep their events; normally it is the vault's event count (everything new sorts
    after what is there). Reads the vault, changes nothing."""
    size = vault.events_path.stat().st_size
    start, merged, _old_tail = _placement(vault, new, size, vault.index.count())
    return start, merged


def _placement(vault: Vault, new: Sequence[Event], size: int,
               count: int) -> tuple[int, list[Event], bytes]:
    """Where the new events go in the total order: (first log position rewritten, the
    events from there on in order, the old tail bytes they replace). As Vault.append's,
    but the old tail is parsed only when events really sort before existing ones."""
    new_ids = {e.get("event_id") for e in new}
    index = vault.index
    start = count
    for ev in new:
        prev = ev.get("prev_event_hash")
        if prev in new_ids:
            continue  # placed after its predecessor in the batch, wherever that goes
        prev_row = index.get(prev) if isinstance(prev, str) else None
        after = prev_row.pos if prev_row is not None and prev_row.actor == ev.get(
            "actor") else -1
        later = index.first_pos_sorting_after(after, order_key(ev))
        if later is not None:
            start = min(start, later)
    old_tail = b""
    old: list[Event] = []
    if start < count:
        with vault.events_path.open("rb") as f:
            f.seek(vault._offset_of(start, size))
            old_tail = f.read()
        old = [parse_line_or_raise(raw, where=f"{vault.events_path} line {start + i + 1}")
               for i, raw in enumerate(old_tail.split(b"\n")) if raw.strip()]
    merged = [*old, *new]
    return start, [merged[i] for i in total_order(merged)], old_tail


def _reindex(vault: Vault, start: int, count: int, offset: int, events: Sequence[Event],
             raws: Sequence[bytes]) -> None:
    """The index rows from ``start`` on, in one transaction, keeping when this replica
    first saw the events that were already there (one query, not one per row)."""
    index = vault.index
    seen: dict[str, str] = {}
    if start < count:
        after = start - 1
        while rows := index.query(after_pos=after, limit=50_000):
            seen.update((r.event_id, r.first_seen_utc) for r in rows)
            after = rows[-1].pos
    now = utc_now_iso()
    # Rows go in a slice at a time (one transaction all the same): 100k rows held at once
    # were ~25 MB more at the peak of an import. Slices of at least _ROWS_PER_APPEND keep a
    # deferred-index bulk load deferred (store/index.py BULK_MIN_ROWS).
    slices = max(1, len(events) // _ROWS_PER_APPEND)
    step = max(1, -(-len(events) // slices))
    off = offset
    with index.transaction():
        if start < count:
            index.truncate(start, log_bytes=offset, last_line_sha256=None)
        for lo in range(0, len(events), step):
            batch: list[IndexRow] = []
            for i in range(lo, min(lo + step, len(events))):
                ev, raw = events[i], raws[i]
                batch.append(row_from_event(
                    ev, pos=start + i, offset=off, length=len(raw),
                    first_seen_utc=seen.get(str(ev.get("event_id")), now)))
                off += len(raw) + 1
            index.append(batch, log_bytes=off,
                         last_line_sha256=hashlib.sha256(raws[i]).hexdigest())

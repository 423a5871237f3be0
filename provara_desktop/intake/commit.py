"""The atomic commit of foreign events into a vault (a bundle's import plan today, a
peer's batch tomorrow).

One transaction through the vault's own write path (``Vault.writing`` and
``Vault.replace_tail``, the journal of store/txn.py), exactly like ``Vault.append``: the new
events take their place in the deterministic total order (a tail of the log is rewritten
when some sort before events already there), the public keys that sign them are added to
identity/keys.json so the reference's ``provara verify`` can resolve them (a key registry,
not a trust decision), attachments land in artifacts/cas/<sha256>, the manifest is re-sealed
by the importing user, and the SQLite index follows. Either all of it happens or none of it:
a failure or a cancel before the commit point leaves the vault byte-for-byte as it was.

The caller has already checked the events (ids, signatures, chains, trust); nothing is
re-verified here.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import UserCancelled
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.logline import join_lines
from provara_desktop.intake.placement import placement_with_tail
from provara_desktop.intake.vault_checks import present_ids
from provara_desktop.runtime.gcpause import gc_paused
from provara_desktop.store.index_rows import IndexRow, row_from_event
from provara_desktop.store.vault import OpResult

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from provara_desktop.core.event import Event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.intake.plan import ImportPlan
    from provara_desktop.store.vault import Vault

log = logging.getLogger(__name__)
_ROWS_PER_APPEND = 20_000


def commit(vault: Vault, p: ImportPlan[Any], *, signer: SigningKey,
           cancelled: Callable[[], bool] | None = None) -> ImportPlan[Any]:
    """Write the plan's new events into the vault atomically (nothing, when there are none)."""
    batch = p.check.batch

    def writer(sha: str) -> Callable[[Path], None]:
        return lambda dest: batch.extract_attachment(sha, dest)

    atts = {sha: writer(sha) for sha in p.attachments}
    result = commit_events(vault, p.new_events, signer=signer,
                           key_entries=batch.key_entries, attachments=atts,
                           lines=p.check.lines_by_id, cancelled=cancelled)
    p.imported = len(result.events)
    p.notes.extend(result.notes)
    p.result = result
    return p


@gc_paused()
def commit_events(vault: Vault, events: Sequence[Event], *, signer: SigningKey,
                  key_entries: Sequence[Mapping[str, Any]] = (),
                  attachments: Mapping[str, Callable[[Path], None]] | None = None,
                  lines: Mapping[str, bytes] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> OpResult:
    """Add ``events`` (those the vault does not hold yet) in one atomic transaction.

    ``key_entries``: keys.json entries for the keys that sign them (added when missing).
    ``attachments``: sha256 -> a function writing that attachment's verified bytes to a path
    (a bundle reader streams it straight into the transaction's staging directory).
    ``lines``: event_id -> the event's canonical line, when the caller has it (saves
    encoding every event again).
    """
    result = OpResult()

    def check_cancel() -> None:
        if cancelled is not None and cancelled():
            raise UserCancelled("import cancelled; the vault was not changed")

    with vault.writing(result):
        held = present_ids(vault, {str(e.get("event_id")) for e in events})
        new = [e for e in events if e.get("event_id") not in held]
        if not new:
            return result
        signing = {e.get("actor_key_id") for e in new}
        count = vault.index.count()
        start, merged, old_tail = placement_with_tail(vault, new)
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
        offset = vault.replace_tail(
            result, start=start, tail=tail, old_tail=old_tail, signer=signer,
            key_entries=[k for k in key_entries if k.get("key_id") in signing],
            attachments=attachments, check_cancel=check_cancel, new_events=new)
        # The written tail is as large as the events' NDJSON (50 MB per 100k events): let
        # it go before the index rows are made, rather than hold both at the peak.
        del tail, old_tail
        _reindex(vault, start, count, offset, merged, raws)
    log.info("imported %d event(s) into %s", len(new), vault.root)
    return result


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

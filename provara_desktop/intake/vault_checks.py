"""What a foreign batch means to a receiving vault: which events it already holds, whether
the prerequisites are there, chains that continue the vault's (forks included), and
attachments carried or held (who may sign under which label: labels.py). Reads the vault;
changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.actor_labels import key_prefix, label_key_prefix, squats
from provara_desktop.core.errors import InputError
from provara_desktop.core.order import Fork
from provara_desktop.core.verify import WARNING, Problem
from provara_desktop.intake.attachment_refs import attachment_refs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.intake.batch import ForeignBatch
    from provara_desktop.store.index import EventIndex
    from provara_desktop.store.index_rows import IndexRow
    from provara_desktop.store.vault import Vault

EVENTS_PATH = "events.ndjson"
_PAGE = 10_000


class _Squatters:
    """Whether a row of the vault squats its label (core/actor_labels.py): a squatter's
    events that reached the vault before labels were checked are no part of the label's
    chain, so they make no fork with the genuine key's events that arrive. Every promotion
    in the vault counts here (read only when a key does not match its label): one that
    should not only leaves a squatter's event in the fork check, as before."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._promotions: dict[str, set[str]] | None = None

    def __call__(self, row: IndexRow) -> bool:
        actor, kid = row.actor, row.actor_key_id
        if actor is None or kid is None:
            return False
        prefix = label_key_prefix(actor)
        if prefix is None or key_prefix(kid) == prefix:
            return False
        if self._promotions is None:
            self._promotions = {}
            for r in self.vault.index.query(type="KEY_PROMOTION"):
                p = self.vault.read_row(r).get("payload")
                old = p.get("replaces_key_id") if isinstance(p, dict) else None
                new = p.get("new_key_id") if isinstance(p, dict) else None
                if isinstance(old, str) and isinstance(new, str):
                    self._promotions.setdefault(old, set()).add(new)
        return squats(actor, kid, self._promotions)


def _first_of_chain(index: EventIndex, actor: str, squatter: _Squatters) -> IndexRow | None:
    """The actor's first event in the vault that is not a squatter's."""
    after = -1
    limit = 1  # the first row is the answer unless a squatter got in first
    while rows := index.query(actor=actor, after_pos=after, limit=limit):
        for r in rows:
            if not squatter(r):
                return r
        after, limit = rows[-1].pos, _PAGE
    return None


def present_ids(vault: Vault, ids: set[str]) -> set[str]:
    """Which of ``ids`` the vault already holds (a few hundred ids per index query)."""
    return set(vault.index.get_many(ids))


def check_against_vault(vault: Vault, events: Sequence[dict[str, Any]], *,
                        prerequisites: Sequence[str], legacy_ids: Sequence[str],
                        problems: list[Problem], forks: list[Fork],
                        missing: list[str]) -> set[str]:
    """Add to ``problems``, ``forks`` and ``missing`` (prerequisites the vault lacks) what the
    vault says about ``events``; return the ids it already holds. (Who may sign under which
    label is intake/labels.py.)"""
    index = vault.index
    present = present_ids(vault, {str(ev.get("event_id")) for ev in events})
    held_prereqs = index.get_many(prerequisites)
    missing.extend(eid for eid in prerequisites if eid not in held_prereqs)
    # A legacy (rule B) id does not cover actor_key_id: the same id can name two different
    # events. Rule-A ids are content hashes, so a held one is the same event.
    legacy = present & set(legacy_ids)
    by_id = {ev.get("event_id"): ev for ev in events
             if ev.get("event_id") in legacy} if legacy else {}
    for eid in sorted(legacy):
        row = index.get(eid)
        mine = by_id.get(eid)
        if row is not None and mine is not None and vault.read_row(row) != mine:
            problems.append(Problem(
                "EVENT_ID_CONFLICT", f"{eid} is already in the vault with different content: "
                "it conflicts with the vault's chains", event_id=eid, path=EVENTS_PATH))
    prereq_set = set(prerequisites)
    squatter = _Squatters(vault)
    has_events: dict[str, bool] = {}
    for ev in events:
        actor = str(ev.get("actor"))
        eid = str(ev.get("event_id"))
        if eid in present:
            continue  # already held: nothing to add, nothing to check against
        if actor not in has_events:
            has_events[actor] = bool(index.query(actor=actor, limit=1))
        prev = ev.get("prev_event_hash")
        held_prev = isinstance(prev, str) and (prev in prereq_set or prev in present)
        if held_prev and isinstance(prev, str):
            row = index.get(prev)
            if row is not None and row.actor != actor:
                problems.append(Problem(
                    "CHAIN_BROKEN", f"{eid} (actor {actor}) chains to {prev}, an event of "
                    f"another actor ({row.actor}) in the vault", event_id=eid, actor=actor,
                    path=EVENTS_PATH))
            elif row is not None:
                # The vault already continues the chain after prev with another event of
                # this actor: equivocation. Asked of prev's own successors, not of the
                # actor's latest event, which is wrong when the vault already holds a fork.
                other = next((r.event_id for r in index.successors(prev)
                              if r.actor == actor and r.event_id != eid
                              and not squatter(r)), None)
                if other is not None:
                    forks.append(Fork(actor, prev, (other, eid)))
        elif prev is None and has_events[actor]:
            first = _first_of_chain(index, actor, squatter)
            if first is not None and first.prev_event_hash is None:
                forks.append(Fork(actor, None, (first.event_id, eid)))
    return present


def check_attachments(batch: ForeignBatch, events: Sequence[dict[str, Any]],
                      vault: Vault | None) -> list[Problem]:
    """Every attachment an event references is carried (undamaged, of the size the event
    records), already in the vault, or left out on purpose by the source."""
    problems: list[Problem] = []
    if not batch.carries_attachments:
        refs = {r["sha256"] for ev in events for r in attachment_refs(ev)}
        if refs:
            fmt = batch.describe().get("format", "this source")
            problems.append(Problem(
                "ATTACHMENTS_NOT_CARRIED",
                f"{len(refs)} attachment(s) are referenced but a {fmt} file cannot "
                "carry them", path=EVENTS_PATH, severity=WARNING))
        return problems
    carried = batch.carried_attachments()
    for sha in sorted(carried):  # every carried one, not only those the events name
        try:
            batch.check_attachment(sha)
        except InputError as exc:
            # The detail only: the refusal names the bundle itself (it was there twice).
            problems.append(Problem("MEMBER_DAMAGED", exc.detail, path=f"artifacts/cas/{sha}"))
    for ev in events:
        for ref in attachment_refs(ev):
            sha = ref["sha256"]
            if sha in carried:
                if carried[sha] != ref.get("size"):
                    problems.append(Problem(
                        "ATTACHMENT_SIZE", f"attachment {sha[:12]}… of {ev.get('event_id')} "
                        "is not the size its event records", event_id=ev.get("event_id"),
                        path=EVENTS_PATH))
                continue
            in_vault = vault is not None and (vault.root / "artifacts/cas" / sha).is_file()
            if not in_vault and not batch.attachment_may_be_missing(sha):
                problems.append(Problem(
                    "ATTACHMENT_MISSING", f"attachment {sha[:12]}… of {ev.get('event_id')} "
                    "is neither in the bundle nor in the vault", event_id=ev.get("event_id"),
                    path=EVENTS_PATH))
    return problems

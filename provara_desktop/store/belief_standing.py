"""Where a belief stands, read from the reducer and the index: the namespaces a key is in
and its value (the inspector's "what did this event change"), and for a contested key its
competing values and their evidence (the contested workbench). Reads only; the workbench's
cache of these summaries lives beside it (ui/contested_cache.py).

Read the reducer where it is not being advanced at the same time (the session's writer or
query thread, or under ``VaultSession.reading_beliefs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provara_desktop.core.reducer import Reducer
    from provara_desktop.store.vault import Vault


@dataclass(frozen=True, slots=True)
class BeliefStanding:
    """Where a subject:predicate stands in the current beliefs."""

    key: str
    namespaces: tuple[str, ...]  # usually one; the reducer can list a key in two
    value: Any = None
    summary: str = ""


def belief_key(event: Mapping[str, Any]) -> str | None:
    """The subject:predicate an event speaks about, as the reducer keys it, or None."""
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return None
    subject, predicate = payload.get("subject"), payload.get("predicate")
    if not subject or not predicate:
        return None
    return f"{subject}:{predicate}"


def belief_standing(reducer: Reducer, key: str) -> BeliefStanding:
    """Where ``key`` stands now. Reads the reducer: call it where the reducer is not being
    advanced at the same time (the session's writer thread, or with its state settled)."""
    namespaces = []
    value: Any = None
    parts = []
    if key in reducer.canonical:
        namespaces.append("canonical")
        value = reducer.canonical[key].get("value")
        parts.append(f"canonical: {value!r}")
    if key in reducer.local:
        namespaces.append("local")
        if value is None:
            value = reducer.local[key].get("value")
        parts.append(f"local: {reducer.local[key].get('value')!r}")
    entry = reducer.contested_entry(key)
    if entry is not None:
        namespaces.append("contested")
        parts.append(f"contested between {len(entry['evidence_by_value'])} values")
    if key in reducer.archived:
        namespaces.append("archived")
        if not parts:
            parts.append(f"archived ({len(reducer.archived[key])} superseded values)")
    return BeliefStanding(key, tuple(namespaces), value, "; ".join(parts) or "no belief")


@dataclass(frozen=True, slots=True)
class ContestedSummary:
    """One contested belief, as the workbench lists it."""

    key: str  # subject:predicate as the reducer keys it
    subject: str
    predicate: str
    reason: str  # conflicts_with_local / conflicts_with_canonical
    values: int  # distinct competing values
    evidence: int  # pieces of evidence in the contested entry
    # Some of the evidence is a forked event: the "disagreement" may be one key holder
    # equivocating, not two sources differing. Shown as such, never mixed up.
    involves_fork: bool = False


@dataclass(frozen=True)
class ContestedDetail:
    summary: ContestedSummary
    canonical_value: Any  # the canonical value when the contest arose (None if none)
    # canonical JSON of each value -> its evidence (reducer evidence dicts), in order
    by_value: dict[str, list[dict[str, Any]]]

    def targets_for(self, chosen: str | None) -> list[str]:
        """Every contested piece of evidence, the chosen value's first: an attestation
        settling the contest records them all, and the reducer's provenance is the first."""
        ordered = list(self.by_value.get(chosen, [])) if chosen is not None else []
        for value, evidence in self.by_value.items():
            if value != chosen:
                ordered.extend(evidence)
        seen: set[str] = set()
        out = []
        for ev in ordered:
            eid = ev.get("event_id")
            if isinstance(eid, str) and eid not in seen:
                seen.add(eid)
                out.append(eid)
        return out


def _split_key(key: str, ids: list[Any], vault: Vault) -> tuple[str, str]:
    # The reducer joins subject and predicate with ":" and either may hold one; the first
    # piece of evidence (``ids``: the contested evidence's event ids) says which is meant.
    for eid in ids[:1]:
        row = vault.index.get(str(eid))
        if row is not None and row.subject is not None and row.predicate is not None \
                and f"{row.subject}:{row.predicate}" == key:
            return row.subject, row.predicate
    subject, _, predicate = key.rpartition(":")
    return subject, predicate


def contested_summary(reducer: Reducer, vault: Vault, key: str,
                      forked: frozenset[str] | set[str] = frozenset()
                      ) -> ContestedSummary | None:
    """The list row of a contested ``key`` (None when it is not contested), without
    grouping its evidence: a hot key's evidence, a dict per piece, cost ~1.5 s for the 43
    contested beliefs of a million-event vault, GIL-bound work that stalled the window."""
    values = reducer.contested_values(key)
    if values is None:
        return None
    reason, count, texts = values
    ids = reducer.contested_ids(key)
    subject, predicate = _split_key(key, ids, vault)
    involves_fork = bool(forked) and not frozenset(forked).isdisjoint(ids)
    return ContestedSummary(key, subject, predicate, reason, len(texts), count, involves_fork)


def contested_detail(reducer: Reducer, vault: Vault, key: str,
                     forked: frozenset[str] | set[str] = frozenset()) -> ContestedDetail | None:
    """The contested entry of ``key`` with its evidence grouped by value, or None when the
    key is not contested. Read the reducer where it is not being advanced (the writer)."""
    entry = reducer.contested_entry(key)
    summary = contested_summary(reducer, vault, key, forked)
    if entry is None or summary is None:
        return None
    return ContestedDetail(summary, entry["canonical_value"], entry["evidence_by_value"])

"""Which events of a vault an export carries: all, a delta against a receiver's frontier,
and/or a selection by actors, namespaces and a time range (all filters combine with AND)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle import frontier as frontier_mod
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import UsageError
from provara_desktop.core.logline import load_event

if TYPE_CHECKING:
    from provara_desktop.bundle.frontier import Frontier
    from provara_desktop.store.federation import Flow
    from provara_desktop.store.vault import Vault

NAMESPACES = ("canonical", "local", "contested", "archived")


def parse_time(text: str, *, what: str) -> datetime:
    """An ISO 8601 time ("2026-03-01", "2026-03-01T10:00:00Z", "...+02:00"); UTC if no
    offset is given."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-03-01 or "
                         "2026-03-01T10:00:00+00:00)") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def effective_namespace(ev: dict[str, Any]) -> str:
    """The namespace the reducer files an event under (unknown or absent -> local)."""
    ns = ev.get("namespace")
    ns = ns.lower() if isinstance(ns, str) else ""
    return ns if ns in NAMESPACES else "local"


@dataclass
class Selection:
    actors: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    frontier: Frontier | None = None
    # Under a federation contract: what may flow to the member the bundle is for
    # (store/federation.Flow); excluded events, and the rest of their chains, stay here
    flow: Flow | None = None

    def __post_init__(self) -> None:
        for ns in self.namespaces:
            if ns not in NAMESPACES:
                raise UsageError(f"--namespace {ns!r}: expected one of {', '.join(NAMESPACES)}")
        self._since = parse_time(self.since, what="--since") if self.since else None
        self._until = parse_time(self.until, what="--until") if self.until else None
        if self._since and self._until and self._since >= self._until:
            raise UsageError("--since must be earlier than --until")

    @property
    def kind(self) -> str:
        if self.actors or self.namespaces or self.since or self.until:
            return "selection"
        return "delta" if self.frontier is not None else "full"

    def scope_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "actors": sorted(self.actors),
                               "namespaces": sorted(self.namespaces), "since": self.since,
                               "until": self.until, "since_frontier": self.frontier is not None}
        if self.flow is not None:
            c = self.flow.applied.contract
            doc["federation"] = {"contract_id": c.contract_id, "revision": c.revision,
                                 "digest": c.digest(), "from": self.flow.sender,
                                 "to": self.flow.receiver}
        return doc

    def wants(self, ev: dict[str, Any]) -> bool:
        if self.actors and ev.get("actor") not in self.actors:
            return False
        if self.namespaces and effective_namespace(ev) not in self.namespaces:
            return False
        if self._since or self._until:
            ts = ev.get("timestamp_utc")
            try:
                t = parse_time(ts, what="timestamp") if isinstance(ts, str) else None
            except UsageError:
                t = None
            if t is None:  # an unreadable timestamp is outside every time range
                return False
            if self._since and t < self._since:
                return False
            if self._until and t >= self._until:
                return False
        return True


@dataclass
class Selected:
    lines: list[bytes]  # canonical lines (no newline), in log order
    events: list[dict[str, Any]]
    prerequisites: list[str]  # prevs outside the selection that the vault holds
    dangling: list[str]  # prevs the vault does not hold either
    frontier: Frontier  # the whole vault's frontier (the sender's)
    vault_event_count: int


def select(vault: Vault, selection: Selection) -> Selected:
    all_events: list[dict[str, Any]] = []
    all_lines: list[bytes] = []
    for lineno, _, raw in vault.iter_raw_lines():
        if not raw.strip():
            continue
        ev = load_event(raw, where=f"{vault.events_path} line {lineno}")
        all_events.append(ev)
        all_lines.append(raw)
    chain = frontier_mod.chain_of(all_events)
    known: set[str] = set()
    if selection.frontier is not None:
        known = frontier_mod.known_events(selection.frontier, chain)
    lines: list[bytes] = []
    events: list[dict[str, Any]] = []
    cut: set[str] = set()  # authors whose chain met an event the contract keeps here
    flow = selection.flow
    for raw, ev in zip(all_lines, all_events, strict=True):
        eid = ev.get("event_id")
        if flow is not None:
            actor = str(ev.get("actor"))
            if actor in cut:
                continue
            if not flow.admits(ev.get("type"), ev.get("actor_key_id"), ev.get("namespace")):
                cut.add(actor)
                continue
        if (isinstance(eid, str) and eid in known) or not selection.wants(ev):
            continue
        canon = canonical_bytes(ev)
        lines.append(raw if canon == raw else canon)
        events.append(ev)
    chosen = {e for ev in events if isinstance(e := ev.get("event_id"), str)}
    prereq: set[str] = set()
    dangling: set[str] = set()
    for ev in events:
        prev = ev.get("prev_event_hash")
        if isinstance(prev, str) and prev not in chosen:  # a dangling or cut chain
            (prereq if prev in chain else dangling).add(prev)
    return Selected(lines, events, sorted(prereq), sorted(dangling),
                    frontier_mod.compute(chain, vault.uid), len(all_events))


def dumps_line(ev: dict[str, Any]) -> str:  # for humans (reports, messages)
    return json.dumps(ev, ensure_ascii=False, sort_keys=True)

"""An event held before its predecessor (a dangling prev: the predecessor was held back,
out of a peer's scope, or not in a partial bundle) must move behind that predecessor when
it arrives: the total order puts a predecessor first (PROTOCOL.md A §6). The merge used to
rewrite the log only from where the predecessor sorted, leaving the waiting event in front
of it: a log out of total order, unlike a replica that got both at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.order import total_order
from provara_desktop.intake.placement import placement_with_tail
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.store.index import EventIndex


def _stamp(minute: int) -> str:
    return f"2030-01-01T00:{minute:02d}:00+00:00"


_ANA = SigningKey.generate()


def _setup(tmp_path: Path, name: str) -> tuple[Vault, SigningKey, list[dict[str, Any]]]:
    """A vault holding ana's 30 events (the same events in every vault made here)."""
    ana = _ANA
    vault = Vault.init(tmp_path / name, key=ana, actor="ana", home=tmp_path / f"{name}-h")
    events, prev = [], None
    for m in range(30):
        events.append(build_event(event_type="OBSERVATION", actor="ana-field", key=ana,
                                  payload={"subject": f"k{m % 5}", "predicate": "p",
                                           "value": m}, prev_event_hash=prev,
                                  timestamp_utc=_stamp(m), namespace="local"))
        prev = events[-1]["event_id"]
    vault.append(events, signer=ana)
    return vault, ana, events


def _carl_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    carl = SigningKey.generate()
    first = build_event(event_type="OBSERVATION", actor="carl", key=carl,
                        payload={"subject": "k8", "predicate": "q", "value": "first"},
                        prev_event_hash=None, timestamp_utc=_stamp(20), namespace="local")
    second = build_event(event_type="OBSERVATION", actor="carl", key=carl,
                         payload={"subject": "k2", "predicate": "p", "value": "second"},
                         prev_event_hash=first["event_id"], timestamp_utc=_stamp(10),
                         namespace="local")
    return first, second


def test_the_waiting_event_moves_behind_its_predecessor(tmp_path: Path) -> None:
    first, second = _carl_pair()
    late, _key, base = _setup(tmp_path, "late")  # gets the second event, then the first
    both, _key, _ = _setup(tmp_path, "both")
    try:
        sealer = SigningKey.generate()  # a writer other than carl seals the manifest
        late.append([second], signer=sealer)
        at = [e["event_id"] for e in late.events()].index(second["event_id"])
        result = late.append([first], signer=sealer)
        ids = [e["event_id"] for e in late.events()]
        assert ids.index(first["event_id"]) < ids.index(second["event_id"])
        evs = list(late.events())
        assert total_order(evs) == list(range(len(evs)))
        assert result.reordered_from is not None
        assert result.reordered_from <= at  # from where the second event sat (minute 10)
        both.append([first, second], signer=sealer)
        # the same events in the same order as a replica that got both at once (each
        # vault's own genesis aside)
        shared = {e["event_id"] for e in base} | {first["event_id"], second["event_id"]}
        assert [i for i in ids if i in shared] == [
            e["event_id"] for e in both.events() if e["event_id"] in shared]
    finally:
        late.close()
        both.close()


def test_the_intakes_placement_rewrites_from_the_waiting_event(tmp_path: Path) -> None:
    first, second = _carl_pair()
    vault, _key, _ = _setup(tmp_path, "v")
    try:
        vault.append([second], signer=SigningKey.generate())
        at = [e["event_id"] for e in vault.events()].index(second["event_id"])
        start, merged, old_tail = placement_with_tail(vault, [first])
        assert start <= at
        ids = [e["event_id"] for e in merged]
        assert ids.index(first["event_id"]) < ids.index(second["event_id"])
        assert old_tail  # the bytes from ``start`` on, replaced by ``merged``
    finally:
        vault.close()


def test_an_index_of_another_profile_follows_a_merge_from_where_it_began(
        tmp_path: Path, monkeypatch: Any) -> None:
    """A merge of older events by a program with another profile (so another index)
    rewrites the log's tail; this profile's index then re-indexes from the rewrite's start,
    not the whole log, and ends up row for row what a fresh index of the log says."""

    vault, _key, _ = _setup(tmp_path, "v")
    try:
        n = vault.index.count()
        other = Vault.open(vault.root, home=tmp_path / "other-home")
        carl = SigningKey.generate()
        late = build_event(event_type="OBSERVATION", actor="carl", key=carl,
                           payload={"subject": "k1", "predicate": "p", "value": "late"},
                           prev_event_hash=None, timestamp_utc=_stamp(25).replace(
                               ":00+", ":30+"), namespace="local")
        result = other.append([late], signer=carl)
        other.close()
        assert result.reordered_from is not None
        started: list[int] = []
        real = Vault._index_from

        def watched(self: Vault, pos: int, offset: int, progress: Any = None) -> None:
            started.append(pos)
            real(self, pos, offset, progress)

        monkeypatch.setattr(Vault, "_index_from", watched)
        vault.sync_index()
        assert started == [result.reordered_from]
        assert vault.index.count() == n + 1
        fresh = Vault.open(vault.root, home=tmp_path / "fresh-home")
        try:
            def rows(index: EventIndex) -> list[tuple[Any, ...]]:
                return [(r.pos, r.event_id, r.offset, r.length, r.prev_event_hash)
                        for r in index.query()]

            assert rows(vault.index) == rows(fresh.index)
        finally:
            fresh.close()
    finally:
        vault.close()

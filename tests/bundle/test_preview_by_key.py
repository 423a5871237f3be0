"""The app's import preview reduces only the beliefs a bundle touches (so that it works on a
million-event vault); it must say exactly what the whole-log computation says, including
when imported events sort before events the vault already holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.reducer import Reducer
from provara_desktop.intake.belief_changes import belief_changes, belief_changes_by_key
from provara_desktop.store import evidence
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path


def _without_hashes(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("state_hash")}


def _vault(tmp_path: Path) -> tuple[Vault, str]:
    alice = SigningKey.generate()
    vault = Vault.init(tmp_path / "v", key=alice, actor="alice", home=tmp_path / "home")
    for i in range(6):
        evidence.observe(vault, alice, "alice", subject=f"ex-{i}", predicate="location",
                         value=f"room {i}", confidence=0.8)
    evidence.observe(vault, alice, "alice", subject="ex:1", predicate="x", value="colon")
    evidence.attest(vault, alice, "alice", subject="ex-2", predicate="location",
                    value="room 2")
    evidence.attest(vault, alice, "alice", subject="ex-2", predicate="location",
                    value="room 2b")  # the first attestation is now archived
    return vault, str(vault.index.query(descending=True, limit=1)[0].timestamp_utc)


def _bob_events(stamps: list[str]) -> list[dict[str, Any]]:
    bob = SigningKey.generate()
    payloads: list[tuple[str, dict[str, Any]]] = [
        ("OBSERVATION", {"subject": "ex-0", "predicate": "location", "value": "hall",
                         "confidence": 0.8}),                      # disagrees: contested
        ("OBSERVATION", {"subject": "ex-9", "predicate": "location", "value": "new"}),
        ("ATTESTATION", {"subject": "ex-1", "predicate": "location", "value": "room 1"}),
        ("RETRACTION", {"subject": "ex-2", "predicate": "location", "reason": "moved"}),
        ("OBSERVATION", {"subject": "ex", "predicate": "1:x", "value": "same key text"}),
        ("OBSERVATION", {"subject": "ex-3", "predicate": "location", "value": "room 3",
                         "confidence": 0.9}),                      # agrees
    ]
    out: list[dict[str, Any]] = []
    prev = None
    for (etype, payload), ts in zip(payloads, stamps, strict=True):
        ev = build_event(event_type=etype, actor="bob", key=bob, payload=payload,
                         prev_event_hash=prev, timestamp_utc=ts, namespace="local")
        out.append(ev)
        prev = ev["event_id"]
    return out


@pytest.mark.parametrize("when", ["after", "before"])
def test_by_key_preview_says_what_the_whole_log_says(tmp_path: Path, when: str) -> None:
    vault, last = _vault(tmp_path)
    try:
        if when == "after":  # the usual import: everything new sorts after the vault
            stamps = [f"2999-01-01T00:00:0{i}+00:00" for i in range(6)]
        else:  # a backdated bundle: its events go before the vault's own
            stamps = [f"2000-01-01T00:00:0{i}+00:00" for i in range(6)]
        assert (stamps[0] > last) == (when == "after")
        new = _bob_events(stamps)
        whole = belief_changes(vault, new)
        by_key = belief_changes_by_key(vault, new)
        assert _without_hashes(by_key) == _without_hashes(whole)
        assert by_key["state_hash_before"] is None
        # The app starts from the beliefs it already holds, and must leave them as they are.
        live = Reducer().apply_all(vault.events())
        keys = [f"ex-{i}:location" for i in range(10)] + ["ex:1:x"]

        def held() -> tuple[str, list[Any], dict[str, Any]]:
            return (live.state_hash(), [live.evidence_for(k) for k in keys],
                    {k: list(v) for k, v in live.archived.items()})

        before = held()
        from_live = belief_changes_by_key(vault, new, live)
        assert _without_hashes(from_live) == _without_hashes(whole)
        assert held() == before
        assert "ex-0:location" in by_key["became_contested"]
        assert {c["key"] for c in by_key["changed"]} >= {"ex-9:location", "ex-1:location"}
    finally:
        vault.close()

"""Whatever order rotation and ordinary events arrive in, every replica reaches the same
verdict on every event (Hypothesis). A verdict is "counts" (held and not flagged by verify)
or "does not count" (flagged REVOKED_KEY where held, or refused on intake): a stolen key's
event that reached a replica before the revocation is held there and flagged; one that came
after is refused; neither ever counts.

The events: Alice declares her recovery key and records three observations; a thief with her
key forks after the second (one event before the rotation is made, one after); Alice's
recovery key rotates for compromise with the boundary at her third; her new key records two
more; Bob records two of his own throughout. Replicas start from the same genesis (Bob's
vault) and take the events through the intake in batches, in any order that keeps each
chain's own order (a sender always sends a predecessor first)."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provara_desktop.core.event import build_event
from provara_desktop.core.key_life import KEY_AUTHORITY
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake import check as intake_check
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.trust_view import Trust
from provara_desktop.net.peer_batch import PeerBatch
from provara_desktop.store import layout
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault

if TYPE_CHECKING:
    from pathlib import Path

ALICE, ALICE2, RECOVERY, BOB = (SigningKey(bytes([i]) * 32) for i in (31, 32, 33, 34))
A = f"alice-{ALICE.key_id[4:12]}"
R = f"alice-recovery-{RECOVERY.key_id[4:12]}"
B = f"bob-{BOB.key_id[4:12]}"


def _ts(i: int) -> str:
    return f"2030-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00"


def _scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events in time order, keys.json entries of their keys)."""
    out: list[dict[str, Any]] = []
    heads: dict[str, str | None] = {}

    def add(actor: str, key: SigningKey, etype: str, payload: dict[str, Any],
            prev: str | None | bool = False) -> str:
        p = heads.get(actor) if prev is False else prev
        ev = dict(build_event(event_type=etype, actor=actor, key=key, payload=payload,
                              prev_event_hash=p if isinstance(p, str) else None,
                              timestamp_utc=_ts(len(out) + 10),
                              namespace="canonical" if etype != "OBSERVATION" else "local"))
        out.append(ev)
        heads[actor] = str(ev["event_id"])
        return str(ev["event_id"])

    def obs(actor: str, key: SigningKey, value: str, prev: str | None | bool = False) -> str:
        return add(actor, key, "OBSERVATION",
                   {"subject": "door", "predicate": "state", "value": value}, prev)

    add(A, ALICE, KEY_AUTHORITY, {"key_id": ALICE.key_id,
                                   "recovery_key_id": RECOVERY.key_id,
                                   "recovery_public_key_b64": RECOVERY.public.b64})
    obs(A, ALICE, "a1")
    a2 = obs(A, ALICE, "a2")
    obs(B, BOB, "b1")
    t1 = obs(A, ALICE, "thief before", prev=a2)  # a fork off a2, by the stolen key
    heads[A] = a2
    a3 = obs(A, ALICE, "a3")
    rev = add(R, RECOVERY, "KEY_REVOCATION", {
        "revoked_key_id": ALICE.key_id, "reason": "compromise",
        "trust_boundary_event_id": a3})
    add(R, RECOVERY, "KEY_PROMOTION", {
        "new_key_id": ALICE2.key_id, "new_public_key_b64": ALICE2.public.b64,
        "algorithm": "Ed25519", "replaces_key_id": ALICE.key_id}, prev=rev)
    n1 = obs(A, ALICE2, "n1")
    obs(B, BOB, "b2")
    obs(A, ALICE, "thief after", prev=t1)
    obs(A, ALICE2, "n2", prev=n1)
    keys = [layout.key_entry(k.key_id, k.public.b64, _ts(0), roles=["attestation"])
            for k in (ALICE, ALICE2, RECOVERY)]
    return out, keys


EVENTS, KEYS = _scenario()
BY_ID = {e["event_id"]: e for e in EVENTS}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Bob's new vault (the genesis every replica shares) and his profile."""
    root = tmp_path_factory.mktemp("base")
    home = root / "bob-home"
    home.mkdir()
    Vault.init(root / "vault", key=BOB, actor=B, home=home).close()
    return root / "vault", home


def _ingest(vault: Vault, batch: list[dict[str, Any]], refused: set[str]) -> None:
    # As a sync session does (sync_session._hold_dependants): what builds on an event this
    # replica refused is held back with it, not asked of the vault as a prerequisite.
    kept = []
    for e in batch:
        if e.get("prev_event_hash") in refused:
            refused.add(e["event_id"])
        else:
            kept.append(e)
    if not kept:
        return
    ids = {e["event_id"] for e in kept}
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":")).encode() for e in kept]
    prereqs = {str(e["prev_event_hash"]) for e in kept if e.get("prev_event_hash")} - ids
    c = intake_check.check(PeerBatch("peer", 1, lines, keys=KEYS, prerequisites=prereqs),
                           Trust(), vault=vault)
    p = intake_plan.plan(vault, c, accept_untrusted=True)
    refused.update(e["event_id"] for e in p.refused)
    if p.new_events:
        intake_commit.commit(vault, p, signer=BOB)


def _verdicts(vault: Vault) -> dict[str, bool]:
    """event id -> whether it counts in this replica (absent: does not)."""
    held = {str(json.loads(line)["event_id"])
            for line in vault.events_path.read_text("utf-8").splitlines()}
    report = verify_vault(vault)
    flagged = {p.event_id for p in report.log.problems if p.code == "REVOKED_KEY"}
    return {eid: eid in held and eid not in flagged for eid in BY_ID}


def _needs(e: dict[str, Any]) -> set[str]:
    p = e.get("payload") or {}
    out = {e["prev_event_hash"]} if e.get("prev_event_hash") else set()
    if e["type"] == "KEY_REVOCATION" and p.get("trust_boundary_event_id"):
        out.add(p["trust_boundary_event_id"])
    out |= {x["event_id"] for x in EVENTS if x["type"] == "KEY_PROMOTION"
            and x["payload"]["new_key_id"] == e["actor_key_id"]}
    return out


@st.composite
def arrivals(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """A delivery order keeping what each event depends on first, cut into 1-4 batches."""
    pending = list(EVENTS)
    order: list[dict[str, Any]] = []
    placed: set[str] = set()
    while pending:
        ready = [e for e in pending if _needs(e) <= placed]
        pick = draw(st.sampled_from(ready))
        pending.remove(pick)
        order.append(pick)
        placed.add(pick["event_id"])
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=3)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.fixture(scope="module")
def expected(base: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, bool]:
    """The verdicts of a replica that got everything in time order, in one batch."""
    dest = tmp_path_factory.mktemp("reference-order") / "vault"
    shutil.copytree(base[0], dest)
    with Vault.open(dest, home=base[1]) as v:
        _ingest(v, list(EVENTS), set())
        got = _verdicts(v)
    names = {e["event_id"]: e["payload"].get("value", e["type"]) for e in EVENTS}
    # What the scenario means: the stolen key's two events never count, all else does.
    assert {names[e] for e, ok in got.items() if not ok} == {"thief before", "thief after"}
    return got


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=arrivals())
def test_every_arrival_order_gives_the_same_verdicts(
        batches: list[list[dict[str, Any]]], base: tuple[Path, Path],
        expected: dict[str, bool], tmp_path_factory: pytest.TempPathFactory) -> None:
    dest = tmp_path_factory.mktemp("replica") / "vault"
    shutil.copytree(base[0], dest)
    refused: set[str] = set()
    with Vault.open(dest, home=base[1]) as v:
        for batch in batches:
            _ingest(v, batch, refused)
        assert _verdicts(v) == expected
    # What was refused is exactly what arrived after the stolen key's revocation was held.
    assert refused <= {e for e, ok in expected.items() if not ok}

"""The session's optional hooks for the app (net/sync_session.py SessionConfig.progress and
.cancelled) and what the panel derives from them (net/frontier_gap.py): the phases arrive
in order, the frontier gap before the transfer equals what the session then moved, and a
cancel cuts the session with CANCELLED and nothing half-written."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from provara_desktop.net.app_peer import SyncProgress
from provara_desktop.net.frontier_gap import FrontierGap, frontier_gap
from provara_desktop.net.messages import ActorHeads, Frontier
from provara_desktop.net.sync_session import PHASES, SessionConfig, sync
from tests.net.sync_helpers import FAST, run, transport_pair, trust_of

if TYPE_CHECKING:
    from provara_desktop.net.sync_session import SyncResult
    from tests.net.sync_helpers import Replica


async def _one_side_watched(a: Replica, b: Replica, config_a: SessionConfig
                            ) -> tuple[SyncResult, SyncResult]:
    (ra, wa), (rb, wb) = await transport_pair()
    with a.open() as va, b.open() as vb:
        return await asyncio.wait_for(asyncio.gather(
            sync(ra, wa, vault=va, trust=trust_of(a, b), signer=a.key, initiator=True,
                 peer=b.name, config=config_a),
            sync(rb, wb, vault=vb, trust=trust_of(b, a), signer=b.key, initiator=False,
                 peer=a.name, config=FAST)), 60)


def test_phases_in_order_and_the_gap_is_what_moved(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(3)
    b.record(4)
    seen: list[str] = []
    progress = SyncProgress()

    def hook(phase: str, detail: dict[str, Any]) -> None:
        seen.append(phase)
        progress.on_phase(phase, detail)

    from dataclasses import replace

    ra, _ = run(_one_side_watched(a, b, replace(FAST, progress=hook)))
    assert ra.ok, ra.error
    order = [p for i, p in enumerate(seen) if i == 0 or seen[i - 1] != p]
    assert order[:3] == ["handshake", "compare", "transfer"]
    assert {"verify", "commit"} <= set(seen)
    assert set(seen) <= set(PHASES)
    gap = progress.gap
    assert gap is not None
    assert gap.exact
    assert (gap.we_lack_events, gap.they_lack_events) == (ra.received, ra.sent) == (6, 5)
    assert gap.describe()[0].startswith("they have 6 events from ")
    # level now: a second session's gap is zero both ways
    progress2 = SyncProgress()
    run(_one_side_watched(a, b, replace(FAST, progress=progress2.on_phase)))
    assert progress2.gap is not None
    assert progress2.gap.level


def test_a_cancel_cuts_the_session_and_writes_nothing(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    a.record(2)
    b.record(2)
    before_a, before_b = a.digest(), b.digest()
    flag = {"cancel": False}

    def hook(phase: str, _detail: dict[str, Any]) -> None:
        if phase == "compare":
            flag["cancel"] = True

    from dataclasses import replace

    config = replace(FAST, progress=hook, cancelled=lambda: flag["cancel"])
    ra, rb = run(_one_side_watched(a, b, config))
    assert ra.error_code == "CANCELLED"
    assert "cancelled" in (ra.error or "")
    assert not rb.ok
    assert a.digest() == before_a
    assert b.digest() == before_b


def test_gap_from_counts_alone_is_marked_as_an_estimate() -> None:
    h = "evt_" + "a" * 24
    mine = Frontier({"alice": ActorHeads(5, (h,))})
    theirs = Frontier({"alice": ActorHeads(3, ("evt_" + "b" * 24,)),
                       "bob": ActorHeads(2, ("evt_" + "c" * 24,))})
    gap = frontier_gap(mine, theirs)
    assert gap == FrontierGap(2, 1, 2, 1, exact=False)
    assert gap.describe() == ("they have about 2 events from 1 actor that you lack",
                              "you have about 2 events from 1 actor that they lack")
    assert FrontierGap.from_json(gap.to_json()) == gap
    assert frontier_gap(mine, mine).level


def test_a_cancel_between_batches_keeps_the_committed_ones_and_the_next_sync_resumes(
        make_replica: Any) -> None:
    """Batches of 2 events: a cancel as the second batch arrives leaves the first one
    committed, the vault valid (verify passes), and the next session sends only the rest."""
    from dataclasses import replace

    from provara_desktop.store.verify_vault import verify_vault
    from tests.net.test_sync_session import converged

    a, b = make_replica("alice"), make_replica("bob")
    b.record(6)
    with a.open() as va:
        count_before = va.index.count()

    def hook(phase: str, detail: dict[str, Any]) -> None:
        if phase == "verify" and detail.get("batch") == 2:
            flag["cancel"] = True

    flag = {"cancel": False}
    small = replace(FAST, batch_events=2)
    ra, _ = run(_one_side_watched(a, b, replace(small, progress=hook,
                                               cancelled=lambda: flag["cancel"])))
    assert ra.error_code == "CANCELLED"
    assert ra.received == 2  # batch 1, committed before the cancel
    with a.open() as va:
        assert va.index.count() == count_before + 2
        assert verify_vault(va).ok
    ra2, _ = run(_one_side_watched(a, b, small))
    assert ra2.ok, ra2.error
    assert ra2.received == 6  # b's init events (2) and 6 observations, less the 2 kept
    converged(a, b)

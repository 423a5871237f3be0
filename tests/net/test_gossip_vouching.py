"""Vouching and per-peer policy across real sessions (in-memory transport, real vaults, real
trust stores): what a directly trusted peer relays and vouches for is accepted and recorded as
"vouched for by" it; one hop only unless the policy says chained; only_direct, direction and
actor scope make a peer stricter (docs/SYNC_PROTOCOL.md, section 13)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.errors import PeerRejected
from provara_desktop.net import messages as m
from provara_desktop.net import peer_policy
from provara_desktop.net.sync_session import SyncResult, sync
from provara_desktop.store.trust import TrustStore, make_policy
from tests.net.sync_helpers import (
    FAST,
    SESSION_TIMEOUT,
    Hostile,
    Replica,
    against,
    event_lines,
    key_entries,
    transport_pair,
)

if TYPE_CHECKING:
    from provara_desktop.net.sync_session import SyncPolicy

UID = "3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d"  # the replicas' vault (sync_helpers)


def trust(me: Replica, other: Replica, name: str | None = None) -> None:
    TrustStore(me.home).add(other.key.key_id, other.key.public.b64, name or other.name)


def session(a: Replica, b: Replica, *, policy_a: SyncPolicy | None = None,
            policy_b: SyncPolicy | None = None) -> tuple[SyncResult, SyncResult]:
    """One session a (initiator) - b, each side with its policy and trust from its own trust
    store (net/peer_policy.py), as serve and sync run it."""
    pa, ta = peer_policy.for_peer(a.home, b.key.key_id)
    pb, tb = peer_policy.for_peer(b.home, a.key.key_id)

    async def go() -> tuple[SyncResult, SyncResult]:
        (ra, wa), (rb, wb) = await transport_pair()
        with a.open() as va, b.open() as vb:
            return tuple(await asyncio.wait_for(asyncio.gather(  # type: ignore[return-value]
                sync(ra, wa, vault=va, trust=ta, signer=a.key, initiator=True,
                     peer=b.key.key_id, config=FAST, policy=policy_a or pa),
                sync(rb, wb, vault=vb, trust=tb, signer=b.key, initiator=False,
                     peer=a.key.key_id, config=FAST, policy=policy_b or pb)),
                SESSION_TIMEOUT))

    ra, rb = asyncio.run(go())
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    return ra, rb


def events_by(r: Replica, who: Replica) -> int:
    return sum(1 for line in r.log_bytes().splitlines()
               if json.loads(line).get("actor_key_id") == who.key.key_id)


@pytest.fixture
def line(make_replica: Any) -> dict[str, Replica]:
    """A - B - C: B trusts A and C; A and C trust only B. A has recorded 3 events, and B
    holds them."""
    a, b, c = make_replica("alice"), make_replica("bob"), make_replica("carol")
    trust(a, b, "Bob")
    trust(b, a, "Alice")
    trust(b, c, "Carol")
    trust(c, b, "Bob")
    a.record(3)
    session(a, b)
    assert events_by(b, a) == events_by(a, a)
    return {"a": a, "b": b, "c": c}


def test_what_a_trusted_peer_vouches_for_is_accepted_and_recorded(
        line: dict[str, Replica]) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    _, rc = session(b, c)
    assert rc.held_back == 0
    assert c.log_bytes() == b.log_bytes()
    entry = TrustStore(c.home).load()[a.key.key_id]
    assert [s.kind for s in entry.sources] == ["vouched"]
    assert entry.source.detail["by_key_id"] == b.key.key_id
    assert entry.describe().startswith("vouched for by Bob")
    assert not entry.direct
    assert a.key.key_id in TrustStore(c.home).trusted_ids()
    # A later session records nothing twice
    a.record(1, start=10)
    session(a, b)
    session(b, c)
    assert len(TrustStore(c.home).load()[a.key.key_id].sources) == 1
    # The voucher's trust ends: so does the vouched key's
    TrustStore(c.home).remove(b.key.key_id)
    assert a.key.key_id not in TrustStore(c.home).trusted_ids()


def test_only_direct_holds_back_what_the_peer_vouches_for(line: dict[str, Replica]) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    TrustStore(c.home).set_policy(b.key.key_id, make_policy(only_direct=True))
    _, rc = session(b, c)
    assert rc.held_back == events_by(b, a) > 0
    assert events_by(c, a) == 0
    assert a.key.key_id not in TrustStore(c.home).load()
    # Also a key already recorded as vouched is left out while the policy says so.
    TrustStore(c.home).set_policy(b.key.key_id, {})
    session(b, c)
    assert events_by(c, a) > 0
    TrustStore(c.home).set_policy(b.key.key_id, make_policy(only_direct=True))
    a.record(1, start=20)
    session(a, b)
    before = c.log_bytes()
    _, rc = session(b, c)
    assert rc.held_back == 1
    assert c.log_bytes() == before


def test_vouching_is_one_hop_unless_the_policy_says_chained(
        line: dict[str, Replica], make_replica: Any) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    d = make_replica("dave")
    trust(c, d, "Dave")
    trust(d, c, "Carol")
    session(b, c)  # C now trusts A as vouched for by B
    _, rd = session(c, d)
    assert rd.held_back == events_by(c, a) > 0  # C trusts A only through B: not passed on
    assert events_by(d, a) == 0
    TrustStore(d.home).set_policy(c.key.key_id, make_policy(chained=True))
    _, rd = session(c, d)
    assert rd.held_back == 0
    assert d.log_bytes() == c.log_bytes()
    assert TrustStore(d.home).load()[a.key.key_id].source.detail["by_key_id"] == c.key.key_id


def test_a_peer_trusted_only_through_vouching_vouches_for_nothing(
        line: dict[str, Replica], make_replica: Any) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    session(b, c)  # C: A vouched for by B
    # A now talks to C directly; C's trust of A is not direct, so A's own vouches (for B's
    # key, which C trusts anyway, and nothing else) count for nothing; C sends A nothing of
    # C's policy of vouching either.
    pa, _ = peer_policy.for_peer(c.home, a.key.key_id)
    assert pa.vouches == ()
    assert not pa.accept_vouched


def test_a_vouch_whose_key_id_is_not_its_key_is_ignored(line: dict[str, Replica]) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    pb, _ = peer_policy.for_peer(b.home, c.key.key_id)
    forged = tuple(replace(k, public_key_b64=c.key.public.b64) for k in pb.vouches)
    _, rc = session(b, c, policy_a=replace(pb, vouches=forged))
    assert rc.held_back > 0
    assert events_by(c, a) == 0
    assert a.key.key_id not in TrustStore(c.home).load()


def test_direction_and_actor_scope_are_enforced_on_both_sides(
        line: dict[str, Replica]) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    c.record(2)
    b.record(2, start=50)
    store = TrustStore(c.home)
    # receive only: C sends B nothing, and takes what B has
    store.set_policy(b.key.key_id, make_policy(direction="receive"))
    rb, rc = session(b, c)
    assert rc.sent == 0
    assert events_by(b, c) == 0  # none of C's events reached B
    # send only: C takes nothing from B
    store.set_policy(b.key.key_id, make_policy(direction="send"))
    b.record(1, start=60)
    before = events_by(c, b)
    rb, rc = session(b, c)
    assert rc.received == 0
    assert rc.held_back >= 1
    assert events_by(c, b) == before
    assert rb.received > 0  # C's events reached B
    # scope by actor: only Bob's events, both ways
    store.set_policy(b.key.key_id, make_policy(actors=["bob"]))
    b.record(1, start=70)
    a.record(1, start=80)
    session(a, b)
    rb, rc = session(b, c)
    assert rc.held_back >= 1  # Alice's new event is out of scope
    assert b"alice-s80" not in c.log_bytes()
    assert b"bob-s70" in c.log_bytes()


def test_the_vouch_message_is_parsed_strictly() -> None:
    good = {"type": "vouch", "keys": [{"key_id": "bp1_0123456789abcdef",
                                       "public_key_b64": "AAAA", "name": "x",
                                       "direct": True}]}
    msg = m.parse(good)
    assert isinstance(msg, m.Vouch)
    assert msg.keys[0].key_id == "bp1_0123456789abcdef"
    assert m.Vouch.from_json(msg.to_json()) == msg
    for bad in ({"key_id": "nope", "public_key_b64": "AAAA"},
                {"key_id": "bp1_0123456789abcdef", "public_key_b64": ""},
                {"key_id": "bp1_0123456789abcdef", "public_key_b64": "AAAA", "direct": 1},
                "not an object"):
        with pytest.raises(PeerRejected) as exc:
            m.parse({"type": "vouch", "keys": [bad]})
        assert exc.value.code == "BAD_MESSAGE"


async def open_vouching(h: Hostile) -> None:
    """Hostile.open, with a hello that offers the capability ``vouch``."""
    await h.s.send_message(m.Hello(m.VERSIONS, UID, capabilities=("vouch",)).to_json())
    await h.s.send_message(m.Frontier({}).to_json())
    await h.expect("hello")
    theirs = await h.expect("frontier")
    if theirs["actors"]:
        await h.s.send_message(m.Lacking({}).to_json())
        await h.expect("lacking")


def _mallory_vouch(mallory: Replica) -> dict[str, Any]:
    return m.Vouch((m.VouchedKey(mallory.key.key_id, mallory.key.public.b64, "M"),)).to_json()


def test_a_vouch_sent_twice_is_refused_and_nothing_is_written(make_replica: Any) -> None:
    bob, mallory = make_replica("bob"), make_replica("mallory")
    before = bob.digest()

    async def play(h: Hostile) -> dict[str, Any]:
        await open_vouching(h)
        await h.s.send_message(_mallory_vouch(mallory))
        await h.s.send_message(_mallory_vouch(mallory))
        return await h.expect("error")

    res, said = asyncio.run(against(bob, play))
    assert res.error_code == said["code"] == "BAD_MESSAGE"
    assert bob.digest() == before


def test_a_vouch_the_policy_does_not_take_changes_nothing(make_replica: Any) -> None:
    """The session's default policy (no peer trusted directly behind it) takes no vouch: a
    peer vouching for its own unknown key still has its events held back."""
    bob, mallory = make_replica("bob"), make_replica("mallory")
    before = bob.digest()
    lines = event_lines(mallory)

    async def play(h: Hostile) -> dict[str, Any]:
        await open_vouching(h)
        await h.s.send_message(_mallory_vouch(mallory))
        ack = await h.send_batch(1, lines, key_entries(mallory))
        await h.s.send_message({"type": "done", "sent": len(lines), "batches": 1})
        return ack

    res, ack = asyncio.run(against(bob, play))
    assert res.ok, res.error
    assert ack["held_back"] == len(lines)
    assert bob.digest() == before
    assert TrustStore(bob.home).load() == {}


def test_a_vouch_without_the_capability_is_refused(make_replica: Any) -> None:
    bob, mallory = make_replica("bob"), make_replica("mallory")
    before = bob.digest()

    async def play(h: Hostile) -> dict[str, Any]:
        await h.open(UID)  # a hello offering no capability
        await h.s.send_message(_mallory_vouch(mallory))
        return await h.expect("error")

    res, said = asyncio.run(against(bob, play))
    assert res.error_code == said["code"] == "BAD_MESSAGE"
    assert bob.digest() == before


def test_namespace_scope_holds_back_and_withholds_other_namespaces(
        line: dict[str, Replica]) -> None:
    a, b, c = line["a"], line["b"], line["c"]
    c.record(2)  # OBSERVATIONs: namespace "local"
    TrustStore(c.home).set_policy(b.key.key_id, make_policy(namespaces=["canonical"]))
    rb, rc = session(b, c)

    def kinds(r: Replica, who: Replica) -> list[tuple[str, str]]:
        out = []
        for raw in r.log_bytes().splitlines():
            ev = json.loads(raw)
            if ev.get("actor_key_id") == who.key.key_id:
                out.append((ev["type"], ev["namespace"]))
        return out

    local_at_b = [k for who in (a, b) for k in kinds(b, who) if k[1] != "canonical"]
    assert kinds(c, a) == [("GENESIS", "canonical")]  # A's observations held back
    assert kinds(c, b) == [("GENESIS", "canonical")]
    assert rc.held_back == len(local_at_b) > 0
    assert rc.received == 2
    assert kinds(b, c) == [("GENESIS", "canonical")]  # and C's were not sent
    assert rb.received == 1

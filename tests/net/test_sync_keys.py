"""Keys over time across real sync sessions (sync_session over a socket pair): a rotation
travels like any event, the receiver trusts the rotated-in key through the key it trusted,
and a stolen key's event after the boundary is flagged where it already was and refused
everywhere else, without failing the session."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import nacl.pwhash

from provara_desktop.core.event import build_event
from provara_desktop.intake import check as intake_check
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.trust_view import Trust
from provara_desktop.net.peer_batch import PeerBatch
from provara_desktop.store import evidence, key_rotation
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import read_recovery_file, write_recovery_file
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.net.sync_helpers import Replica, run, session_pair

if TYPE_CHECKING:
    from pathlib import Path

FAST_KDF = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
            "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
UID = "3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d"


def _alice(tmp_path: Path) -> tuple[Replica, Path, Any]:
    home, rec = tmp_path / "alice-home", tmp_path / "alice-rec.json"
    store = IdentityStore(home, **FAST_KDF)
    ident = store.create_with_recovery("Alice", "pw",
                                       lambda i, r: write_recovery_file(rec, i, r) and None)
    key = store.unlock("pw")
    root = tmp_path / "alice-vault"
    Vault.init(root, key=key, actor=ident.actor, home=home, uid=UID).close()
    return Replica(ident.actor, key, home, root), rec, ident


def _verdict(r: Replica) -> tuple[bool, set[str]]:
    with r.open() as v:
        report = verify_vault(v)
    return report.ok, {p.event_id or "" for p in report.log.problems if p.code == "REVOKED_KEY"}


def test_a_rotation_syncs_and_a_stolen_keys_later_event_is_refused(
        tmp_path: Path, make_replica: Any) -> None:
    alice, rec, ident = _alice(tmp_path)
    old_key = alice.key
    bob, carol = make_replica("bob"), make_replica("carol")
    with alice.open() as v:
        boundary = evidence.observe(v, old_key, alice.name, subject="door", predicate="state",
                                    value="open").events[-1]["event_id"]
    # Bob and Carol trust Alice's key (they checked its fingerprint), and nothing more.
    trust_bob = Trust({old_key.key_id: "Alice", carol.key.key_id: "Carol"}, bob.key.key_id)
    trust_carol = Trust({old_key.key_id: "Alice", bob.key.key_id: "Bob"}, carol.key.key_id)
    trust_alice = Trust({bob.key.key_id: "Bob", carol.key.key_id: "Carol"}, old_key.key_id)
    ra, rc = run(session_pair(alice, carol, trust_a=trust_alice, trust_b=trust_carol))
    assert ra.ok, ra.error
    assert rc.ok, rc.error

    # The key is stolen: the thief's event reaches Carol before the revocation does.
    stolen = dict(build_event(event_type="OBSERVATION", actor=alice.name, key=old_key,
                              prev_event_hash=boundary, namespace="local",
                              payload={"subject": "door", "predicate": "state",
                                       "value": "forged", "confidence": 1.0}))
    with carol.open() as v:
        line = json.dumps(stolen, sort_keys=True, separators=(",", ":")).encode()
        c = intake_check.check(PeerBatch("thief", 1, [line], prerequisites={boundary}),
                               trust_carol, vault=v)
        p = intake_plan.plan(v, c, accept_untrusted=False)
        assert len(p.new_events) == 1  # signed by a key Carol trusts: nothing is known yet
        intake_commit.commit(v, p, signer=carol.key)

    # Alice rotates for compromise (her boundary: the observation before the theft) and
    # records with her new key.
    recovery, _ = read_recovery_file(rec)
    with alice.open() as v:
        done = key_rotation.rotate(v, recovery=recovery,
                                   recovery_actor=ident.recovery_actor or "",
                                   key_id=old_key.key_id, reason="compromise",
                                   boundary=boundary)
        evidence.observe(v, done.new_key, alice.name, subject="door", predicate="state",
                         value="closed")
    alice.key = done.new_key

    # Bob gets it all from Alice: the new key and the recovery key are trusted through the
    # key he trusts; the vaults converge.
    ra, rb = run(session_pair(alice, bob, trust_a=trust_alice, trust_b=trust_bob))
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    assert rb.held_back == 0
    assert alice.log_bytes() == bob.log_bytes()
    assert alice.state_hash() == bob.state_hash()
    assert _verdict(bob) == (True, set())

    # Carol meets Bob: his rotation reaches her and her stolen event is flagged there; Bob
    # refuses it (the session itself succeeds).
    rc, rb = run(session_pair(carol, bob, trust_a=trust_carol, trust_b=trust_bob))
    assert rc.ok, rc.error
    assert rb.ok, rb.error
    assert rb.refused_revoked == 1
    ok, flagged = _verdict(carol)
    assert flagged == {stolen["event_id"]}
    assert not ok
    assert stolen["event_id"].encode() not in bob.log_bytes()
    assert _verdict(bob) == (True, set())
    # A later session sends it again and it is refused again: nothing else moves.
    rc, rb = run(session_pair(carol, bob, trust_a=trust_carol, trust_b=trust_bob))
    assert rc.ok
    assert rb.ok
    assert rb.received == 0


def test_a_peer_presenting_a_revoked_key_is_refused_both_ways(
        tmp_path: Path, make_replica: Any) -> None:
    """Whoever holds Alice's old key after her rotation cannot sync with Bob, who trusted
    that key: not as a client of his listener, not as the server he dials."""
    import shutil

    from provara_desktop.net import sync_client
    from provara_desktop.store.trust import TrustStore
    from tests.net.sync_helpers import FAST
    from tests.net.test_refusals import _listen_and, _sync_from

    alice, rec, ident = _alice(tmp_path)
    old_key = alice.key
    bob = make_replica("bob")
    recovery, _ = read_recovery_file(rec)
    with alice.open() as v:
        evidence.observe(v, old_key, alice.name, subject="s", predicate="p", value=1)
        done = key_rotation.rotate(v, recovery=recovery,
                                   recovery_actor=ident.recovery_actor or "",
                                   key_id=old_key.key_id, reason="compromise")
    alice.key = done.new_key
    trust_bob = Trust({old_key.key_id: "Alice"}, bob.key.key_id)
    trust_alice = Trust({bob.key.key_id: "Bob"}, done.new_key.key_id)
    ra, rb = run(session_pair(alice, bob, trust_a=trust_alice, trust_b=trust_bob))
    assert ra.ok, ra.error
    assert rb.ok, rb.error
    # Bob's trust store still pins the old key (he trusted Alice by it); a thief has it.
    TrustStore(bob.home).add(old_key.key_id, old_key.public.b64, "Alice")
    thief = Replica(alice.name, old_key, tmp_path / "thief-home", tmp_path / "thief-vault")
    shutil.copytree(alice.root, thief.root)
    TrustStore(thief.home).add(bob.key.key_id, bob.key.public.b64, "Bob")
    before = bob.digest()
    listener = _listen_and(bob, _sync_from(thief))
    [refusal] = listener.refusals.items()
    assert refusal.key_id == old_key.key_id
    assert "revoked" in refusal.reason
    assert bob.digest() == before

    async def dial(address: str) -> None:
        result, kid = await sync_client.sync_with(address, vault_root=bob.root,
                                                  home=bob.home, key=bob.key, config=FAST)
        assert kid == old_key.key_id
        assert result.error_code == "REVOKED_PEER", result.error
        assert sync_client.outcome(result) == "refused"

    _listen_and_any(thief, dial)
    assert bob.digest() == before


def _listen_and_any(a: Replica, client: Any) -> Any:
    """As test_refusals._listen_and, without waiting for a refusal on the listener's side
    (here the dialling side refuses, after the handshake)."""
    import asyncio

    from provara_desktop.net.serve import HeadlessPeer, ServeOptions
    from tests.net.sync_helpers import FAST

    async def go() -> Any:
        peer = HeadlessPeer(a.root, a.home, a.key, ServeOptions(
            host="127.0.0.1", port=0, discovery=False, session=FAST))
        host, port = await peer.start()
        try:
            await asyncio.wait_for(client(f"{host}:{port}"), 20)
        finally:
            await peer.stop()
        return peer

    return asyncio.run(go())

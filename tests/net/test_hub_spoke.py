"""Hub and spoke over real TLS on loopback (serve's HeadlessPeer as the hub, sync_client as
the spokes): receipts for what a spoke pushed, an audit at every session, a hub down while
spokes keep recording then catch-up, and a hub restarted on an older copy of itself (a
rollback: a withholding hub with a perfectly consistent vault) caught by the spoke whose
receipted events are gone, with the hub's own signed notes as proof, recorded in its vault."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from typing import TYPE_CHECKING, Any

from provara_desktop.core import hub_notes
from provara_desktop.net import sync_client
from provara_desktop.net.hub_side import ALERT_EVENT
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.store.hub_receipts import HubReceipts
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.verify_vault import verify_vault
from tests.net.sync_helpers import FAST, Replica

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

HUB = dataclasses.replace(FAST, role="hub")
BOUND = 30.0


def _trust_all(*replicas: Replica) -> None:
    for me in replicas:
        for other in replicas:
            if other is not me:
                TrustStore(me.home).add(other.key.key_id, other.key.public.b64, other.name)


def _ids_by(r: Replica, who: Replica) -> set[str]:
    return {json.loads(line)["event_id"] for line in r.log_bytes().splitlines()
            if json.loads(line).get("actor_key_id") == who.key.key_id}


def _beliefs(r: Replica) -> dict[str, Any]:
    with r.open() as v:
        state = v.reduce().export_state()
    return {k: state[k] for k in ("canonical", "local", "contested", "archived")}


def _with_hub(hub: Replica, *jobs: Any) -> list[Any]:
    """Serve ``hub`` as a hub on loopback, run each job (address -> coroutine) in turn."""
    async def go() -> list[Any]:
        peer = HeadlessPeer(hub.root, hub.home, hub.key, ServeOptions(
            host="127.0.0.1", port=0, discovery=False, session=HUB))
        host, port = await peer.start()
        try:
            return [await asyncio.wait_for(job(f"{host}:{port}"), BOUND) for job in jobs]
        finally:
            await peer.stop()

    return asyncio.run(go())


def _sync(spoke: Replica, *, send: bool = True) -> Any:
    async def job(address: str) -> Any:
        result, kid = await sync_client.sync_with(address, vault_root=spoke.root,
                                                  home=spoke.home, key=spoke.key,
                                                  config=FAST, send=send)
        assert result.ok, result.error
        return result

    return job


def test_receipts_audits_and_catch_up_after_the_hub_was_down(make_replica: Any) -> None:
    hub, alice, bob = make_replica("hub"), make_replica("alice"), make_replica("bob")
    _trust_all(hub, alice, bob)
    alice.record(5)
    [first] = _with_hub(hub, _sync(alice))
    audit = first.hub_audit
    assert first.peer_role == "hub"
    assert audit is not None
    assert audit["alerts"] == []
    assert audit["receipts_kept"] >= 1
    with HubReceipts(alice.home, hub.key.key_id) as kept:
        receipted = kept.receipted()
    # every event alice pushed (her vault's first events and the five), each with its place
    assert {r[0] for r in receipted} == _ids_by(alice, alice)
    assert all(proven is None for *_, proven in receipted)

    # The hub is down: both spokes keep recording.
    alice.record(3, start=5)
    bob.record(2)
    results = _with_hub(hub, _sync(alice), _sync(bob), _sync(alice))
    assert all(r.hub_audit["alerts"] == [] for r in results)
    # alice's second session proved what her first receipts named in the hub's checkpoint
    assert results[0].hub_audit["proven"] == len(receipted)
    with HubReceipts(alice.home, hub.key.key_id) as kept:
        assert {r[0] for r in kept.receipted()} == _ids_by(alice, alice)
    assert alice.state_hash() == bob.state_hash() == hub.state_hash()
    for r in (hub, alice, bob):
        with r.open() as v:
            assert verify_vault(v).ok


def test_a_rolled_back_hub_is_caught_with_its_own_signatures(make_replica: Any) -> None:
    hub, alice = make_replica("hub"), make_replica("alice")
    _trust_all(hub, alice)
    hub.record(2)
    _with_hub(hub, _sync(alice))  # level: alice holds the hub's two events
    # A copy of the hub as it is now (its vault and its profile, the log beside it)...
    saved = hub.root.parent / "hub-backup"
    shutil.copytree(hub.root, saved / "vault")
    shutil.copytree(hub.home, saved / "home")
    alice.record(4)
    [pushed] = _with_hub(hub, _sync(alice))
    assert pushed.hub_audit["alerts"] == []
    # ...is what the hub comes back as: consistent with itself, and without alice's four.
    for src, dst in ((saved / "vault", hub.root), (saved / "home", hub.home)):
        shutil.rmtree(dst)
        shutil.copytree(src, dst)
    before = _beliefs(alice)
    [audit] = _with_hub(hub, _sync(alice, send=False))
    codes = {a["code"] for a in audit.hub_audit["alerts"]}
    assert {"ROLLBACK", "DROPPED", "WITHHELD"} <= codes
    rollback = next(a for a in audit.hub_audit["alerts"] if a["code"] == "ROLLBACK")
    # The proof stands on its own: two notes the hub signed, the earlier one larger.
    earlier = hub_notes.read(rollback["proof"]["earlier"], hub.key.public)
    later = hub_notes.read(rollback["proof"]["later"], hub.key.public)
    assert earlier.size > later.size
    # The alert is evidence now: an extension event in alice's vault, verified like any,
    # and the beliefs are what they were.
    with alice.open() as v:
        alerts = [v.read_row(r) for r in v.index.query(type=ALERT_EVENT)]
        assert {a["payload"]["code"] for a in alerts} == codes
        assert verify_vault(v).ok
    assert _beliefs(alice) == before  # (the metadata counts the new event)
    with HubReceipts(alice.home, hub.key.key_id) as kept:
        assert all(a.recorded_event_id for a in kept.alerts())


def test_a_forged_checkpoint_ends_the_session_and_changes_nothing(
        make_replica: Any, monkeypatch: Any) -> None:
    from provara_desktop.net.hub_side import HubDuty

    hub, alice = make_replica("hub"), make_replica("alice")
    _trust_all(hub, alice)
    hub.record(2)
    real = HubDuty.answer

    def forged(self: HubDuty, audit: Any, frontier: Any) -> Any:
        answer = real(self, audit, frontier)
        lines = answer.note.split("\n")
        lines[1] = str(int(lines[1]) + 100)  # a bigger log than the one it signed
        return dataclasses.replace(answer, note="\n".join(lines))

    monkeypatch.setattr(HubDuty, "answer", forged)
    before = alice.digest()

    async def job(address: str) -> Any:
        result, _ = await sync_client.sync_with(address, vault_root=alice.root,
                                                home=alice.home, key=alice.key, config=FAST)
        return result

    [result] = _with_hub(hub, job)
    assert not result.ok
    assert result.error_code == "BAD_CHECKPOINT"
    assert "does not verify" in result.error
    assert alice.digest() == before


def test_hub_audit_and_receipts_on_the_command_line(
        tmp_path: Path, make_replica: Any, monkeypatch: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    import nacl.pwhash

    from provara_desktop.cli import main
    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.vault import Vault

    monkeypatch.setenv("PROVARA_PASSPHRASE", "pw")
    home = tmp_path / "carol-home"
    store = IdentityStore(home, opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                          memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN)
    ident = store.create("Carol", "pw")
    key = store.unlock("pw")
    hub = make_replica("hub")
    with hub.open() as v:
        uid = v.uid
    root = tmp_path / "carol-vault"
    Vault.init(root, key=key, actor=ident.actor, home=home, uid=uid).close()
    carol = Replica(ident.actor, key, home, root)
    carol.record(3)
    _trust_all(hub, carol)

    def audit(hub_replica: Replica) -> tuple[int, dict[str, Any]]:
        """`hub audit` as the command line runs it (main(), in a worker thread while the
        hub serves on this thread's loop); its one JSON line read after."""
        async def job(address: str) -> int:
            return await asyncio.to_thread(main, ["--home", str(home), "hub", "audit",
                                                  str(root), "--peer", address, "--json"])

        [code] = _with_hub(hub_replica, job)
        out, err = capsys.readouterr()
        assert out.strip(), err
        return code, json.loads(out.strip().splitlines()[-1])

    code, first = audit(hub)
    assert code == 0
    assert first["ok"] is True
    assert first["alerts"] == []
    _with_hub(hub, _sync(carol))
    code = main(["--home", str(home), "hub", "receipts", str(root), "--json"])
    doc = json.loads(capsys.readouterr()[0])
    assert code == 0
    [mine] = doc["hubs"]
    assert mine["hub_key_id"] == hub.key.key_id
    assert mine["receipted_events"] == len(_ids_by(carol, carol))
    assert mine["alerts"] == []
    # The hub comes back without what it receipted: `hub audit` exits 1 with the proof.
    shutil.rmtree(hub.root)
    shutil.rmtree(hub.home)
    fresh = make_replica("hub", key=hub.key)  # same key, an empty vault: all of it gone
    _trust_all(fresh, carol)
    code, found = audit(fresh)
    assert code == 1
    assert found["ok"] is False
    assert {"ROLLBACK", "DROPPED"} <= {a["code"] for a in found["alerts"]}


def _serve(r: Replica, config: Any, job: Any) -> Any:
    async def go() -> Any:
        peer = HeadlessPeer(r.root, r.home, r.key, ServeOptions(
            host="127.0.0.1", port=0, discovery=False, session=config))
        host, port = await peer.start()
        try:
            return await asyncio.wait_for(job(f"{host}:{port}"), BOUND)
        finally:
            await peer.stop()

    return asyncio.run(go())


def test_a_hub_showing_two_spokes_two_logs_is_caught_when_they_compare(
        make_replica: Any) -> None:
    hub, alice, bob = make_replica("hub"), make_replica("alice"), make_replica("bob")
    _trust_all(hub, alice, bob)
    _with_hub(hub, _sync(alice), _sync(bob), _sync(alice))  # level, receipts on both
    # The hub forks itself: one copy keeps serving alice, another (same key) bob.
    twin = make_replica("twin", key=hub.key)
    for name in ("vault", "home"):
        src, dst = (hub.root, twin.root) if name == "vault" else (hub.home, twin.home)
        shutil.rmtree(dst)
        shutil.copytree(src, dst)
    alice.record(3, start=100)
    bob.record(3, start=200)
    [a1] = _with_hub(hub, _sync(alice))
    [b1] = _with_hub(twin, _sync(bob))
    assert a1.hub_audit["alerts"] == []
    assert b1.hub_audit["alerts"] == []
    # alice and bob meet (a direct sync, bob serving as a plain peer): their checkpoints of
    # the same size differ, both signed by the hub's key.
    met = _serve(bob, FAST, _sync(alice))
    assert met.witness is not None
    assert [a["code"] for a in met.witness["alerts"]] == ["SPLIT_VIEW"]
    proof = met.witness["alerts"][0]["proof"]
    one, other = (hub_notes.read(proof[k], hub.key.public) for k in ("earlier", "later"))
    assert one.size == other.size
    assert one.root != other.root
    with alice.open() as v:
        assert v.index.count(type=ALERT_EVENT) == 1
        assert verify_vault(v).ok


def _forked_hub(make_replica: Any, alice_new: int, bob_new: int
                ) -> tuple[Replica, Replica, Replica, Replica]:
    """A hub level with two spokes, then forked into two copies under one key: alice records
    ``alice_new`` events and syncs with one copy, bob ``bob_new`` with the other (the
    twin). Returns (hub, twin, alice, bob)."""
    hub, alice, bob = make_replica("hub"), make_replica("alice"), make_replica("bob")
    _trust_all(hub, alice, bob)
    _with_hub(hub, _sync(alice), _sync(bob), _sync(alice))
    twin = make_replica("twin", key=hub.key)
    for src, dst in ((hub.root, twin.root), (hub.home, twin.home)):
        shutil.rmtree(dst)
        shutil.copytree(src, dst)
    alice.record(alice_new, start=100)
    bob.record(bob_new, start=200)
    _with_hub(hub, _sync(alice))
    _with_hub(twin, _sync(bob))
    return hub, twin, alice, bob


def test_a_smaller_witnessed_log_is_checked_at_the_next_audit(make_replica: Any) -> None:
    hub, _twin, alice, bob = _forked_hub(make_replica, 4, 1)
    met = _serve(bob, FAST, _sync(alice, send=False))
    assert met.witness["alerts"] == []  # sizes differ: nothing to compare yet
    [audit] = _with_hub(hub, _sync(alice, send=False))
    assert "SPLIT_VIEW" in {a["code"] for a in audit.hub_audit["alerts"]}


def test_a_hub_relays_its_spokes_checkpoints_and_is_caught_by_them(
        make_replica: Any) -> None:
    """Capability "witness-relay": spokes that never meet still compare notes through the
    hub. The hub is restored from a backup of its vault and log (but not of the checkpoints
    its spokes left with it) and then shows bob a log of the size it showed alice with
    other events: the note of alice's that it relays convicts it at bob's next audit."""
    hub, alice, bob = make_replica("hub"), make_replica("alice"), make_replica("bob")
    _trust_all(hub, alice, bob)
    _with_hub(hub, _sync(alice), _sync(bob), _sync(alice))
    backup = hub.root.parent / "hub-backup"
    shutil.copytree(hub.root, backup / "vault")
    shutil.copytree(hub.home, backup / "home")
    alice.record(3, start=100)
    [a1] = _with_hub(hub, _sync(alice), _sync(alice, send=False))[-1:]
    assert a1.witness["relayed_by_hub"] is True
    relay_dir = hub.home / "hub-witnessed"
    assert any(relay_dir.iterdir())  # alice's cosigned checkpoint, kept to pass on
    kept = backup / "kept-relay"
    shutil.copytree(relay_dir, kept)
    for src, dst in ((backup / "vault", hub.root), (backup / "home", hub.home)):
        shutil.rmtree(dst)
        shutil.copytree(src, dst)
    shutil.rmtree(hub.home / "hub-witnessed", ignore_errors=True)
    shutil.copytree(kept, hub.home / "hub-witnessed")
    bob.record(3, start=200)
    [b1] = _with_hub(hub, _sync(bob))
    assert b1.witness["received"] >= 1  # alice's note, passed on by the hub
    assert b1.hub_audit["alerts"] == []  # nothing to compare yet: bob's log was smaller
    [b2] = _with_hub(hub, _sync(bob, send=False))
    codes = {a["code"] for a in b2.hub_audit["alerts"]}
    assert "SPLIT_VIEW" in codes, b2.hub_audit
    with bob.open() as v:
        assert v.index.count(type=ALERT_EVENT) >= 1
        assert verify_vault(v).ok


def test_a_bundle_carries_its_exporters_witnessed_checkpoints(make_replica: Any,
                                                              tmp_path: Path) -> None:
    """Across an air gap: alice's bundle carries the hub checkpoint she checked, cosigned
    in its signed manifest; bob, whom a forked copy of the hub showed another log of that
    size, gets a SPLIT_VIEW alert when he imports it (and not from a bundle without)."""
    from provara_desktop.bundle import actions
    from provara_desktop.bundle.load import load
    from provara_desktop.bundle.selection import Selection
    from provara_desktop.net.hub_side import bundle_witness, record_alerts, take_bundle_witness
    from tests.net.sync_helpers import trust_of

    hub, _twin, alice, bob = _forked_hub(make_replica, 3, 3)

    def carried(witnessed: bool) -> list[Any]:
        out = tmp_path / f"alice-{witnessed}.provara-bundle"
        with alice.open() as v:
            notes = bundle_witness(alice.home, v.uid, alice.key) if witnessed else None
            actions.export(v, out, Selection(), fmt="provara-bundle", key=alice.key,
                           actor=alice.name, witnessed=notes)
        with bob.open() as v, load(out) as bundle:
            actions.import_bundle(v, bundle, trust_of(bob, alice), accept_untrusted=False,
                                  dry_run=False, signer=bob.key)
            alerts = take_bundle_witness(bob.home, v.uid, bundle.manifest,
                                         bundle.signer.public_key_b64 if bundle.signer
                                         else None)
            record_alerts(v, bob.key, bob.name, alerts)
        return alerts

    assert carried(False) == []
    alerts = carried(True)
    assert [a.code for a in alerts] == ["SPLIT_VIEW"]
    one, other = (hub_notes.read(alerts[0].proof[k], hub.key.public)
                  for k in ("earlier", "later"))
    assert one.size == other.size
    assert one.root != other.root
    with bob.open() as v:
        assert v.index.count(type=ALERT_EVENT) == 1
        assert verify_vault(v).ok

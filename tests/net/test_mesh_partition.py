"""A mesh partition and its healing, over real TLS on loopback (serve's HeadlessPeer on one
side, sync_client on the other): three replicas in step, then cut in two; `mesh` on each
side shows when it last synced with each peer, what each copy lacks, and the belief that
is contested on the other copies only because they lack the attestation that settled it
here; after healing every picture says "in step" and every replica has one state_hash."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from provara_desktop.cli import main
from provara_desktop.net import sync_client
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.store.evidence import attest, observe
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.verify_vault import verify_vault
from tests.interop.reference_checks import provara, reference_state_hash
from tests.net.sync_helpers import FAST, Replica

if TYPE_CHECKING:
    import pytest

BOUND = 30.0


def _sync(client: Replica, server: Replica) -> None:
    """One session: ``server`` serves on loopback, ``client`` syncs with it."""
    async def go() -> None:
        peer = HeadlessPeer(server.root, server.home, server.key, ServeOptions(
            host="127.0.0.1", port=0, discovery=False, session=FAST))
        host, port = await peer.start()
        try:
            result, _ = await asyncio.wait_for(sync_client.sync_with(
                f"{host}:{port}", vault_root=client.root, home=client.home, key=client.key,
                config=FAST), BOUND)
            assert result.ok, result.error
        finally:
            await peer.stop()

    asyncio.run(go())


def _mesh(r: Replica, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["--home", str(r.home), "mesh", str(r.root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {"doc": doc, **{p["name"]: p for p in doc["peers"]}}


def _see(r: Replica, value: str, confidence: float) -> None:
    with r.open() as v:
        observe(v, r.key, r.name, subject="door", predicate="state", value=value,
                confidence=confidence)


def test_a_partition_is_pictured_and_heals(make_replica: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = make_replica("alice"), make_replica("bob"), make_replica("carol")
    for me in (a, b, c):
        for other in (a, b, c):
            if other is not me:
                TrustStore(me.home).add(other.key.key_id, other.key.public.b64, other.name)
    _see(a, "open", 0.9)
    _see(b, "closed", 0.9)
    _sync(a, b)
    _sync(b, c)
    _sync(c, a)
    # All three hold every event now, but alice last saw bob's copy before carol's events
    # reached it: what a replica knows of another copy is what their last sync showed.
    assert _mesh(a, capsys)["bob"]["lacks"] == {"carol": 2}
    _sync(a, b)
    _sync(b, c)
    for r in (a, b, c):
        pic = _mesh(r, capsys)
        assert not pic["doc"]["partitioned"], pic
    # The cut: alice alone on one side, bob and carol on the other.
    with a.open() as v:
        attest(v, a.key, a.name, subject="door", predicate="state", value="open")
    b.record(2)
    _sync(b, c)
    alice = _mesh(a, capsys)
    assert alice["doc"]["partitioned"]
    for name in ("bob", "carol"):
        assert alice[name]["lacks"] == {"alice": 1}
        # contested there only because the attestation that settled it here has not arrived
        assert alice[name]["contested_only_there"] == ["door:state"]
    bob = _mesh(b, capsys)
    assert bob["alice"]["lacks"] == {"bob": 2}  # what bob knows: alice's copy is behind
    assert bob["alice"]["synced_utc"] < bob["carol"]["synced_utc"]
    assert bob["carol"]["converged"]
    assert bob["alice"]["contested_only_there"] == []  # bob's new events settle nothing
    # Healing: alice meets bob, bob meets carol again.
    _sync(a, b)
    _sync(b, c)
    _sync(c, a)
    hashes = {r.state_hash() for r in (a, b, c)}
    assert len(hashes) == 1
    for r in (a, b, c):
        pic = _mesh(r, capsys)
        assert not pic["doc"]["partitioned"], pic
        assert all(p["contested_only_there"] == [] for p in pic["doc"]["peers"])
        with r.open() as v:
            assert verify_vault(v).ok
            assert "door:state" in v.reduce().export_state()["canonical"]
        # and the reference agrees on every healed replica
        done = provara("verify", str(r.root))
        assert done.returncode == 0, done.stdout + done.stderr
        assert reference_state_hash(r.root) == r.state_hash()

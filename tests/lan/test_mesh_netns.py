"""Three replicas in three network namespaces joined by a bridge (tests/lan/conftest.py):
each runs the real ``serve`` (announcing by mDNS on its own address, gossiping every 2 s),
they see each other with ``peers``, are paired in a line (A-B, B-C) with ``pair offer`` /
``pair join``, and converge by gossip alone to byte-identical events.ndjson and one
state_hash, ``verify`` (and the reference's ``provara verify``, when installed) passing on
each; a partition (B cut off while A and C write) heals by itself. Then a link is cut in
the middle of a large sync and brought back: the cut session ends, the vault verifies, and
the next sync completes. Every wait is bounded; traffic stays
in the test's namespaces."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.net.sync_session import BATCH_EVENTS, WINDOW
from provara_desktop.store.identity import IdentityStore
from tests.conftest import optional_reference_cli
from tests.lan.conftest import _ip, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from tests.lan.conftest import Lan

pytestmark = pytest.mark.lan

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
UID = "0c4d7e1a-2b3f-4a5b-8c9d-0e1f2a3b4c5d"
NAMES = {"a": "Alice", "b": "Bob", "c": "Carol"}
CONVERGE = 60.0
# Events in the sync whose link is cut: more than the sender may have in flight unacked
# (WINDOW batches), so the cut after B's first commit always leaves a part unsent.
LARGE = (WINDOW + 2) * BATCH_EVENTS


@pytest.fixture
def mesh(lan: Lan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    monkeypatch.delenv("PROVARA_HOME", raising=False)
    out: dict[str, Any] = {}
    for h, name in NAMES.items():
        lan.add_host(h)
        home = tmp_path / f"{h}-home"
        IdentityStore(home, **FAST).create(name, PASS)
        vault = tmp_path / f"{h}-vault"
        res = lan.run(h, cli(home, "init", str(vault), "--uid", UID))
        assert res.returncode == 0, res.stderr
        out[h] = {"home": home, "vault": vault}
    return out


def cli(home: Path, *args: str) -> list[str]:
    return ["-m", "provara_desktop", "--home", str(home), *args]


def run_json(lan: Lan, h: str, home: Path, *args: str) -> Any:
    res = lan.run(h, cli(home, *args, "--json"))
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return json.loads(res.stdout)


def pair(lan: Lan, mesh: dict[str, Any], offerer: str, joiner: str) -> None:
    offer = lan.start(offerer, cli(mesh[offerer]["home"], "pair", "offer", "--host",
                                   lan.addr(offerer), "--port", "0", "--timeout", "30",
                                   "--json"))
    assert offer.stdout is not None
    first = json.loads(offer.stdout.readline())
    join = lan.run(joiner, cli(mesh[joiner]["home"], "pair", "join",
                               f"{lan.addr(offerer)}:{first['port']}", "--code",
                               first["code"], "--json"))
    assert join.returncode == 0, join.stderr
    assert offer.wait(timeout=30) == 0


def ready_line(proc: subprocess.Popen[str]) -> Any:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded: serve says it is ready or exits
    if not line:
        _, err = proc.communicate(timeout=15)
        pytest.fail(f"serve did not start: {err[-2000:]}")
    return json.loads(line)


def log(mesh: dict[str, Any], h: str) -> bytes:
    return bytes((mesh[h]["vault"] / "events" / "events.ndjson").read_bytes())


def observe(lan: Lan, mesh: dict[str, Any], h: str, n: int) -> None:
    for i in range(n):
        res = lan.run(h, cli(mesh[h]["home"], "observe", str(mesh[h]["vault"]), "--subject",
                             f"{NAMES[h]}-{i}", "--predicate", "seen", "--value", str(i)))
        assert res.returncode == 0, res.stderr


def observe_many(mesh: dict[str, Any], h: str, n: int) -> None:
    """Many events at once: built in memory as one chain from the actor's head and written
    in a few appends (an event per write, each its own transaction, took ~8 ms apiece)."""
    from provara_desktop.core.event import build_event
    from provara_desktop.store.vault import Vault

    ids = IdentityStore(mesh[h]["home"])
    key, actor = ids.unlock(PASS), ids.load().actor
    vault = Vault.open(mesh[h]["vault"], home=mesh[h]["home"])
    try:
        head = vault.chain_head(actor)
        prev = head.event_id if head is not None else None
        ts = int(vault.read_row(head).get("ts_logical", 0)) if head is not None else 0
        for start in range(0, n, 5000):
            batch = []
            for i in range(start, min(n, start + 5000)):
                ts += 1
                ev = build_event(event_type="OBSERVATION", actor=actor, key=key,
                                 payload={"subject": f"{NAMES[h]}-bulk-{i}",
                                          "predicate": "seen", "value": i},
                                 prev_event_hash=prev, namespace="local", ts_logical=ts)
                batch.append(ev)
                prev = ev["event_id"]
            vault.append(batch, signer=key)
    finally:
        vault.close()


def assert_verified(lan: Lan, mesh: dict[str, Any], *hosts: str) -> None:
    reference = optional_reference_cli()
    for h in hosts:
        assert run_json(lan, h, mesh[h]["home"], "verify", str(mesh[h]["vault"]))["ok"]
        if reference is not None:
            done = subprocess.run([reference, "verify", str(mesh[h]["vault"])],
                                  capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "PASS" in done.stdout


def test_three_namespaces_paired_in_a_line_converge_by_gossip(
        lan: Lan, mesh: dict[str, Any]) -> None:
    pair(lan, mesh, "b", "a")
    pair(lan, mesh, "b", "c")
    key = {h: run_json(lan, h, mesh[h]["home"], "identity", "show")["key_id"] for h in mesh}
    observe(lan, mesh, "a", 3)
    observe(lan, mesh, "b", 1)
    observe(lan, mesh, "c", 2)
    total = sum(len(log(mesh, h).splitlines()) for h in mesh)
    for h in mesh:  # the default port: the one pairing recorded for each peer
        proc = lan.start(h, cli(mesh[h]["home"], "serve", str(mesh[h]["vault"]), "--host",
                                lan.addr(h), "--json", "--gossip-interval", "2"))
        ready = ready_line(proc)
        assert ready["discovery"] == "on", ready
    # Discovery by mDNS across the bridge: C sees B's serve, paired, at its address.
    seen = run_json(lan, "c", mesh["c"]["home"], "peers", "--timeout", "4", "--interface",
                    lan.addr("c"))
    b_seen = [p for p in seen["peers"] if p.get("key_id") == key["b"]
              or p.get("fingerprint") == key["b"][4:12]]
    assert b_seen, f"C does not see B by mDNS: {seen}"
    assert lan.addr("b") in b_seen[0]["addresses"]

    def level() -> bool:
        logs = {log(mesh, h) for h in mesh}
        return len(logs) == 1 and len(next(iter(logs)).splitlines()) == total

    assert wait_until(level, CONVERGE), "the three replicas did not converge by gossip"
    hashes = {run_json(lan, h, mesh[h]["home"], "state", str(mesh[h]["vault"]))["state_hash"]
              for h in mesh}
    assert len(hashes) == 1
    assert_verified(lan, mesh, *mesh)
    trust_c = {k["key_id"]: k for k in run_json(lan, "c", mesh["c"]["home"], "trust",
                                                "list")["keys"]}
    assert trust_c[key["a"]]["source"]["kind"] == "vouched"
    assert "vouched for by Bob" in trust_c[key["a"]]["source"]["text"]

    # A partition heals by itself: B is cut off while both ends write; once its link is
    # back, gossip (past its back-off) levels the three again.
    lan.cut("b")
    try:
        observe(lan, mesh, "a", 1)
        observe(lan, mesh, "c", 1)
        total += 2
        assert not wait_until(level, 4.0)  # nothing crosses while B is cut off
    finally:
        _ip("-n", lan.bridge_ns, "link", "set", "br-b", "up")
    assert wait_until(level, CONVERGE), "the partition did not heal by gossip"
    assert_verified(lan, mesh, *mesh)


def test_a_link_cut_mid_sync_leaves_a_valid_vault_and_the_next_sync_completes(
        lan: Lan, mesh: dict[str, Any]) -> None:
    pair(lan, mesh, "b", "a")
    observe_many(mesh, "a", LARGE)
    server = lan.start("a", cli(mesh["a"]["home"], "serve", str(mesh["a"]["vault"]),
                                "--host", lan.addr("a"), "--json", "--no-discovery",
                                "--gossip-interval", "0"))
    ready = ready_line(server)
    address = f"{lan.addr('a')}:{ready['port']}"
    before = len(log(mesh, "b"))
    first = lan.start("b", cli(mesh["b"]["home"], "sync", str(mesh["b"]["vault"]), "--peer",
                               address, "--json"))
    # Cut as soon as the first batch is committed at B.
    grew = wait_until(lambda: len(log(mesh, "b")) > before, 60.0)
    lan.cut("a")
    try:
        assert grew, "B's first batch never arrived"
        code = first.wait(timeout=90)  # the read deadline (30 s) ends the cut session
        assert code != 0, "the sync completed before the link was cut (make LARGE larger)"
    finally:
        _ip("-n", lan.bridge_ns, "link", "set", "br-a", "up")
    partial = len(log(mesh, "b").splitlines())
    assert partial < len(log(mesh, "a").splitlines())
    assert_verified(lan, mesh, "b")  # whole batches only, nothing half-written
    res = wait_until(lambda: (r := lan.run("b", cli(
        mesh["b"]["home"], "sync", str(mesh["b"]["vault"]), "--peer", address, "--json")))
        .returncode == 0 and r, 60.0)
    assert res, "the sync after the link came back did not complete"
    assert log(mesh, "a") == log(mesh, "b")
    assert_verified(lan, mesh, "a", "b")


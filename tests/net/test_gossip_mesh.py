# ruff: noqa: F811  (pytest fixtures imported by name are parameters here)
"""Gossip across a line of three ``serve`` processes on loopback (separate ``--home``
profiles): A and C are each paired with B only and do not trust each other; B trusts both.
A write at A reaches C by gossip alone (nobody runs ``sync`` after the first contact), C's
trust list then shows A's key "vouched for by Bob", and ``trust policy --only-direct`` on C's
entry for B holds A's later events back. Every wait is bounded."""

from __future__ import annotations

import time
from typing import Any

from tests.net.test_cli_lan import (  # noqa: F401, F811  (fixtures)
    identity_files,
    pair,
    paired_keys,
    people,
    start,
    sync,
)

GOSSIP = "1"  # seconds between periodic syncs (the default is 60)
CONVERGE_TIMEOUT = 45.0


def gossip_serve(people: Any, who: Any) -> tuple[Any, str]:
    proc = start(people, who.argv("serve", str(who.vault), "--host", "127.0.0.1", "--port",
                                  "0", "--json", "--no-discovery", "--gossip-interval",
                                  GOSSIP))
    ready = proc.json_line()
    return proc, f"{ready['host']}:{ready['port']}"


def wait_for(what: str, check: Any, timeout: float = CONVERGE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def test_a_write_at_one_end_of_a_line_reaches_the_other_by_gossip_alone(people: Any) -> None:
    alice, bob, carol = people("Alice", "Bob", "Carol")
    assert pair(people, alice, bob)[0:3:2] == (0, 0)
    assert pair(people, carol, bob)[0:3:2] == (0, 0)
    a_id, b_id = alice.key_id(), bob.key_id()
    assert a_id not in paired_keys(carol)
    assert carol.key_id() not in paired_keys(alice)
    procs = {p.name: gossip_serve(people, p) for p in (bob, alice, carol)}
    # First contact: A and C learn where B listens (the address a completed sync records);
    # B knows no address of either, so what reaches C goes through C's own gossip with B.
    for end in (alice, carol):
        code, _, err = sync(end, procs["Bob"][1])
        assert code == 0, err
    alice.observe(1, tag="-gossip")
    mark = b"Alice-gossip-0"
    assert mark in alice.log()
    wait_for("A's write at C", lambda: mark in carol.log())
    entry = paired_keys(carol)[a_id]
    assert entry["in_force"] is True
    assert entry["source"]["kind"] == "vouched"
    assert entry["source"]["by_key_id"] == b_id
    assert "vouched for by Bob" in entry["source"]["text"]
    listed = carol.run("trust", "list")
    assert listed.returncode == 0
    assert f"{a_id}" in listed.stdout
    assert "vouched for by Bob" in listed.stdout

    # C makes B stricter: only events by keys C trusts directly. A's next event stays at B.
    done = carol.run("trust", "policy", b_id, "--only-direct", "--json")
    assert done.returncode == 0, done.stderr
    alice.observe(1, tag="-strict")
    strict = b"Alice-strict-0"
    wait_for("A's second write at B", lambda: strict in bob.log())
    code, report, err = sync(carol, procs["Bob"][1])
    assert code == 0, err
    assert report["peers"][0]["held_back"] >= 1
    time.sleep(2.5)  # two more gossip rounds: still held back
    assert strict not in carol.log()
    # Back to the default: it arrives by gossip.
    assert carol.run("trust", "policy", b_id, "--reset").returncode == 0
    wait_for("A's second write at C after --reset", lambda: strict in carol.log())
    for proc, _ in procs.values():
        proc.p.send_signal(15)
        assert proc.wait(timeout=20) == 0, proc.stderr
        assert "Traceback" not in proc.stderr

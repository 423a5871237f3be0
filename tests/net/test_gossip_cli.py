"""`trust policy` and `serve --gossip-interval` as people run them (real processes, separate
profiles): the policy is shown, replaced, reset; bad input exits 2 with one line and leaves
the trust store byte-for-byte unchanged."""

# ruff: noqa: F811  (pytest fixtures imported by name are parameters here)
from __future__ import annotations

import json
from typing import Any

from tests.net.test_cli_lan import identity_files, people  # noqa: F401  (fixtures)


def test_trust_policy_shows_replaces_and_resets(people: Any) -> None:
    alice, bob = people("Alice", "Bob")
    shown = bob.json("identity", "show")
    assert alice.run("trust", "add", shown["key_id"], "--public-key",
                     shown["public_key_b64"], "--name", "Bob").returncode == 0
    kid = shown["key_id"]
    doc = alice.json("trust", "policy", kid)
    assert doc["policy"] == {}
    assert "one hop" in doc["text"]
    doc = alice.json("trust", "policy", kid, "--direction", "receive", "--only-direct",
                     "--actor", "Bob", "--namespace", "case-1")
    assert doc["policy"] == {"direction": "receive", "relayed": "direct-only",
                             "actors": ["Bob"], "namespaces": ["case-1"]}
    listed = {k["key_id"]: k for k in alice.json("trust", "list")["keys"]}
    assert listed[kid]["policy"] == doc["policy"]
    human = alice.run("trust", "policy", kid)
    assert human.returncode == 0
    assert "receive only" in human.stdout
    assert "only events by keys you trust directly" in human.stdout
    shown_list = alice.run("trust", "list")
    assert "sync policy: receive only" in shown_list.stdout
    assert alice.json("trust", "policy", kid, "--reset")["policy"] == {}
    # A role in the topology: recorded, explained, and it sets the direction it implies.
    doc = alice.json("trust", "policy", kid, "--role", "parent")
    assert doc["roles"] == ["parent"]
    assert doc["policy"] == {"direction": "send"}
    assert "nothing comes down" in doc["role_meaning"][0]
    doc = alice.json("trust", "policy", kid, "--role", "hub", "--direction", "receive")
    assert (doc["roles"], doc["policy"]) == (["hub"], {"direction": "receive"})
    doc = alice.json("trust", "policy", kid, "--reset")
    assert (doc["roles"], doc["policy"]) == ([], {})


def test_trust_policy_bad_input_exits_2_and_changes_nothing(people: Any) -> None:
    alice, bob = people("Alice", "Bob")
    shown = bob.json("identity", "show")
    assert alice.run("trust", "add", shown["key_id"], "--public-key",
                     shown["public_key_b64"]).returncode == 0
    store = alice.home / "trust.json"
    before = store.read_bytes()
    for args in (("trust", "policy", "bp1_0000000000000000", "--only-direct"),
                 ("trust", "policy", "bp1_0000000000000000"),
                 ("trust", "policy", shown["key_id"], "--only-direct", "--chained"),
                 ("trust", "policy", shown["key_id"], "--direction", "sideways")):
        done = alice.run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert store.read_bytes() == before
    json.loads(store.read_text())


def test_serve_refuses_a_negative_gossip_interval(people: Any) -> None:
    (alice,) = people("Alice")
    done = alice.run("serve", str(alice.vault), "--port", "0", "--no-discovery",
                     "--gossip-interval", "-1")
    assert done.returncode == 2
    assert "--gossip-interval" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

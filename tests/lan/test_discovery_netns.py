"""Discovery between hosts over real multicast: one peer process per network namespace, the
namespaces joined by a bridge (tests/lan/conftest.py). The browser side is the real
``peers --json`` command (a paired profile's pairing secrets included), and
tests/lan/peer_main.py for announcers and for a bare browser holding only a secret."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.keys import SigningKey
from provara_desktop.net.pairing_secrets import save_pairing_secret
from provara_desktop.store.trust import TrustSource, TrustStore

if TYPE_CHECKING:
    from pathlib import Path

    from tests.lan.conftest import Lan

pytestmark = pytest.mark.lan

BROWSE = "4"  # seconds each browser listens: an announcer already up is found in ~0.1 s


def peers_cli(lan: Lan, host: str, home: Path, *extra: str) -> dict[str, Any]:
    res = lan.run(host, ["-m", "provara_desktop", "--home", str(home), "peers", "--json",
                         "--timeout", BROWSE, "--interface", lan.addr(host), *extra])
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def browse(lan: Lan, host: str, *extra: str) -> dict[str, Any]:
    res = lan.run(host, ["-m", "tests.lan.peer_main", "browse", "--interface",
                         lan.addr(host), "--timeout", BROWSE, *extra])
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def by_fp(doc: dict[str, Any], key_id: str) -> dict[str, Any] | None:
    return next((p for p in doc["peers"] if p["fingerprint"] == key_id[4:12]), None)


def test_peers_in_three_namespaces_find_each_other_with_trust_state(
        lan: Lan, tmp_path: Path) -> None:
    for h in "abc":
        lan.add_host(h)
    alice, bob = SigningKey.generate(), SigningKey.generate()
    lan.announce("a", "--key-id", alice.key_id, "--name", "Alice", "--port", "7201")
    lan.announce("b", "--key-id", bob.key_id, "--name", "Bob", "--port", "7202")
    home = tmp_path / "carol"
    home.mkdir()
    TrustStore(home).add(alice.key_id, alice.public.b64, "Alice")

    doc = peers_cli(lan, "c", home)
    a, b = by_fp(doc, alice.key_id), by_fp(doc, bob.key_id)
    assert a is not None, f"Carol did not see Alice across the bridge: {doc}"
    assert b is not None, f"Carol did not see Bob across the bridge: {doc}"
    assert (a["name"], a["addresses"], a["port"], a["source"]) == (
        "Alice", [lan.addr("a")], 7201, "mdns")
    assert (a["trust"], a["key_id"]) == ("trusted", alice.key_id)
    assert "fingerprint prefix only" in a["trust_detail"]
    assert (b["name"], b["addresses"], b["trust"], b["key_id"]) == (
        "Bob", [lan.addr("b")], "unknown", None)
    d = doc["diagnostics"]
    assert d["interfaces"] == [{"address": lan.addr("c"), "joined": True, "problem": None}]
    assert d["multicast_answers"] >= 2
    assert d["last_answer_utc"] is not None
    assert d["errors"] == []
    assert d["hints"] == []


def test_a_discreet_peer_shows_a_stranger_nothing_and_its_paired_peer_knows_it(
        lan: Lan, tmp_path: Path) -> None:
    for h in "abc":
        lan.add_host(h)
    bob, carol = SigningKey.generate(), SigningKey.generate()
    secret = os.urandom(32).hex()
    ready = lan.announce("b", "--key-id", bob.key_id, "--name", "Bob Hidden", "--discreet",
                         "--secret", f"{carol.key_id}={secret}", "--port", "7203")
    instance = ready["instance"].split("._provara._tcp.local.")[0]

    home = tmp_path / "stranger"
    home.mkdir()
    TrustStore(home).add(bob.key_id, bob.public.b64, "Bob")  # trusts Bob, but is not paired
    stranger = peers_cli(lan, "a", home)
    seen = next((p for p in stranger["peers"] if p["instance"] == instance), None)
    assert seen is not None, f"the stranger saw no discreet peer at all: {stranger}"
    assert (seen["name"], seen["fingerprint"], seen["key_id"], seen["discreet"]) == (
        None, None, None, True)
    assert (seen["trust"], seen["addresses"], seen["port"]) == (
        "unknown", [lan.addr("b")], 7203)
    text = json.dumps(stranger)
    assert "Bob" not in text
    assert bob.key_id[4:12] not in text

    # Carol paired with Bob: her profile holds Bob's key (paired) and their pairing secret.
    carol_home = tmp_path / "carol"
    carol_home.mkdir()
    TrustStore(carol_home).add(bob.key_id, bob.public.b64, "Bob", source=TrustSource.paired(
        method="spake2", fingerprints={"mine": carol.public.fingerprint,
                                       "theirs": bob.public.fingerprint}))
    save_pairing_secret(carol_home, bob.key_id, bytes.fromhex(secret))
    paired = peers_cli(lan, "c", carol_home)
    found = next((p for p in paired["peers"] if p["key_id"] == bob.key_id), None)
    assert found is not None, f"the paired peer did not recognise Bob: {paired}"
    assert (found["instance"], found["addresses"], found["name"], found["trust"]) == (
        instance, [lan.addr("b")], None, "paired")
    # The same recognition by a bare browser holding only the secret (no trust store).
    bare = browse(lan, "c", "--secret", f"{bob.key_id}={secret}")
    assert any(p["key_id"] == bob.key_id for p in bare["peers"]), bare


def test_a_cut_link_is_explained_by_the_diagnostics(lan: Lan, tmp_path: Path) -> None:
    for h in "ab":
        lan.add_host(h)
    alice = SigningKey.generate()
    lan.announce("a", "--key-id", alice.key_id, "--name", "Alice", "--port", "7204")
    lan.cut("b")
    home = tmp_path / "bob"
    home.mkdir()
    doc = peers_cli(lan, "b", home, "--peer", f"{lan.addr('a')}:7204")
    assert by_fp(doc, alice.key_id) is None
    assert doc["diagnostics"]["multicast_answers"] == 0
    assert doc["diagnostics"]["last_answer_utc"] is None
    assert any("no multicast answer arrived" in h for h in doc["diagnostics"]["hints"])
    # The manual fallback still lists the peer the user named.
    manual = [p for p in doc["peers"] if p["source"] == "manual"]
    assert [(p["addresses"], p["port"]) for p in manual] == [([lan.addr("a")], 7204)]


def test_discovery_over_ipv6_between_namespaces(lan: Lan, tmp_path: Path) -> None:
    for h in "ab":
        lan.add_host(h)
    alice = SigningKey.generate()
    proc = lan.start("a", ["-m", "tests.lan.peer_main", "announce", "--interface",
                           lan.addr6("a"), "--key-id", alice.key_id, "--name", "Alice6",
                           "--port", "7205", "--lifetime", "90"])
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline() or "{}")
    assert ready.get("ready"), f"no IPv6 announcement: {ready}"
    home = tmp_path / "bob"
    home.mkdir()
    res = lan.run("b", ["-m", "provara_desktop", "--home", str(home), "peers", "--json",
                        "--timeout", BROWSE, "--interface", lan.addr6("b")])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    a = by_fp(doc, alice.key_id)
    assert a is not None, f"no peer seen over IPv6: {doc}"
    assert a["addresses"] == [lan.addr6("a")]
    assert doc["diagnostics"]["ip_version"] == "v6"


def test_port_5353_held_by_another_program_is_named(lan: Lan, tmp_path: Path) -> None:
    lan.add_host("a")
    holder = lan.start("a", ["-c", "import socket, sys\n"
                             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                             "s.bind(('0.0.0.0', 5353))  # no SO_REUSEADDR: exclusive\n"
                             "print('held', flush=True)\n"
                             "sys.stdin.read()\n"])
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    home = tmp_path / "alice"
    home.mkdir()
    res = lan.run("a", ["-m", "provara_desktop", "--home", str(home), "peers", "--json",
                        "--timeout", "1", "--interface", lan.addr("a")])
    assert res.returncode == 2
    doc = json.loads(res.stdout)
    assert any("UDP port 5353 (mDNS) is in use" in e for e in doc["diagnostics"]["errors"])
    assert "UDP port 5353 (mDNS) is in use" in res.stderr
    assert doc["diagnostics"]["interfaces"][0]["joined"] is False


def test_the_systems_choice_without_a_multicast_route_is_named(lan: Lan,
                                                                tmp_path: Path) -> None:
    # The namespace has only its /24 route: no default route, no 224.0.0.0/4 route, which
    # is what InterfaceChoice.Default (the app's default) needs.
    lan.add_host("a")
    home = tmp_path / "alice"
    home.mkdir()
    res = lan.run("a", ["-m", "provara_desktop", "--home", str(home), "peers", "--json",
                        "--timeout", "1"])
    doc = json.loads(res.stdout)
    assert any("no multicast route" in e for e in doc["diagnostics"]["errors"]), doc
    assert doc["diagnostics"]["mode"] == "default"
    # Without a route zeroconf cannot join the group either: the interface says so.
    assert res.returncode == 2
    assert [(i["address"], i["joined"]) for i in doc["diagnostics"]["interfaces"]] == [
        (lan.addr("a"), False)]
    assert "pass --interface" in res.stderr

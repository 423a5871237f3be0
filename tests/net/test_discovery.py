"""Discovery over real mDNS on loopback only (zeroconf bound to 127.0.0.1, IPv4: nothing
reaches the machine's real network). Other tests may announce on loopback at the same time,
so every check looks for this test's own (random) keys and names, never for "exactly N"."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from provara_desktop.cli import main as cli_main
from provara_desktop.core.keys import SigningKey
from provara_desktop.net import discreet
from provara_desktop.net.discovery import (
    ALLOWED_TXT_KEYS,
    SERVICE_TYPE,
    Announcement,
    MdnsDiscovery,
    parse_announcement,
)
from provara_desktop.net.manual_peers import ManualPeers
from provara_desktop.net.peers_view import PeerInView, PeersInView, trust_state
from provara_desktop.store.trust import TrustSource, TrustStore

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    import pytest

REPO = Path(__file__).resolve().parents[2]
LO = ["127.0.0.1"]
WAIT = 15.0  # every wait is bounded; a loaded 2-core machine needs more than the ~2 s usual


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def until(pred: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (got := pred()):
            return got
        await asyncio.sleep(0.05)
    return pred()


def of(model: PeersInView, **match: Any) -> PeerInView | None:
    return next((p for p in model.peers()
                 if all(getattr(p, k) == v for k, v in match.items())), None)


def new_key_id() -> str:
    return str(SigningKey.generate().key_id)


async def raw_txt(instance_name: str) -> tuple[dict[bytes, bytes | None], str | None]:
    """The TXT record and SRV target as any stranger's mDNS stack gets them."""
    aiozc = AsyncZeroconf(interfaces=LO, ip_version=IPVersion.V4Only)
    try:
        info = AsyncServiceInfo(SERVICE_TYPE, instance_name)
        assert await info.async_request(aiozc.zeroconf, 5000), "no answer to a direct query"
        return dict(info.properties), info.server
    finally:
        await aiozc.async_close()


def test_two_announcers_see_each_other_with_name_fingerprint_and_port() -> None:
    ka, kb = new_key_id(), new_key_id()

    async def scenario() -> None:
        ma, mb = PeersInView(), PeersInView()
        a = MdnsDiscovery(ma, interfaces=LO, announcement=Announcement(7101, ka, name="Alice"))
        b = MdnsDiscovery(mb, interfaces=LO, announcement=Announcement(7102, kb, name="Bob"))
        assert await a.start()
        assert await b.start()
        try:
            bob = await until(lambda: of(ma, fingerprint=kb[4:12]))
            alice = await until(lambda: of(mb, fingerprint=ka[4:12]))
            assert bob is not None, "Alice never saw Bob"
            assert alice is not None, "Bob never saw Alice"
            assert (bob.name, bob.port, bob.addresses, bob.source) == (
                "Bob", 7102, ("127.0.0.1",), "mdns")
            assert (alice.name, alice.port, alice.discreet) == ("Alice", 7101, False)
            assert alice.versions == (1,)
            assert alice.first_seen <= alice.last_seen
            # Nobody lists itself.
            assert of(ma, fingerprint=ka[4:12]) is None
            assert of(mb, fingerprint=kb[4:12]) is None
        finally:
            await asyncio.gather(a.stop(), b.stop())

    run(scenario())


def test_the_txt_record_holds_only_what_a_stranger_may_see() -> None:
    key = SigningKey.generate()
    kid = key.key_id

    async def scenario() -> None:
        a = MdnsDiscovery(PeersInView(), interfaces=LO, browse=False,
                          announcement=Announcement(7103, kid, name="Alice Example"))
        assert await a.start()
        assert await a.wait_announced(WAIT)
        try:
            props, server = await raw_txt(a._registered.name)
        finally:
            await a.stop()
        keys = {k.decode() for k in props}
        assert keys <= ALLOWED_TXT_KEYS
        assert props == {b"v": b"1", b"n": b"Alice Example", b"fp": kid[4:12].encode()}
        blob = b"".join(k + (v or b"") for k, v in props.items())
        assert kid.encode() not in blob
        assert key.public.b64.encode() not in blob
        # The host name in the SRV record is random, never the machine's.
        assert server is not None
        assert server.startswith("pv-")
        assert socket.gethostname().lower() not in server.lower()

    run(scenario())


def test_discreet_peer_shows_strangers_nothing_and_is_recognised_by_its_paired_peer() -> None:
    kb, kc = new_key_id(), new_key_id()
    pair_secret = os.urandom(32)

    async def scenario() -> None:
        stranger, paired = PeersInView(), PeersInView()
        b = MdnsDiscovery(PeersInView(), interfaces=LO, browse=False,
                          secrets={kc: pair_secret},
                          announcement=Announcement(7104, kb, name="Bob Secret",
                                                    discreet=True))
        s = MdnsDiscovery(stranger, interfaces=LO, secrets={new_key_id(): os.urandom(32)})
        c = MdnsDiscovery(paired, interfaces=LO, secrets={kc: os.urandom(8), kb: pair_secret})
        assert await s.start()
        assert await c.start()
        assert await b.start()
        try:
            assert await b.wait_announced(WAIT)
            instance = b._registered.name[: -len(SERVICE_TYPE) - 1]
            seen_by_c = await until(lambda: of(paired, key_id=kb))
            assert seen_by_c is not None, "the paired peer did not recognise the discreet one"
            assert (seen_by_c.instance, seen_by_c.port, seen_by_c.discreet) == (
                instance, 7104, True)
            seen_by_s = await until(lambda: of(stranger, instance=instance))
            assert seen_by_s is not None
            assert (seen_by_s.name, seen_by_s.fingerprint, seen_by_s.key_id) == (
                None, None, None)
            assert seen_by_s.discreet
            props, _ = await raw_txt(b._registered.name)
        finally:
            await asyncio.gather(b.stop(), s.stop(), c.stop())
        blob = instance.encode() + b"".join(k + (v or b"") for k, v in props.items())
        assert b"Bob" not in blob
        assert kb[4:12].encode() not in blob
        assert kb.encode() not in blob
        assert {k.decode() for k in props} <= ALLOWED_TXT_KEYS
        assert b"n" not in props
        assert b"fp" not in props
        assert props[b"d"] == b"1"
        assert len(props[b"t0"] or b"") == 16 * discreet.TOKEN_PAD  # padded: count hidden

    run(scenario())


def test_discreet_name_and_tokens_change_every_window(monkeypatch: pytest.MonkeyPatch) -> None:
    kb, kc = new_key_id(), new_key_id()
    secret = os.urandom(32)
    monkeypatch.setattr(discreet, "WINDOW_SECONDS", 4)

    async def scenario() -> None:
        paired = PeersInView()
        b = MdnsDiscovery(PeersInView(), interfaces=LO, browse=False, secrets={kc: secret},
                          announcement=Announcement(7105, kb, discreet=True))
        c = MdnsDiscovery(paired, interfaces=LO, secrets={kb: secret})
        assert await c.start()
        assert await b.start()
        try:
            first = await until(lambda: of(paired, key_id=kb))
            assert first is not None
            later = await until(lambda: (p := of(paired, key_id=kb)) is not None
                                and p.instance != first.instance and p, timeout=WAIT + 8)
            assert later, "the discreet announcement kept its name past its window"
            # The old name said goodbye: the paired peer does not keep a stale entry.
            assert await until(lambda: of(paired, instance=first.instance) is None)
        finally:
            await asyncio.gather(b.stop(), c.stop())

    run(scenario())


def test_tokens_accept_one_window_of_skew_and_nothing_else() -> None:
    secret, other = os.urandom(32), os.urandom(32)
    now = 1_800_000_000.0
    w = discreet.window_of(now)
    ok = {"bp1_aaaaaaaaaaaaaaaa": secret}
    for skew in (-1, 0, 1):
        tokens = discreet.announce_tokens(ok, w + skew, "pv-x")
        assert discreet.match_tokens(ok, tokens, "pv-x", now) == "bp1_aaaaaaaaaaaaaaaa"
    for skew in (-2, 2):
        assert discreet.match_tokens(ok, discreet.announce_tokens(ok, w + skew, "pv-x"),
                                     "pv-x", now) is None
    tokens = discreet.announce_tokens(ok, w, "pv-x")
    assert discreet.match_tokens(ok, tokens, "pv-y", now) is None  # copied under another name
    assert discreet.match_tokens({"bp1_b": other}, tokens, "pv-x", now) is None
    assert len(tokens) == discreet.TOKEN_PAD
    many = {f"bp1_{i:016x}": os.urandom(32) for i in range(9)}
    assert len(discreet.announce_tokens(many, w, "pv-x")) == 2 * discreet.TOKEN_PAD


def test_a_hostile_txt_record_is_checked_field_by_field() -> None:
    peer = parse_announcement("evil", {b"n": b"Mallory\x1b[2J\x00" + b"x" * 500,
                                       b"fp": b"<script>", b"v": b"1,x,99999999"},
                              ["10.0.0.9"], 7000, {}, time.time())
    assert peer is not None
    assert peer.name is not None
    assert "\x1b" not in peer.name
    assert len(peer.name) <= 64
    assert peer.fingerprint is None
    assert peer.versions == (1,)
    assert parse_announcement("evil", {}, ["10.0.0.9"], 0, {}, time.time()) is None
    bad_tokens = parse_announcement("evil", {b"d": b"1", b"t0": b"zz" * 8}, [], 7000,
                                    {"bp1_a": b"k"}, time.time())
    assert bad_tokens is not None
    assert bad_tokens.key_id is None
    assert bad_tokens.discreet


def test_manual_peers_merge_into_the_same_view() -> None:
    ka = new_key_id()

    async def scenario() -> None:
        model = PeersInView()
        a = MdnsDiscovery(PeersInView(), interfaces=LO, browse=False,
                          announcement=Announcement(7106, ka, name="Alice"))
        browser = MdnsDiscovery(model, interfaces=LO)
        manual = ManualPeers(model, ["10.77.0.9:7000", "[fd00::2]:7001"], browser.diagnostics)
        assert await a.start()
        assert await browser.start()
        await manual.start()
        try:
            assert await until(lambda: of(model, fingerprint=ka[4:12]))
            m = {p.instance: p for p in model.peers() if p.source == "manual"}
            assert set(m) == {"10.77.0.9:7000", "[fd00::2]:7001"}
            assert m["[fd00::2]:7001"].addresses == ("fd00::2",)
            assert browser.diagnostics.manual_peers == 2
        finally:
            await manual.stop()
            await asyncio.gather(a.stop(), browser.stop())
        assert not [p for p in model.peers() if p.source == "manual"]

    run(scenario())


def test_diagnostics_count_answers_and_own_echo_and_name_a_bad_interface() -> None:
    ka = new_key_id()

    async def scenario() -> None:
        listener = MdnsDiscovery(PeersInView(), interfaces=LO)
        assert await listener.start()
        before = listener.diagnostics.multicast_answers
        a = MdnsDiscovery(PeersInView(), interfaces=LO,
                          announcement=Announcement(7107, ka, name="Alice"))
        assert await a.start()
        assert await a.wait_announced(WAIT)
        try:
            assert await until(lambda: a.diagnostics.own_echoes > 0)
            assert await until(lambda: listener.diagnostics.provara_answers > 0)
            d = listener.diagnostics.to_json()
            assert d["multicast_answers"] > before
            assert d["last_answer_utc"].endswith("Z")
            assert d["interfaces"] == [{"address": "127.0.0.1", "joined": True,
                                        "problem": None}]
            assert d["errors"] == []
        finally:
            await asyncio.gather(a.stop(), listener.stop())
        # An address that is not this machine's: named, and discovery says it cannot start.
        bad = MdnsDiscovery(PeersInView(), interfaces=["192.0.2.77"])
        assert not await bad.start()
        assert any("192.0.2.77 is not an address of this machine" in e
                   for e in bad.diagnostics.errors)
        assert "no interface joined" in bad.diagnostics.hints()[0]

    run(scenario())


def test_trust_state_names_a_prefix_match_as_a_prefix_only(tmp_path: Path) -> None:
    key = SigningKey.generate()
    store = TrustStore(tmp_path)
    store.add(key.key_id, key.public.b64, "Alice")
    trusted = store.trusted()
    seen = PeerInView("Alice [x]", "mdns", ("10.0.0.1",), 7000, name="Alice",
                      fingerprint=key.key_id[4:12])
    label = trust_state(seen, trusted)
    assert (label.state, label.key_id) == ("trusted", key.key_id)
    assert "fingerprint prefix only" in label.detail
    stranger = PeerInView("Eve", "mdns", ("10.0.0.2",), 7000, fingerprint="00000000")
    assert trust_state(stranger, trusted).state == "unknown"
    # A discreet peer recognised by its pairing token is named by key id, and shown paired.
    bob = SigningKey.generate()
    store.add(bob.key_id, bob.public.b64, "Bob", source=TrustSource.paired(
        method="spake2", fingerprints={"mine": "x", "theirs": bob.public.fingerprint}))
    hidden = PeerInView("pv-1", "mdns", ("10.0.0.3",), 7000, key_id=bob.key_id, discreet=True)
    label = trust_state(hidden, store.trusted())
    assert (label.state, label.key_id) == ("paired", bob.key_id)
    unknown = PeerInView("pv-2", "mdns", ("10.0.0.4",), 7000, discreet=True)
    assert trust_state(unknown, store.trusted()).state == "unknown"


def test_peers_json_cli_shows_an_announcer_its_trust_and_the_diagnostics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = SigningKey.generate()
    home = tmp_path / "home"
    home.mkdir()
    TrustStore(home).add(key.key_id, key.public.b64, "Alice")
    announcer = subprocess.Popen(
        [sys.executable, "-m", "tests.lan.peer_main", "announce", "--interface", "127.0.0.1",
         "--key-id", key.key_id, "--name", "Alice CLI", "--port", "7108", "--lifetime", "40"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert announcer.stdout is not None
        assert json.loads(announcer.stdout.readline())["ready"]
        code = cli_main(["--home", str(home), "peers", "--json", "--timeout", "2.5",
                         "--interface", "127.0.0.1", "--peer", "127.0.0.1:7999"])
    finally:
        assert announcer.stdin is not None
        announcer.stdin.close()
        announcer.wait(timeout=15)
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"peers", "diagnostics"}
    fields = {"instance", "addresses", "port", "name", "fingerprint", "key_id", "discreet",
              "trust", "source", "last_seen_utc"}
    assert all(fields <= set(p) for p in doc["peers"])
    alice = next(p for p in doc["peers"] if p["fingerprint"] == key.key_id[4:12])
    assert (alice["name"], alice["port"], alice["source"], alice["trust"], alice["key_id"]) == (
        "Alice CLI", 7108, "mdns", "trusted", key.key_id)
    assert alice["addresses"] == ["127.0.0.1"]
    assert alice["last_seen_utc"].endswith("Z")
    manual = next(p for p in doc["peers"] if p["source"] == "manual")
    assert (manual["instance"], manual["trust"]) == ("127.0.0.1:7999", "unknown")
    d = doc["diagnostics"]
    assert {"interfaces", "multicast_answers", "last_answer_utc", "errors"} <= set(d)
    assert d["interfaces"][0]["address"] == "127.0.0.1"
    assert d["multicast_answers"] >= 1
    assert d["errors"] == []


def test_peers_cli_refuses_bad_arguments_with_one_line(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    assert cli_main(["--home", str(tmp_path), "peers", "--peer", "nohost"]) == 2
    assert "--peer 'nohost': expected HOST:PORT" in capsys.readouterr().err
    assert cli_main(["--home", str(tmp_path), "peers", "--timeout", "0"]) == 2
    assert "--timeout must be more than 0" in capsys.readouterr().err
    assert cli_main(["--home", str(tmp_path), "peers", "--timeout", "0.2",
                     "--interface", "192.0.2.77"]) == 2
    assert "192.0.2.77 is not an address of this machine" in capsys.readouterr().err


def test_a_flood_of_announcements_is_bounded_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    from provara_desktop.net import discovery

    monkeypatch.setattr(discovery, "MAX_PEERS", 1)
    ka, kb = new_key_id(), new_key_id()

    async def scenario() -> None:
        model = PeersInView()
        browser = MdnsDiscovery(model, interfaces=LO)
        a = MdnsDiscovery(PeersInView(), interfaces=LO, browse=False,
                          announcement=Announcement(7109, ka, name="One"))
        b = MdnsDiscovery(PeersInView(), interfaces=LO, browse=False,
                          announcement=Announcement(7110, kb, name="Two"))
        assert await browser.start()
        assert await a.start()
        assert await b.start()
        try:
            assert await until(lambda: any("more than 1 announcements" in e
                                           for e in browser.diagnostics.errors))
            assert model.count("mdns") == 1
        finally:
            await asyncio.gather(a.stop(), b.stop(), browser.stop())

    run(scenario())

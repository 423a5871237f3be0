"""Connections the listener refuses are kept, with where they came from and why, for the
peers panel: a computer that is not paired with us, a key whose trust was removed while
the listener ran, a port scanner's bytes. Real TLS on loopback, real trust stores; the
vault is byte-for-byte unchanged each time."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from provara_desktop.net import sync_client
from provara_desktop.net.refusals import KEEP, RecentRefusals
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.store.trust import TrustStore
from tests.net.sync_helpers import FAST

if TYPE_CHECKING:
    from tests.net.sync_helpers import Replica

BOUND = 20.0


async def _until(pred: Any) -> None:
    while not pred():
        await asyncio.sleep(0.02)


def _listen_and(a: Replica, client: Any) -> HeadlessPeer:
    async def go() -> HeadlessPeer:
        peer = HeadlessPeer(a.root, a.home, a.key, ServeOptions(
            host="127.0.0.1", port=0, discovery=False, session=FAST))
        seen: list[int] = []
        peer.on_refused = lambda: seen.append(1)
        host, port = await peer.start()
        try:
            await client(f"{host}:{port}")
            await asyncio.wait_for(_until(lambda: seen), BOUND)
        finally:
            await peer.stop()
        return peer

    return asyncio.run(go())


def _sync_from(b: Replica) -> Any:
    async def client(address: str) -> None:
        result, _kid = await sync_client.sync_with(address, vault_root=b.root, home=b.home,
                                                   key=b.key, config=FAST)
        assert not result.ok

    return client


def test_a_computer_we_did_not_pair_with_is_listed_with_why(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    TrustStore(b.home).add(a.key.key_id, a.key.public.b64, "Alice")  # one side only
    before = a.digest()
    peer = _listen_and(a, _sync_from(b))
    [r] = peer.refusals.items()
    assert r.address.startswith("127.0.0.1:")
    assert r.key_id is None  # it proved no key we know
    assert "not of a key you trust" in r.reason
    assert a.digest() == before


def test_a_peer_that_does_not_trust_us_is_told_apart(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    TrustStore(a.home).add(b.key.key_id, b.key.public.b64, "Bob")  # Bob never paired back
    peer = _listen_and(a, _sync_from(b))
    [r] = peer.refusals.items()
    assert "does not trust your key" in r.reason
    assert r.key_id is None


def test_a_key_removed_while_listening_is_refused_by_name(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    TrustStore(a.home).add(b.key.key_id, b.key.public.b64, "Bob")
    TrustStore(b.home).add(a.key.key_id, a.key.public.b64, "Alice")

    async def client(address: str) -> None:
        TrustStore(a.home).remove(b.key.key_id)  # the listener pinned it at start
        await _sync_from(b)(address)

    before = a.digest()
    peer = _listen_and(a, client)
    [r] = peer.refusals.items()
    assert r.key_id == b.key.key_id
    assert "no longer trusted" in r.reason
    assert a.digest() == before


def test_bytes_that_are_not_tls_are_refused_as_such(make_replica: Any) -> None:
    a = make_replica("alice")

    async def client(address: str) -> None:
        host, port = address.rsplit(":", 1)
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        await writer.drain()
        writer.close()

    peer = _listen_and(a, client)
    [r] = peer.refusals.items()
    assert "TLS handshake failed" in r.reason


def test_repeats_are_counted_and_the_list_is_bounded() -> None:
    kept = RecentRefusals()
    for port in range(5000, 5003):  # one host reconnecting from new ports
        kept.add(f"10.0.0.7:{port}", None, "its certificate is not of a key you trust")
    [r] = kept.items()
    assert (r.count, r.address) == (3, "10.0.0.7:5002")
    for i in range(KEEP * 3):
        kept.add(f"10.0.{i // 250}.{i % 250}:1", None, "x")
    assert len(kept) == KEEP
    assert kept.items()[0].address == f"10.0.{(KEEP * 3 - 1) // 250}.{(KEEP * 3 - 1) % 250}:1"

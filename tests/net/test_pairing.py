"""Pairing (net/pairing.py) over an in-memory stream pair (a socketpair: nothing leaves the
process): the right code pairs both sides with each other's key and the same discovery
secret; a wrong code fails on both sides before any identity moves; an offer serves one
attempt; a replayed recording of a successful run is refused; truncated, garbage and silent
peers end the attempt with their code; nothing is ever written by a failed run."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.errors import UsageError
from provara_desktop.core.keys import SigningKey
from provara_desktop.net import pairing
from provara_desktop.net.framing import HEADER, MESSAGE, FrameStream, Limits
from provara_desktop.net.pairing_secrets import load_pairing_secrets
from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from pathlib import Path

TIMEOUT = 10.0
QUICK = Limits(max_frame=64 << 10, read_timeout=1.0, write_timeout=1.0)


async def streams() -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter],
                             tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    a, b = socket.socketpair()
    return await asyncio.open_connection(sock=a), await asyncio.open_connection(sock=b)


def me(name: str) -> pairing.Me:
    return pairing.Me(name, SigningKey.generate())


async def both(offer_code: str, join_code: str, alice: pairing.Me, bob: pairing.Me
               ) -> list[Any]:
    (ra, wa), (rb, wb) = await streams()
    return list(await asyncio.wait_for(asyncio.gather(
        pairing.pair(ra, wa, role=pairing.OFFER, code=offer_code, me=alice, peer="bob"),
        pairing.pair(rb, wb, role=pairing.JOIN, code=join_code, me=bob, peer="alice"),
        return_exceptions=True), TIMEOUT))


def test_codes_are_eight_random_digits_and_typing_is_forgiving() -> None:
    codes = {pairing.new_code() for _ in range(200)}
    assert len(codes) > 190  # random, not a counter
    for c in codes:
        assert len(c) == 9
        assert c[4] == "-"
        assert (c[:4] + c[5:]).isdigit()
    assert pairing.CODE_BITS >= 20
    assert pairing.normalize_code(" 4821 - 0937 ") == "48210937"
    for bad in ("4821-093", "4821-09377", "abcd-efgh", "٤٨٢١٠٩٣٧"):
        with pytest.raises(UsageError, match="8 digits"):
            pairing.normalize_code(bad)


def test_the_right_code_pairs_both_sides_with_each_others_key() -> None:
    alice, bob = me("Alice"), me("Bob")
    code = pairing.new_code()
    got_a, got_b = asyncio.run(both(code, code.replace("-", " "), alice, bob))
    assert isinstance(got_a, pairing.Paired), got_a
    assert isinstance(got_b, pairing.Paired), got_b
    assert (got_a.peer.key_id, got_a.peer.name) == (bob.key_id, "Bob")
    assert (got_b.peer.key_id, got_b.peer.name) == (alice.key_id, "Alice")
    assert got_a.peer.fingerprint == bob.key.public.fingerprint
    assert got_b.peer.public_key_b64 == alice.key.public.b64
    assert got_a.own_fingerprint == got_b.peer.fingerprint
    # Both derived the same discovery secret, and it is no function of the code alone.
    assert got_a.discovery_secret == got_b.discovery_secret
    assert len(got_a.discovery_secret) == 32
    again_a, again_b = asyncio.run(both(code, code, alice, bob))
    assert again_a.discovery_secret == again_b.discovery_secret != got_a.discovery_secret


def test_a_wrong_code_fails_on_both_sides_and_nothing_is_written(tmp_path: Path) -> None:
    alice, bob = me("Alice"), me("Bob")
    got_a, got_b = asyncio.run(both("1111-2222", "1111-2223", alice, bob))
    for got in (got_a, got_b):
        assert isinstance(got, pairing.PairingFailed), got
        assert got.code == "WRONG_CODE"
        assert "did not match" in str(got)
    assert not list(tmp_path.iterdir())  # pair() writes nothing; record() is never reached


def test_record_pins_the_peer_as_paired_with_a_0600_secret(tmp_path: Path) -> None:
    alice, bob = me("Alice"), me("Bob")
    code = pairing.new_code()
    got_a, _ = asyncio.run(both(code, code, alice, bob))
    home = tmp_path / "alice-home"
    pairing.record(home, got_a)
    entry = TrustStore(home).trusted()[bob.key_id]
    src = entry.source
    assert src.kind == "paired"
    assert src.detail["method"] == "spake2"
    assert src.detail["fingerprints"] == {"own": alice.key.public.fingerprint,
                                          "peer": bob.key.public.fingerprint}
    assert src.at_utc[:4].isdigit()
    assert load_pairing_secrets(home) == {bob.key_id: got_a.discovery_secret}
    assert (home / "pairing_secrets.json").stat().st_mode & 0o777 == 0o600


def test_an_offer_serves_one_attempt_and_a_wrong_code_kills_it() -> None:
    alice, bob = me("Alice"), me("Bob")
    code = pairing.new_code()
    offer = pairing.Offer(code, alice, limits=QUICK)

    async def attempt(join_code: str) -> list[Any]:
        (ra, wa), (rb, wb) = await streams()
        return list(await asyncio.wait_for(asyncio.gather(
            offer.attempt(ra, wa, peer="bob"),
            pairing.pair(rb, wb, role=pairing.JOIN, code=join_code, me=bob, limits=QUICK),
            return_exceptions=True), TIMEOUT))

    first = asyncio.run(attempt("0000-0000" if code != "0000-0000" else "0000-0001"))
    assert [getattr(x, "code", None) for x in first] == ["WRONG_CODE", "WRONG_CODE"]
    # The right code, now: the offer is dead, and the joiner hears nothing of the pairing.
    second = asyncio.run(attempt(code))
    assert getattr(second[0], "code", None) == "USED"
    assert isinstance(second[1], pairing.PairingFailed)
    assert second[1].code in ("CLOSED", "TRUNCATED")


def test_a_replayed_recording_of_a_successful_run_is_refused() -> None:
    """An eavesdropper records every frame the joiner sent in a good run, then plays them
    to a new offer with the same code (say the user reused it): SPAKE2's fresh randomness
    makes the recorded confirmation worthless."""
    alice, bob = me("Alice"), me("Bob")
    code = "4821-0937"

    async def record_run() -> list[bytes]:
        (ra, wa), (rx, wx) = await streams()  # alice <-> tap
        (ry, wy), (rb, wb) = await streams()  # tap <-> bob
        to_alice = FrameStream(rx, wx, limits=QUICK)
        to_bob = FrameStream(ry, wy, limits=QUICK)
        frames: list[bytes] = []

        async def pump(src: FrameStream, dst: FrameStream, keep: bool) -> None:
            for _ in range(20):
                try:
                    f = await src.read_frame()
                except Exception:  # noqa: BLE001 - the run ended
                    break
                assert f.message is not None
                if keep:
                    frames.append(HEADER.pack(len(f.body), MESSAGE) + f.body)
                await dst.send_message(f.message)
            dst.writer.close()

        res = await asyncio.wait_for(asyncio.gather(
            pairing.pair(ra, wa, role=pairing.OFFER, code=code, me=alice, limits=QUICK),
            pairing.pair(rb, wb, role=pairing.JOIN, code=code, me=bob, limits=QUICK),
            pump(to_alice, to_bob, False), pump(to_bob, to_alice, True),
            return_exceptions=True), TIMEOUT)
        assert isinstance(res[0], pairing.Paired), res
        return frames

    recorded = asyncio.run(record_run())
    assert len(recorded) == 4  # pake, confirm, identity, accept

    async def replay() -> Any:
        (ra, wa), (rb, wb) = await streams()
        wb.write(b"".join(recorded))
        got = await asyncio.wait_for(asyncio.gather(
            pairing.pair(ra, wa, role=pairing.OFFER, code=code, me=alice, limits=QUICK),
            return_exceptions=True), TIMEOUT)
        wb.close()
        return got[0]

    got = asyncio.run(replay())
    assert isinstance(got, pairing.PairingFailed)
    assert got.code == "WRONG_CODE"


def hostile_offer(send: bytes, *, close: bool) -> Any:
    async def go() -> Any:
        (ra, wa), (rb, wb) = await streams()
        wb.write(send)
        if close:
            wb.write_eof()  # half-closed: our pake message still goes out, nothing comes in
        got = await asyncio.wait_for(asyncio.gather(
            pairing.pair(ra, wa, role=pairing.OFFER, code="1234-5678", me=me("Alice"),
                         limits=QUICK), return_exceptions=True), TIMEOUT)
        wb.close()
        return got[0]

    return asyncio.run(go())


@pytest.mark.parametrize(("send", "close", "code"), [
    (b"", False, "TIMEOUT"),  # a peer that says nothing
    (b"", True, "CLOSED"),
    (HEADER.pack(100, MESSAGE) + b'{"type":', True, "TRUNCATED"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True, "GARBAGE"),  # not this protocol
    (HEADER.pack(1 << 20, MESSAGE), False, "FRAME_TOO_LARGE"),
    (HEADER.pack(13, MESSAGE) + b'{"type":"hi"}', True, "BAD_MESSAGE"),
])
def test_truncated_garbage_and_silent_peers_end_the_attempt(send: bytes, close: bool,
                                                            code: str) -> None:
    got = hostile_offer(send, close=close)
    assert isinstance(got, pairing.PairingFailed), got
    assert got.code == code


def test_a_pake_message_that_is_no_group_element_is_refused() -> None:
    body = (b'{"message":"' + __import__("base64").b64encode(b"B" + b"\x00" * 32)
            + b'","protocol":"provara-pair","role":"join","type":"pake","versions":[1]}')
    got = hostile_offer(HEADER.pack(len(body), MESSAGE) + body, close=False)
    assert isinstance(got, pairing.PairingFailed)
    assert got.code in ("BAD_MESSAGE", "TIMEOUT", "WRONG_CODE")


def test_two_offers_refuse_each_other() -> None:
    alice, bob = me("Alice"), me("Bob")

    async def go() -> list[Any]:
        (ra, wa), (rb, wb) = await streams()
        return list(await asyncio.wait_for(asyncio.gather(
            pairing.pair(ra, wa, role=pairing.OFFER, code="1234-5678", me=alice),
            pairing.pair(rb, wb, role=pairing.OFFER, code="1234-5678", me=bob),
            return_exceptions=True), TIMEOUT))

    assert all(getattr(x, "code", None) == "REFUSED" for x in asyncio.run(go()))


def test_pairing_with_ones_own_identity_is_refused_on_both_sides() -> None:
    """Two profiles holding the same key (a copied identity file) are one person."""
    key = SigningKey.generate()
    got = asyncio.run(both("1234-5678", "1234-5678", pairing.Me("A", key),
                           pairing.Me("A again", key)))
    assert [getattr(x, "code", None) for x in got] == ["REFUSED", "REFUSED"]


def test_both_sides_record_then_say_so(tmp_path: Path) -> None:
    """With a recorder, each side pins the other once both accepted, and learns that the
    other did too (``peer_recorded``, in ``pair --json``)."""
    alice, bob = me("Alice"), me("Bob")
    code = pairing.new_code()

    def recorder(home: Path) -> Any:
        async def record(paired: pairing.Paired) -> None:
            pairing.record(home, paired)
        return record

    async def run() -> list[Any]:
        (ra, wa), (rb, wb) = await streams()
        return list(await asyncio.wait_for(asyncio.gather(
            pairing.pair(ra, wa, role=pairing.OFFER, code=code, me=alice, peer="bob",
                         on_accepted=recorder(tmp_path / "a")),
            pairing.pair(rb, wb, role=pairing.JOIN, code=code, me=bob, peer="alice",
                         on_accepted=recorder(tmp_path / "b"))), TIMEOUT))

    got_a, got_b = asyncio.run(run())
    assert got_a.peer_recorded is True
    assert got_b.peer_recorded is True
    assert got_a.to_json()["peer_recorded"] is True
    assert got_a.one_sided_warning is None
    assert bob.key_id in TrustStore(tmp_path / "a").trusted()
    assert alice.key_id in TrustStore(tmp_path / "b").trusted()


def test_a_cut_after_both_accepts_is_told_on_the_side_that_recorded(tmp_path: Path) -> None:
    """The connection ends between the two sides' records (here: Bob's side dies as it is
    about to record): Alice recorded, and is told that Bob may not have, with what to check
    and how to undo it; Bob recorded nothing."""
    alice, bob = me("Alice"), me("Bob")
    code = pairing.new_code()

    async def alice_records(paired: pairing.Paired) -> None:
        pairing.record(tmp_path / "a", paired)

    async def run() -> list[Any]:
        (ra, wa), (rb, wb) = await streams()

        async def bob_is_cut(paired: pairing.Paired) -> None:
            wb.transport.abort()
            raise OSError("the link went down")

        return list(await asyncio.wait_for(asyncio.gather(
            pairing.pair(ra, wa, role=pairing.OFFER, code=code, me=alice, peer="bob",
                         on_accepted=alice_records),
            pairing.pair(rb, wb, role=pairing.JOIN, code=code, me=bob, peer="alice",
                         on_accepted=bob_is_cut), return_exceptions=True), TIMEOUT))

    got_a, got_b = asyncio.run(run())
    assert isinstance(got_b, OSError)
    assert isinstance(got_a, pairing.Paired), got_a
    assert got_a.peer_recorded is False
    assert got_a.to_json()["peer_recorded"] is False
    warning = got_a.one_sided_warning
    assert warning is not None
    assert f"trust remove {bob.key_id}" in warning
    assert bob.key_id in TrustStore(tmp_path / "a").trusted()  # Alice's own decision stands
    assert not (tmp_path / "b").exists()

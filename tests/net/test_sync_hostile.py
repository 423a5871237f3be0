"""Hostile peers against a real vault: each is refused with a reason and a code, the
receiving vault stays byte-for-byte as it was, and nothing is ever written from a batch that
does not verify. The hostile side is played frame by frame (sync_helpers.Hostile)."""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.net import messages as m
from provara_desktop.net.framing import Limits
from provara_desktop.net.sync_session import SessionConfig
from tests.net.sync_helpers import (
    FAST,
    against,
    event_lines,
    key_entries,
    reencode,
    run,
    trust_of,
)

if TYPE_CHECKING:
    from tests.net.sync_helpers import Hostile, Replica


@pytest.fixture
def pair(make_replica: Any) -> tuple[Replica, Replica]:
    bob, mallory = make_replica("bob"), make_replica("mallory")
    bob.record(2)
    mallory.record(3)
    return bob, mallory


def _flip_sig(ev: dict[str, Any]) -> None:
    sig = bytearray(base64.b64decode(ev["sig"]))
    sig[0] ^= 1
    ev["sig"] = base64.b64encode(bytes(sig)).decode()


def _change_value(ev: dict[str, Any]) -> None:
    ev["payload"]["value"] = 999  # id and signature no longer match the content


@pytest.mark.parametrize("tamper", ["bad_signature", "wrong_event_id", "broken_chain"])
def test_a_batch_that_does_not_verify_is_refused_and_nothing_is_written(
        pair: tuple[Replica, Replica], tamper: str) -> None:
    bob, mallory = pair
    before = bob.digest()
    lines = event_lines(mallory)
    if tamper == "bad_signature":
        lines[-1] = reencode(lines[-1], _flip_sig)
    elif tamper == "wrong_event_id":
        lines[-1] = reencode(lines[-1], _change_value)
    else:  # the last observation alone: it chains to an event bob does not hold
        lines = lines[-1:]

    async def play(h: Hostile) -> dict[str, Any]:
        await h.open(bob_uid)
        return await h.send_batch(1, lines, key_entries(mallory))

    bob_uid = "3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d"
    # bob trusts mallory's key: the refusal is about the events, not about trust
    res, answer = run(against(bob, play, trust=trust_of(bob, mallory)))
    assert answer["type"] == "error"
    assert answer["code"] == "BATCH_REFUSED"
    assert res.error_code == "BATCH_REFUSED"
    assert res.error is not None
    assert "mallory batch 1" in res.error
    assert "nothing was imported" in res.error
    assert res.received == 0
    assert bob.digest() == before


def test_valid_events_by_a_key_nobody_trusts_are_held_back(
        pair: tuple[Replica, Replica]) -> None:
    bob, mallory = pair
    before = bob.digest()
    lines = event_lines(mallory)

    async def play(h: Hostile) -> dict[str, Any]:
        await h.open("3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d")
        ack = await h.send_batch(1, lines, key_entries(mallory))
        await h.s.send_message({"type": "done", "sent": len(lines), "batches": 1})
        return ack

    res, ack = run(against(bob, play))
    assert res.ok, res.error
    assert ack == {"type": "ack", "batch": 1, "accepted": 0, "held_back": len(lines),
                   "already_present": 0, "forks": 0}
    assert (res.received, res.held_back) == (0, len(lines))
    assert bob.digest() == before


def test_an_oversized_frame_is_refused_unread(pair: tuple[Replica, Replica]) -> None:
    bob, _ = pair
    before = bob.digest()

    async def play(h: Hostile) -> Any:
        await h.open("3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d")
        h.s.writer.write(struct.pack(">IB", FAST.limits.max_frame + 1, 2))
        await h.s.writer.drain()
        return await h.s.read_frame()

    res, answer = run(against(bob, play))
    assert res.error_code == "FRAME_TOO_LARGE"
    assert answer.message["code"] == "FRAME_TOO_LARGE"
    assert bob.digest() == before


def test_garbage_bytes_are_refused(pair: tuple[Replica, Replica]) -> None:
    bob, _ = pair
    before = bob.digest()

    async def play(h: Hostile) -> Any:
        h.s.writer.write(b"\x00\x00\x00\x0c\x01not json at!")
        await h.s.writer.drain()
        await h.expect("hello")
        return await h.s.read_frame()

    res, answer = run(against(bob, play))
    assert res.error_code == "GARBAGE"
    assert answer.message["type"] == "error"
    assert bob.digest() == before


def test_a_peer_that_sends_nothing_is_dropped(pair: tuple[Replica, Replica]) -> None:
    bob, _ = pair
    before = bob.digest()
    quick = SessionConfig(limits=Limits(read_timeout=0.3, write_timeout=0.3), workers=1)

    async def play(h: Hostile) -> Any:
        await h.expect("hello")  # and then silence, until bob gives up
        return await asyncio.wait_for(h.s.read_frame(), 3.0)

    res, answer = run(against(bob, play, config=quick))
    assert res.error_code == "TIMEOUT"
    assert "no complete frame header within 0.3 s" in str(res.error)
    assert answer.message["code"] == "TIMEOUT"
    assert bob.digest() == before


def test_a_session_for_another_vault_is_refused(pair: tuple[Replica, Replica]) -> None:
    bob, _ = pair
    before = bob.digest()

    async def play(h: Hostile) -> Any:
        await h.s.send_message({"type": "hello", "protocol": "provara-sync", "versions": [1],
                                "vault_uid": "another-case", "role": "peer",
                                "capabilities": [], "max_frame": 0, "max_batch": 0})
        await h.expect("hello")
        return await h.s.read_frame()

    res, answer = run(against(bob, play))
    assert res.error_code == "VAULT_MISMATCH"
    assert answer.message["code"] == "VAULT_MISMATCH"
    assert bob.digest() == before


def test_no_common_version_is_refused(pair: tuple[Replica, Replica]) -> None:
    bob, _ = pair

    async def play(h: Hostile) -> Any:
        await h.s.send_message({"type": "hello", "protocol": "provara-sync", "versions": [7],
                                "vault_uid": "x", "role": "peer", "capabilities": [],
                                "max_frame": 0, "max_batch": 0})
        await h.expect("hello")
        return await h.s.read_frame()

    res, answer = run(against(bob, play))
    assert res.error_code == "VERSION"
    assert "no common protocol version" in answer.message["reason"]


def test_an_attachment_whose_bytes_do_not_match_is_refused(
        pair: tuple[Replica, Replica]) -> None:
    bob, mallory = pair
    before = bob.digest()
    sha = "0" * 64
    lines = event_lines(mallory)

    async def play(h: Hostile) -> Any:
        await h.open("3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d")
        data = b"".join(raw + b"\n" for raw in lines)
        header = m.Events(1, len(lines), len(data), tuple(key_entries(mallory)),
                          attachments=(m.AttachmentRef(sha, 5),))
        await h.s.send_message(header.to_json())
        await h.s.send_data(data)
        await h.s.send_message(m.Attachment(sha, 5).to_json())
        await h.s.send_data(b"12345")
        return await h.s.read_frame()

    res, answer = run(against(bob, play, trust=trust_of(bob, mallory)))
    assert res.error_code == "ATTACHMENT_DAMAGED"
    assert answer.message["code"] == "ATTACHMENT_DAMAGED"
    assert bob.digest() == before


@pytest.mark.parametrize("lie", ["more_lines", "fewer_bytes", "message_for_data"])
def test_a_batch_that_does_not_match_its_header_is_refused(
        pair: tuple[Replica, Replica], lie: str) -> None:
    bob, mallory = pair
    before = bob.digest()
    lines = event_lines(mallory)
    data = b"".join(raw + b"\n" for raw in lines)

    async def play(h: Hostile) -> Any:
        await h.open("3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d")
        count = len(lines) - 1 if lie == "more_lines" else len(lines)
        size = len(data) + 10 if lie == "fewer_bytes" else len(data)
        await h.s.send_message(m.Events(1, count, size, tuple(key_entries(mallory))).to_json())
        if lie == "message_for_data":
            await h.s.send_message(m.Done(0, 0).to_json())
        else:
            await h.s.send_data(data)
        return await h.s.read_frame()

    res, answer = run(against(bob, play, trust=trust_of(bob, mallory)))
    assert res.error_code == "BAD_MESSAGE", res.error
    assert answer.message["code"] == "BAD_MESSAGE"
    assert bob.digest() == before


def test_a_message_out_of_turn_is_refused(pair: tuple[Replica, Replica]) -> None:
    bob, _ = pair

    async def play(h: Hostile) -> Any:
        await h.s.send_message(m.Done(0, 0).to_json())  # before any hello
        await h.expect("hello")
        return await h.s.read_frame()

    res, answer = run(against(bob, play))
    assert res.error_code == "BAD_MESSAGE"
    assert "done where hello was due" in answer.message["reason"]


def test_a_replayed_batch_changes_nothing(pair: tuple[Replica, Replica]) -> None:
    """A batch of events the vault already holds (an old session played again) is
    acknowledged as already present and writes nothing."""
    bob, _ = pair
    before = bob.digest()
    lines = event_lines(bob)

    async def play(h: Hostile) -> Any:
        await h.open("3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d")
        ack = await h.send_batch(1, lines, key_entries(bob))
        await h.s.send_message(m.Done(len(lines), 1).to_json())
        return ack

    res, ack = run(against(bob, play))
    assert res.ok, res.error
    assert (ack["accepted"], ack["already_present"]) == (0, len(lines))
    assert bob.digest() == before

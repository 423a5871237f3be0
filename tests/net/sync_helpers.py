"""Helpers for the sync tests: vaults with real keys and events, a Trust view, and an
in-memory transport pair (asyncio streams over a socketpair: the kernel carries the bytes,
nothing leaves the process). Every session runs under a short overall timeout."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import PeerRejected
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.trust_view import Trust
from provara_desktop.net import messages as m
from provara_desktop.net.framing import FrameStream, Limits
from provara_desktop.net.sync_session import SessionConfig, SyncPolicy, SyncResult, sync
from provara_desktop.store.evidence import observe
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

SESSION_TIMEOUT = 20.0
FAST = SessionConfig(limits=Limits(read_timeout=3.0, write_timeout=3.0), workers=1)


@dataclass
class Replica:
    name: str
    key: SigningKey
    home: Path
    root: Path

    def open(self) -> Vault:
        return Vault.open(self.root, home=self.home)

    def record(self, n: int, *, start: int = 0) -> None:
        with self.open() as v:
            for i in range(start, start + n):
                observe(v, self.key, self.name, subject=f"{self.name}-s{i}",
                        predicate="p", value=i)

    def log_bytes(self) -> bytes:
        return (self.root / "events" / "events.ndjson").read_bytes()

    def state_hash(self) -> str:
        with self.open() as v:
            return v.reduce().state_hash()

    def digest(self) -> dict[str, str]:
        """Every file of the vault with its sha256: 'byte-for-byte unchanged'."""
        return {p.relative_to(self.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.root.rglob("*")) if p.is_file()}


def replica_factory(tmp_path: Path) -> Any:
    uid = "3f1c7a52-0d3e-4a8b-9d1e-5c6f7a8b9c0d"

    def make(name: str, *, key: SigningKey | None = None, vault_uid: str = uid) -> Replica:
        key = key or SigningKey.generate()
        home = tmp_path / f"{name}-home"
        root = tmp_path / f"{name}-vault"
        Vault.init(root, key=key, actor=name, home=home, uid=vault_uid).close()
        return Replica(name, key, home, root)

    return make


def count_by(r: Replica, who: Replica) -> int:
    """Events in r's log signed by who's key."""
    return sum(1 for line in r.log_bytes().splitlines()
               if json.loads(line).get("actor_key_id") == who.key.key_id)


def trust_of(me: Replica, *others: Replica) -> Trust:
    return Trust({o.key.key_id: o.name for o in others}, me.key.key_id)


async def transport_pair() -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter],
                                    tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    a, b = socket.socketpair()
    return await asyncio.open_connection(sock=a), await asyncio.open_connection(sock=b)


async def session_pair(a: Replica, b: Replica, *, trust_a: Trust | None = None,
                       trust_b: Trust | None = None, config: SessionConfig = FAST,
                       policy: SyncPolicy | None = None) -> tuple[SyncResult, SyncResult]:
    (ra, wa), (rb, wb) = await transport_pair()
    with a.open() as va, b.open() as vb:
        ta = trust_a if trust_a is not None else trust_of(a, b)
        tb = trust_b if trust_b is not None else trust_of(b, a)
        res_a, res_b = await asyncio.wait_for(asyncio.gather(
            sync(ra, wa, vault=va, trust=ta, signer=a.key, initiator=True, peer=b.name,
                 config=config, policy=policy),
            sync(rb, wb, vault=vb, trust=tb, signer=b.key, initiator=False, peer=a.name,
                 config=config, policy=policy)), SESSION_TIMEOUT)
    return res_a, res_b


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Hostile:
    """The initiating side of a session, played by hand: frames as a hostile peer would
    send them, against a real responder."""

    def __init__(self, stream: FrameStream) -> None:
        self.s = stream

    async def open(self, vault_uid: str) -> None:
        """hello and an empty frontier; then `lacking` saying it holds everything of the
        responder's (so the responder will send nothing back)."""
        await self.s.send_message(m.Hello(m.VERSIONS, vault_uid).to_json())
        await self.s.send_message(m.Frontier({}).to_json())
        await self.expect("hello")
        theirs = await self.expect("frontier")
        if theirs["actors"]:
            await self.s.send_message(m.Lacking({}).to_json())
            await self.expect("lacking")

    async def expect(self, kind: str) -> dict[str, Any]:
        frame = await self.s.read_frame()
        assert frame.message is not None
        assert frame.message["type"] == kind, frame.message
        return frame.message

    async def send_batch(self, n: int, lines: list[bytes], keys: list[dict[str, Any]],
                         prerequisites: tuple[str, ...] = ()) -> dict[str, Any]:
        data = b"".join(raw + b"\n" for raw in lines)
        await self.s.send_message(m.Events(n, len(lines), len(data), tuple(keys),
                                           prerequisites).to_json())
        await self.s.send_data(data)
        frame = await self.s.read_frame()
        assert frame.message is not None
        return frame.message


async def against(victim: Replica, play: Any, *, trust: Trust | None = None,
                  config: SessionConfig = FAST) -> tuple[SyncResult, Any]:
    """Run ``play(Hostile)`` against ``victim`` (the responder); both results."""
    (ra, wa), (rb, wb) = await transport_pair()
    hostile = Hostile(FrameStream(ra, wa, limits=Limits(read_timeout=5.0), peer="victim"))
    with victim.open() as v:
        res, played = await asyncio.wait_for(asyncio.gather(
            sync(rb, wb, vault=v, trust=trust or trust_of(victim), signer=victim.key,
                 initiator=False, peer="mallory", config=config),
            play(hostile)), SESSION_TIMEOUT)
    wa.close()
    return res, played


def event_lines(r: Replica) -> list[bytes]:
    return r.log_bytes().splitlines()


def key_entries(r: Replica) -> list[dict[str, Any]]:
    with r.open() as v:
        return [k for k in v.keys_doc["keys"] if k["key_id"] == r.key.key_id]


def reencode(raw: bytes, change: Any) -> bytes:
    ev = json.loads(raw)
    change(ev)
    return canonical_bytes(ev)


async def cut_after_first_ack(a: Replica, b: Replica, *, config: SessionConfig,
                              cut: bool = True, record: list[tuple[str, str]] | None = None
                              ) -> tuple[SyncResult, SyncResult]:
    """A session between a (initiator) and b through a relay that forwards frames both ways
    and cuts both connections right after it forwarded b's first ``ack`` (``cut``), noting
    in ``record`` each message it forwarded, as (sender, type), in the order it did."""
    (ra, wa), (rx, wx) = await transport_pair()  # a <-> relay
    (ry, wy), (rb, wb) = await transport_pair()  # relay <-> b
    from_a = FrameStream(rx, wx, limits=Limits(read_timeout=5.0), peer="a")
    from_b = FrameStream(ry, wy, limits=Limits(read_timeout=5.0), peer="b")

    async def pump(src: FrameStream, dst: FrameStream, cut_on_ack: bool) -> None:
        for _ in range(10_000):  # bounded: far more frames than any test sends
            try:
                frame = await src.read_frame()
            except PeerRejected:
                break
            if frame.message is not None:
                if record is not None:
                    record.append((src.peer, str(frame.message["type"])))
                await dst.send_message(frame.message)
            else:
                await dst.send_data(frame.body)
            if cut_on_ack and frame.message is not None and frame.message["type"] == "ack":
                break
        wx.close()
        wy.close()

    with a.open() as va, b.open() as vb:
        res = await asyncio.wait_for(asyncio.gather(
            sync(ra, wa, vault=va, trust=trust_of(a, b), signer=a.key, initiator=True,
                 peer=b.name, config=config),
            sync(rb, wb, vault=vb, trust=trust_of(b, a), signer=b.key, initiator=False,
                 peer=a.name, config=config),
            pump(from_a, from_b, False), pump(from_b, from_a, cut)), SESSION_TIMEOUT)
    return res[0], res[1]

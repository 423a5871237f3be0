"""Helpers for the sync tests: vaults with real keys and events, a Trust view, and an
in-memory transport pair (asyncio streams over a socketpair: the kernel carries the bytes,
nothing leaves the process). Every session runs under a short overall timeout."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.trust_view import Trust
from provara_desktop.net.framing import Limits
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

"""The headless peer (``serve``): the app's sync peer without a GUI.

It listens with TLS 1.3 (net/tls.py) and accepts only peers whose keys the user trusts: the
pins are the trust store's keys in force, so an unpaired peer fails the handshake and reads
nothing; a key removed from the trust store while ``serve`` runs is still let through the
handshake (``ssl`` cannot forget a root) but is then cut before a byte of the protocol
(``handle`` checks the store again). Keys trusted while it runs (a pairing, ``trust add``)
are pinned within a second (the store is watched).

Each connection runs one sync session as responder (net/sync_session.py) on a Vault opened
for it and closed after it: the vault lock is taken only around each write, so other
commands (``observe``, ``sync``, the app) read and write the same vault while ``serve``
runs, and each session starts from what the log holds then.

Stopping (``stop()``, SIGTERM/SIGINT in :func:`run`): the listener closes, every open
connection is cut (a batch being committed finishes its commit, which is atomic, then finds
the connection gone), sessions end as CLOSED with their committed batches kept, and
discovery sends its goodbyes. Nothing is left half-written.

Gossip (``ServeOptions.gossip_interval`` > 0; the command's default is 60 s): it also syncs,
as initiator, with every peer trusted directly that it can find (discovery, which then also
browses, and the recorded addresses), at start, periodically and shortly after its log
changes (net/gossip.py). Off by default for callers of this module, so nothing changes for
them unless they ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import PeerRejected, ProvaraDesktopError
from provara_desktop.core.keys import PublicKey
from provara_desktop.net import messages as m
from provara_desktop.net import peer_addresses, peer_policy, tls
from provara_desktop.net.framing import FrameStream, Limits
from provara_desktop.net.refusals import RecentRefusals
from provara_desktop.net.sync_session import SessionConfig, SyncResult, sync
from provara_desktop.store import vault_keys
from provara_desktop.store.trust import TRUST_FILE, TrustStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
STOP_GRACE = 10.0  # seconds open sessions get, once cut, to end (a commit in progress)
TRUST_POLL = 1.0


@dataclass
class ServeOptions:
    host: str = "0.0.0.0"  # a LAN peer listens on the LAN
    port: int = peer_addresses.DEFAULT_PORT
    discovery: bool = True
    discreet: bool = False
    name: str = ""  # the display name a non-discreet announcement shows
    max_sessions: int = 8  # at once; more wait for a free slot
    session: SessionConfig = field(default_factory=SessionConfig)
    gossip_interval: float = 0.0  # seconds between periodic syncs; 0: no gossip


class HeadlessPeer:
    def __init__(self, vault_root: Path, home: Path, key: SigningKey,
                 options: ServeOptions | None = None,
                 on_session: Callable[[SyncResult], None] | None = None) -> None:
        self.root = vault_root
        self.home = home
        self.key = key
        self.options = options or ServeOptions()
        self.on_session = on_session
        self.address: tuple[str, int] | None = None
        self.sessions_done = 0
        self._server: asyncio.Server | None = None
        self._ctx: ssl.SSLContext | None = None
        self._pinned: set[str] = set()
        self._trust_stamp: tuple[int, int] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(self.options.max_sessions)
        self._watch: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        self._discovery: Any = None
        self._stopping = False
        self.discovery_note: str | None = None  # why discovery is off, when it is
        self.gossip: Any = None  # net/gossip.Gossip, when gossip_interval > 0
        self._gossip_task: asyncio.Task[None] | None = None
        self._view: Any = None  # what discovery sees (browsing only with gossip)
        # Called with (key_id, result) after each gossip session this peer started.
        self.on_gossip: Callable[[str, SyncResult], None] | None = None
        self.refusals = RecentRefusals()  # connections refused, newest first
        self.on_refused: Callable[[], None] | None = None  # after each one

    # -- pins -------------------------------------------------------------------------------

    def _trusted(self) -> dict[str, bytes]:
        return {kid: PublicKey.from_b64(k.public_key_b64).raw
                for kid, k in TrustStore(self.home).trusted().items()}

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.home / TRUST_FILE).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _pin_new(self) -> None:
        """Add the keys trusted since the last look to the context's roots (new handshakes
        see them; removed keys are refused in ``_handle``)."""
        assert self._ctx is not None
        self._trust_stamp = self._stamp()
        from cryptography.hazmat.primitives import serialization

        for kid, raw in self._trusted().items():
            if kid not in self._pinned:
                pem = tls.pin_certificate(raw).public_bytes(serialization.Encoding.PEM)
                self._ctx.load_verify_locations(cadata=pem.decode())
                self._pinned.add(kid)

    async def _watch_trust(self) -> None:
        while True:
            await asyncio.sleep(TRUST_POLL)
            if self._stamp() != self._trust_stamp:
                try:
                    self._pin_new()
                except ProvaraDesktopError as exc:
                    log.warning("the trust store could not be read: %s", exc)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen; returns the (host, port) bound (port 0 picks a free one)."""
        self._ctx = tls.server_context(self.key, [])
        self._pin_new()
        opts = self.options
        # Plain TCP, TLS started by _accept: a failed handshake (a computer we are not
        # paired with) then reaches us with its address, to be shown, where the server's
        # own TLS would only log it at debug level.
        self._server = await asyncio.start_server(self._accept, opts.host, opts.port)
        sock = self._server.sockets[0].getsockname()
        self.address = (str(sock[0]), int(sock[1]))
        self._watch = asyncio.get_running_loop().create_task(self._watch_trust())
        self._warm = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._prepare_writes))
        if opts.discovery:
            await self._start_discovery()
        if opts.gossip_interval > 0:
            self._start_gossip()
        return self.address

    def _prepare_writes(self) -> None:
        """Hash the log once now, as the app does after opening (Vault.prepare_writes):
        each session opens a Vault of its own, and the hash states are kept per process
        (store/log_hash_marks.py), so no session's first write pays a whole-log hash."""
        try:
            with Vault.open(self.root, home=self.home) as vault:
                vault.prepare_writes()
        except (ProvaraDesktopError, OSError) as exc:  # the sessions will say it themselves
            log.warning("could not prepare the vault for writes: %s", exc)

    def _start_gossip(self) -> None:
        from provara_desktop.net.gossip import Gossip, GossipScheduler

        def discovered() -> dict[str, list[str]]:
            if self._view is None:
                return {}
            from provara_desktop.net.sync_client import discovered_addresses

            return discovered_addresses(self._view.peers(),
                                        TrustStore(self.home).trusted_ids())

        self.gossip = Gossip(self.root, self.home, self.key,
                             scheduler=GossipScheduler(interval=self.options.gossip_interval),
                             discovered=discovered, config=self.options.session,
                             on_result=self._gossiped)
        self._gossip_task = asyncio.get_running_loop().create_task(self.gossip.run())

    def _gossiped(self, key_id: str, result: SyncResult) -> None:
        if self.on_gossip is not None:
            self.on_gossip(key_id, result)

    async def _start_discovery(self) -> None:
        """Announce this peer with net/discovery.py (discreet: a random name and tokens only
        paired peers recognise). Discovery failing never stops ``serve``: the address it
        prints still works (``sync --peer``)."""
        from provara_desktop.net.discovery import Announcement, MdnsDiscovery
        from provara_desktop.net.pairing_secrets import load_pairing_secrets
        from provara_desktop.net.peers_view import PeersInView

        assert self.address is not None
        host, port = self.address
        interfaces = None if host in ("0.0.0.0", "::") else [host]
        ann = Announcement(port, self.key.key_id, self.options.name or None,
                           discreet=self.options.discreet)
        self._view = PeersInView()
        disc = MdnsDiscovery(self._view, interfaces=interfaces,
                             secrets=load_pairing_secrets(self.home), announcement=ann,
                             browse=self.options.gossip_interval > 0)
        if await disc.start():
            self._discovery = disc
        else:
            errors = getattr(disc.diagnostics, "errors", None) or ["unknown reason"]
            self.discovery_note = f"discovery is off: {errors[-1]}"
            log.warning("%s", self.discovery_note)

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
        if self._warm is not None:  # a thread: it cannot be cut, only waited for (bounded)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._warm), STOP_GRACE)
        if self._gossip_task is not None:
            # a gossip session being committed is cut like any other: atomic batches
            self._gossip_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._gossip_task, STOP_GRACE)
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()  # cut: the session ends at its next read or write
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE)
            for t in pending:
                t.cancel()
        if self._discovery is not None:
            with contextlib.suppress(Exception):
                await self._discovery.stop()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- connections ------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        if self._stopping:  # its handshake finished after stop() began
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            if await self._start_tls(writer):
                await self._handle(reader, writer)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)

    async def _start_tls(self, writer: asyncio.StreamWriter) -> bool:
        assert self._ctx is not None
        try:
            await writer.start_tls(self._ctx, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except ssl.SSLCertVerificationError:
            self._refuse(writer, None, "its certificate is not of a key you trust: a "
                         "computer you have not paired with (or whose pairing you removed "
                         "before it reconnected)")
            return False
        except TimeoutError:
            self._refuse(writer, None, f"its TLS handshake did not finish within "
                         f"{HANDSHAKE_TIMEOUT:.0f} s")
            return False
        except (ConnectionResetError, ssl.SSLEOFError):
            # A peer that does not take our certificate hangs up mid-handshake (its alert
            # does not reach asyncio as one): that is the likely story, not a certainty.
            self._refuse(writer, None, "it closed the connection during the TLS handshake: "
                         "most likely it does not trust your key (it has not paired with "
                         "you, or removed you)")
            return False
        except (ssl.SSLError, OSError) as exc:
            why = str(getattr(exc, "reason", None) or exc)
            if "UNKNOWN_CA" in why.upper():
                self._refuse(writer, None, "it does not trust your key (it has not paired "
                             "with you, or removed you): it turned the handshake down")
            else:
                self._refuse(writer, None, "its TLS handshake failed (not a Provara peer, "
                             f"or a damaged connection): {why}")
            return False
        return True

    def _refuse(self, writer: asyncio.StreamWriter, key_id: str | None, reason: str, *,
                warn: bool = False) -> None:
        """Log, keep (``refusals``, the app's peers panel) and close."""
        where = _address_of(writer)
        (log.warning if warn else log.info)("refused %s%s: %s", where,
                                            f" ({key_id})" if key_id else "", reason)
        self.refusals.add(where, key_id, reason)
        writer.transport.abort()
        if self.on_refused is not None:
            self.on_refused()

    async def _handle(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            kid = tls.peer_key_id(writer)
        except PeerRejected as exc:
            self._refuse(writer, None, str(exc))
            return
        try:
            trusted = kid in TrustStore(self.home).trusted_ids()
        except ProvaraDesktopError as exc:  # a damaged trust store trusts nobody
            self._refuse(writer, kid, f"your trust store cannot be read: {exc}", warn=True)
            return
        if not trusted:
            self._refuse(writer, kid, "its key is no longer trusted (you removed it)")
            return
        async with self._slots:
            try:
                vault = await asyncio.to_thread(Vault.open, self.root, home=self.home)
            except (ProvaraDesktopError, OSError) as exc:
                log.warning("cannot open the vault for %s: %s", kid, exc)
                # The peer is trusted: tell it the failure is ours, not a refusal of it.
                stream = FrameStream(reader, writer, limits=Limits(write_timeout=1.0))
                with contextlib.suppress(PeerRejected):
                    await stream.send_message(m.Error(
                        "LOCAL_ERROR", "the peer cannot open its vault").to_json())
                await stream.close()
                return
            revoked = vault_keys.revoked_peer(vault, kid)
            if revoked is not None:
                await asyncio.to_thread(vault.close)
                self._refuse(writer, kid, revoked, warn=True)
                return
            try:
                policy, trust = peer_policy.for_peer(self.home, kid, log=log)
                result = await sync(reader, writer, vault=vault, trust=trust,
                                    signer=self.key, initiator=False, peer=kid,
                                    policy=policy, config=self.options.session)
            finally:
                await asyncio.to_thread(vault.close)
        self.sessions_done += 1
        if self.gossip is not None and result.ok:
            self.gossip.scheduler.synced_by_peer(kid)
            self.gossip.notice()  # what it wrote (if anything) is passed on soon
        if self.on_session is not None:
            self.on_session(result)


def _address_of(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return peer_addresses.format_address(str(peer[0]), int(peer[1]))
    return str(peer or "an unknown address")


def _quiet_handshake_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A refused handshake (an unpaired peer, a port scanner) is routine: one log line, no
    traceback on the console."""
    exc = context.get("exception")
    log.info("connection refused: %s", exc or context.get("message"))


async def run(peer: HeadlessPeer, on_ready: Callable[[tuple[str, int]], None]) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code (0)."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_handshake_errors)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no handlers
            loop.add_signal_handler(sig, stop.set)
    address = await peer.start()
    on_ready(address)
    try:
        await stop.wait()
    finally:
        await peer.stop()
    return 0

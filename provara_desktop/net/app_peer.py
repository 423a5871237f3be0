"""The app's LAN peer: what ``serve`` runs, in the background of the open app, plus what the
peers panel needs (peers in view, trust, last sync, what each side lacks, history).

- **Serving**: net/serve.py's HeadlessPeer, unchanged (TLS pinned by the trusted keys, one
  responder session per connection, its own Vault per session), with its own announcement
  off: discovery here both announces and browses on one zeroconf instance (the headless
  peer only announces).
- **Syncing**: net/sync_client.py's ``sync_first_reachable`` with a SessionConfig carrying
  the session's optional ``progress`` and ``cancelled`` hooks (net/sync_session.py).
- Everything runs on the app's one asyncio loop (runtime/async_loop.py); the UI only calls
  :class:`LanService`'s methods, which return concurrent futures, and reads
  :class:`SyncProgress` objects (plain attributes; STYLE rule 4). No Qt.

Received events reach the app's views the way any other program's writes do: the sync
writes through its own Vault, and the app's session picks it up with
``VaultSession.check_external`` (the window's external-change path), never a replay here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.net import peer_addresses, sync_client, sync_history
from provara_desktop.net.frontier_gap import FrontierGap, frontier_gap
from provara_desktop.net.manual_peers import ManualPeers, parse_host_port
from provara_desktop.net.peers_view import MANUAL, Diagnostics, PeerInView, PeersInView, trust_state
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.net.sync_session import SessionConfig

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Sequence
    from concurrent.futures import Future
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.device_pairing import DeviceAdded
    from provara_desktop.net.pairing import Paired
    from provara_desktop.net.refusals import Refusal
    from provara_desktop.net.sync_session import SyncResult
    from provara_desktop.runtime.async_loop import AsyncLoop
    from provara_desktop.runtime.progress import CancelToken
    from provara_desktop.store.devices import Certified
    from provara_desktop.store.identity import Identity, IdentityStore
    from provara_desktop.store.trust import TrustedKey
    from provara_desktop.store.vault import Vault

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# Where the app offers pairing codes unless that port is busy (the offer shows the port
# it used; ``pair offer`` on the command line picks any free one).
PAIR_PORT = peer_addresses.DEFAULT_PORT + 1
PHASE_TEXT = {"connect": "connecting", "handshake": "handshake (TLS, hello)",
              "compare": "comparing frontiers", "transfer": "transferring events",
              "verify": "verifying a batch", "commit": "committing a batch"}


@dataclass
class SyncProgress:
    """One sync as it runs: written by the loop thread (and the intake's worker), read by
    the UI's timer. Plain attribute writes are atomic."""

    phase: str = "connect"
    detail: str = ""
    gap: FrontierGap | None = None
    received: int = 0
    sent: int = 0
    finished: bool = False

    def on_phase(self, phase: str, detail: dict[str, Any]) -> None:
        if "theirs" in detail and "mine" in detail:
            self.gap = frontier_gap(detail["mine"], detail["theirs"], detail.get("sending"))
        self.sent = int(detail.get("sent", self.sent))
        self.received = int(detail.get("received", self.received))
        if phase in ("verify", "commit"):
            self.detail = f"batch {detail.get('batch')}: {detail.get('events')} event(s)"
        elif phase == "transfer":
            self.detail = f"sent {self.sent}, received {self.received}"
        self.phase = phase


@dataclass(frozen=True)
class PeerState:
    """One row of the peers panel."""

    ident: str  # the key id when known, else "source:instance"
    name: str
    addresses: tuple[str, ...]  # HOST:PORT to try, best first
    source: str  # mdns | manual | known (trusted, not in view now)
    trust: str  # trusted | paired | unknown
    trust_detail: str
    key_id: str | None
    syncing: bool = False
    last_sync: sync_history.SyncRecord | None = None
    gap: FrontierGap | None = None
    history: tuple[sync_history.SyncRecord, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    running: bool
    listening: str | None
    peers: tuple[PeerState, ...]
    diagnostics: dict[str, Any]
    notes: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()  # connections our listener refused, newest first


@dataclass
class LanOptions:
    host: str = "0.0.0.0"
    port: int = peer_addresses.DEFAULT_PORT  # busy (a `serve` runs): any free port
    interfaces: Sequence[str] | None = None  # None: the system's choice
    discovery: bool = True
    discreet: bool = False


class AppPeer:
    """Serve, discover and sync for one vault. Use on the loop thread only."""

    def __init__(self, vault_root: Path, home: Path, key: SigningKey, *, name: str,
                 options: LanOptions,
                 on_change: Callable[[], None] | None = None,
                 on_evidence: Callable[[sync_history.SyncRecord], None] | None = None) -> None:
        self.root, self.home, self.key, self.name = vault_root, home, key, name
        self.options = options
        self.on_change = on_change
        self.on_evidence = on_evidence
        self.model = PeersInView()
        self.model.subscribe(lambda _change, _peer: self._changed())
        self.diagnostics = Diagnostics()
        self._server: HeadlessPeer | None = None
        self._discovery: Any = None
        self._manual: list[str] = []
        self._syncing: set[str] = set()
        self._gaps: dict[str, FrontierGap] = {}
        self.notes: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    @property
    def listening(self) -> str | None:
        addr = self._server.address if self._server is not None else None
        return peer_addresses.format_address(*addr) if addr else None

    async def start(self) -> None:
        opts = self.options
        serve_opts = ServeOptions(host=opts.host, port=opts.port, discovery=False,
                                  name=self.name)
        self._server = HeadlessPeer(self.root, self.home, self.key, serve_opts,
                                    on_session=self._on_incoming)
        try:
            await self._server.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or opts.port == 0:
                raise
            self.notes.append(f"port {opts.port} is in use (a `serve` running?): listening "
                              "on another port")
            self._server = HeadlessPeer(self.root, self.home, self.key,
                                        replace(serve_opts, port=0),
                                        on_session=self._on_incoming)
            await self._server.start()
        self._server.on_refused = self._changed
        if opts.discovery:
            await self._start_discovery()
        else:
            self.notes.append("discovery is off: add peers by address")
        self._changed()

    async def _start_discovery(self) -> None:
        from provara_desktop.net.discovery import Announcement, MdnsDiscovery
        from provara_desktop.net.pairing_secrets import load_pairing_secrets

        assert self._server is not None
        assert self._server.address is not None
        ann = Announcement(self._server.address[1], self.key.key_id, self.name or None,
                           discreet=self.options.discreet)
        secrets = await asyncio.to_thread(load_pairing_secrets, self.home)
        disc = MdnsDiscovery(self.model, interfaces=self.options.interfaces,
                             secrets=secrets, announcement=ann, browse=True,
                             diagnostics=self.diagnostics)
        if await disc.start():
            self._discovery = disc
        else:
            self.notes.append("discovery could not start: "
                              + "; ".join(self.diagnostics.errors[-1:]))

    async def reload_secrets(self) -> None:
        """A pairing just recorded a new per-pair secret: discreet peers are recognised by
        it from now on (browsing here, and in the tokens we announce)."""
        from provara_desktop.net.pairing_secrets import load_pairing_secrets

        if self._discovery is not None:
            self._discovery.set_secrets(await asyncio.to_thread(load_pairing_secrets,
                                                                self.home))
        self._changed()

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._discovery is not None:
            with contextlib.suppress(Exception):
                await self._discovery.stop()
            self._discovery = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # -- peers ------------------------------------------------------------------------------

    async def add_manual(self, address: str) -> None:
        host, port = parse_host_port(address, where="peer address")
        instance = ManualPeers.instance_of(host, port)
        self._manual.append(instance)
        self.diagnostics.manual_peers = len(set(self._manual))
        self.model.upsert(PeerInView(instance=instance, source=MANUAL, addresses=(host,),
                                     port=port))

    async def snapshot(self) -> Snapshot:
        trusted, known, history = await asyncio.to_thread(self._profile_state)
        rows: dict[str, PeerState] = {}
        at = {address: kid for kid, address in known.items() if kid in trusted}
        for p in self.model.peers():
            label = trust_state(p, trusted)
            # IPv4 first: a link-local IPv6 address needs its interface to be dialled
            addresses = tuple(peer_addresses.format_address(a, p.port)
                              for a in sorted(p.addresses, key=lambda a: ":" in a))
            reached = next((at[a] for a in addresses if a in at), None)
            if label.key_id is None and reached is not None:
                # A peer added by address (or announcing no fingerprint) where a trusted
                # key completed a sync before: that key, until a handshake says otherwise.
                kinds = {s.kind for s in trusted[reached].sources}
                label = replace(label, state="paired" if "paired" in kinds else "trusted",
                                key_id=reached, detail=f"{reached} completed a sync at this "
                                "address (each sync proves the key again)")
            ident = label.key_id or f"{p.source}:{p.instance}"
            if ident in rows:  # the same key seen twice (mDNS and by hand): merge
                old = rows[ident]
                rows[ident] = replace(old, addresses=tuple(dict.fromkeys(
                    (*old.addresses, *addresses))))
                continue
            name = p.name or (trusted[label.key_id].name if label.key_id in trusted else "")
            rows[ident] = PeerState(ident, name or p.instance, addresses, p.source,
                                    label.state, label.detail, label.key_id)
        for kid, entry in sorted(trusted.items()):
            if kid not in rows:
                state = "paired" if any(s.kind == "paired" for s in entry.sources) else "trusted"
                rows[kid] = PeerState(kid, entry.name or kid, (known[kid],) if kid in known
                                      else (), "known", state,
                                      "not in view now" + (f"; last reached at {known[kid]}"
                                                           if kid in known else ""), kid)
        out = []
        for ident, row in rows.items():
            past = tuple(history.get(ident, ()) or history.get(
                row.addresses[0] if row.addresses else "", ()))
            out.append(replace(row, syncing=ident in self._syncing,
                               last_sync=past[0] if past else None, history=past,
                               gap=self._gaps.get(ident) or (
                                   FrontierGap.from_json(past[0].gap)
                                   if past and past[0].gap else None)))
        return Snapshot(self._server is not None, self.listening, tuple(out),
                        self.diagnostics.to_json(), tuple(self.notes),
                        self._server.refusals.items() if self._server is not None else ())

    def _profile_state(self) -> tuple[dict[str, TrustedKey], dict[str, str],
                                      dict[str, list[sync_history.SyncRecord]]]:
        from provara_desktop.store.trust import TrustStore

        try:
            trusted = TrustStore(self.home).trusted()
        except ProvaraDesktopError as exc:
            log.warning("the trust store cannot be read: %s", exc)
            trusted = {}
        try:
            known = peer_addresses.known_addresses(self.home)
        except ProvaraDesktopError:
            known = {}
        return trusted, known, sync_history.load(self.home)

    # -- syncing ----------------------------------------------------------------------------

    async def sync(self, ident: str, addresses: Sequence[str], key_id: str | None,
                   progress: SyncProgress, cancel: CancelToken) -> sync_history.SyncRecord:
        """One sync (we initiate). Never raises for what the peer or the network did."""
        self._syncing.add(ident)
        self._changed()
        try:
            return await self._sync(ident, addresses, key_id, progress, cancel)
        finally:
            self._syncing.discard(ident)
            progress.finished = True
            self._changed()

    async def _sync(self, ident: str, addresses: Sequence[str], key_id: str | None,
                    progress: SyncProgress, cancel: CancelToken) -> sync_history.SyncRecord:
        progress.on_phase("connect", {})
        address = addresses[0] if addresses else ""
        if not addresses:
            return await self._record(ident, address, None, progress, error=(
                "no address is known for this peer: it is not in view and was never "
                "reached; add it by address"), code="CONNECT")
        if cancel.cancelled:
            return await self._record(ident, address, None, progress,
                                      error="you cancelled the sync", code="CANCELLED")
        config = SessionConfig(progress=progress.on_phase, cancelled=cancel)
        result, kid = await sync_client.sync_first_reachable(
            addresses, vault_root=self.root, home=self.home, key=self.key,
            expect_key_id=key_id, config=config)
        if kid is not None and progress.gap is not None:
            self._gaps[kid] = progress.gap
        return await self._record(kid or ident, result.peer, result, progress)

    async def _record(self, ident: str, address: str, result: SyncResult | None,
                      progress: SyncProgress, *, error: str | None = None,
                      code: str | None = None) -> sync_history.SyncRecord:
        if progress.gap is not None:
            self._gaps[ident] = progress.gap
        if result is None:
            record = sync_history.SyncRecord(ident, address, utc_now_iso(), True, False,
                                             error=error, error_code=code)
        else:
            record = sync_history.SyncRecord(
                ident, address, utc_now_iso(), True, result.ok, result.sent,
                result.received, result.held_back, len(result.forks), result.duration_ms,
                result.error, result.error_code,
                progress.gap.to_json() if progress.gap is not None else None)
        await self._keep(record)
        return record

    async def _keep(self, record: sync_history.SyncRecord) -> None:
        if not record.name:
            trusted, _, _ = await asyncio.to_thread(self._profile_state)
            entry = trusted.get(record.peer)
            if entry is not None and entry.name:
                record = replace(record, name=entry.name)
        try:
            await asyncio.to_thread(sync_history.append, self.home, record)
        except ProvaraDesktopError as exc:
            log.warning("the sync history could not be written: %s", exc)
        if record.received and self.on_evidence is not None:
            self.on_evidence(record)

    def _on_incoming(self, result: SyncResult) -> None:
        """A peer synced with us (our HeadlessPeer answered)."""
        record = sync_history.SyncRecord(
            result.peer, "", utc_now_iso(), False, result.ok, result.sent, result.received,
            result.held_back, len(result.forks), result.duration_ms, result.error,
            result.error_code)
        task = asyncio.get_running_loop().create_task(self._keep(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._changed()


@dataclass
class LanService:
    """What the app hands the UI: the loop, the profile, the options; the peer for the open
    vault starts and stops through it. Every method returns at once (a future)."""

    loop: AsyncLoop
    home: Path
    options: LanOptions = field(default_factory=LanOptions)
    enabled: bool = True
    on_change: Callable[[], None] | None = None
    on_evidence: Callable[[sync_history.SyncRecord], None] | None = None
    peer: AppPeer | None = None

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """On the loop; once the loop stopped (the app quits), a future that failed, so a
        view's last timer tick reports instead of raising."""
        try:
            return self.loop.submit(coro)
        except RuntimeError as exc:
            from concurrent.futures import Future as _Future

            failed: Future[Any] = _Future()
            failed.set_exception(exc)
            return failed

    def start_for(self, vault_root: Path, key: SigningKey, name: str) -> Future[Any]:
        """Run the peer for ``vault_root`` (stopping one for another vault first)."""
        async def go() -> AppPeer:
            old = self.peer
            if old is not None and old.root == vault_root and old.key.key_id == key.key_id:
                return old
            if old is not None:
                self.peer = None
                await old.stop()
            peer = AppPeer(vault_root, self.home, key, name=name, options=self.options,
                           on_change=self._changed, on_evidence=self._evidence)
            await peer.start()
            self.peer = peer
            return peer

        return self._submit(go())

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _evidence(self, record: sync_history.SyncRecord) -> None:
        if self.on_evidence is not None:
            self.on_evidence(record)

    def stop_peer(self) -> Future[Any]:
        async def go() -> None:
            old, self.peer = self.peer, None
            if old is not None:
                await old.stop()

        return self._submit(go())

    def snapshot(self) -> Future[Snapshot | None]:
        async def go() -> Snapshot | None:
            return await self.peer.snapshot() if self.peer is not None else None

        return self._submit(go())

    def add_manual(self, address: str) -> Future[None]:
        parse_host_port(address, where="peer address")  # a typo is said at once

        async def go() -> None:
            if self.peer is None:
                raise ProvaraDesktopError("the LAN peer is not running")
            await self.peer.add_manual(address)

        return self._submit(go())

    def sync(self, row: PeerState, progress: SyncProgress,
             cancel: CancelToken) -> Future[sync_history.SyncRecord]:
        async def go() -> sync_history.SyncRecord:
            if self.peer is None:
                raise ProvaraDesktopError("the LAN peer is not running")
            return await self.peer.sync(row.ident, row.addresses, row.key_id, progress,
                                        cancel)

        return self._submit(go())

    async def _on_free_port(self, port: int,
                            start: Callable[[int], Coroutine[Any, Any, _T]]) -> _T:
        """``start(port)``, or ``start(0)`` (any free port) when ``port`` is busy: the offer
        shows the address it really listens on."""
        try:
            return await start(port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or port == 0:
                raise
            return await start(0)

    def pair_offer(self, key: SigningKey, name: str, *, host: str, timeout: float,
                   on_ready: Callable[[str, str, int], None],
                   port: int = PAIR_PORT) -> Future[Paired]:
        """Offer a one-time code (on ``port``, any free one when it is busy); records the
        trust decision as ``pair offer`` does once both sides accepted."""
        from provara_desktop.net import pair_link, pairing

        async def go() -> Paired:
            me = pairing.Me(name, key)
            paired = await self._on_free_port(port, lambda p: pair_link.offer(
                me, host=host, port=p, timeout=timeout, on_ready=on_ready,
                on_accepted=self._record_pairing))
            if self.peer is not None:
                await self.peer.reload_secrets()
            self._changed()
            return paired

        return self._submit(go())

    def device_offer(self, vault: Vault, store: IdentityStore, key: SigningKey, *,
                     device_name: str, host: str, timeout: float,
                     on_ready: Callable[[str, str, int], None],
                     write: Callable[[str, str], Awaitable[Certified]],
                     port: int = PAIR_PORT) -> Future[DeviceAdded]:
        """Offer a one-time code for a new device of the unlocked person
        (net/device_pairing.py); ``write`` records its certificate (the app's writer)."""
        from provara_desktop.net import device_pairing

        async def go() -> DeviceAdded:
            added = await self._on_free_port(port, lambda p: device_pairing.offer_device(
                vault, store, key, name=device_name, host=host, port=p, timeout=timeout,
                on_ready=on_ready, write=write))
            if self.peer is not None:
                await self.peer.reload_secrets()
            self._changed()
            return added

        return self._submit(go())

    def device_join(self, store: IdentityStore, *, device_name: str, address: str,
                    code: str, passphrase: str) -> Future[tuple[Identity, Paired]]:
        """Make this (empty) profile the device ``device_name`` of the person whose machine
        offers at ``address``; the key is made here and never leaves."""
        from provara_desktop.net import device_pairing, pairing

        host, port = peer_addresses.parse_address(address, where="pairing address")
        pairing.normalize_code(code)
        return self._submit(device_pairing.join_as_device(
            store, name=device_name, host=host, port=port, code=code, passphrase=passphrase))

    async def _record_pairing(self, paired: Paired) -> None:
        """Pin the peer once both sides accepted (as ``pair offer``/``join`` do)."""
        from provara_desktop.net import pairing

        await asyncio.to_thread(pairing.record, self.home, paired)

    def pair_join(self, key: SigningKey, name: str, address: str,
                  code: str) -> Future[Paired]:
        from provara_desktop.net import pair_link, pairing

        host, port = peer_addresses.parse_address(address, where="pairing address")
        pairing.normalize_code(code)

        async def go() -> Paired:
            paired = await pair_link.join(pairing.Me(name, key), host=host, port=port,
                                          code=code, on_accepted=self._record_pairing)
            if self.peer is not None:
                await self.peer.reload_secrets()
            self._changed()
            return paired

        return self._submit(go())

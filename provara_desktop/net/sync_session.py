"""One sync session between two vaults over any (reader, writer) stream pair: a TLS
connection (net/tls.py) or, in tests, an in-memory pair (docs/SYNC_PROTOCOL.md, "Session").

    hello -> frontier -> [lacking, when the frontiers differ]
    the initiator's batches (events, DATA, attachments; each answered by ack) -> done
    the responder's batches -> done

Both sides compute what the other lacks from the frontiers before any batch moves, so each
sends exactly the difference in its own log order. Every batch goes through the intake
(peer_batch.py: check -> plan -> commit) and is committed atomically before it is
acknowledged: a session cut anywhere leaves both vaults valid, holding whole batches, and
the next session's frontiers start from there (that is the resume).

Events by keys the user does not trust are held back (counted, not written) unless the
per-peer policy accepts them, exactly as a bundle import does; the one exception is vouching
(capability ``vouch``, docs/SYNC_PROTOCOL.md section 13): keys a directly trusted peer
vouches for, which the caller records as such (``SyncPolicy.on_vouched``). The per-peer
policy's direction and actor/namespace scope apply to both what is sent and what is taken.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from provara_desktop.core.errors import PeerRejected, ProvaraDesktopError, StoreError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keys import PublicKey
from provara_desktop.core.logline import load_or_none
from provara_desktop.intake import check as intake_check
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.attachment_refs import attachment_refs
from provara_desktop.net import mesh_memory, tls
from provara_desktop.net import messages as m
from provara_desktop.net.chains import Chains, same_heads
from provara_desktop.net.framing import DATA, FrameStream, Limits
from provara_desktop.net.hub_messages import Audit, Checkpoint, Receipt, Witness
from provara_desktop.net.hub_side import (
    HubDuty,
    SpokeAudit,
    record_alerts,
    relay_keep,
    relay_message,
    take_witness,
    witness_message,
)
from provara_desktop.net.peer_batch import PeerBatch
from provara_desktop.store import federation, layout
from provara_desktop.store.parallel_verify import VerifyPool

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.intake.trust_view import Trust
    from provara_desktop.store.index import IndexRow
    from provara_desktop.store.vault import Vault

T = TypeVar("T")

BATCH_EVENTS = 8000
# From this many events expected from the peer on, batches are checked in worker processes
# kept for the session (store/parallel_verify.VerifyPool): they cost ~0.3 s to start, and
# on threads the check of one batch and the commit of the one before fight over one lock.
POOL_MIN_EVENTS = 20_000
WINDOW = 4  # batches in flight when both sides offer the capability "window"
CHUNK = 1 << 20  # attachment bytes per DATA frame
MAX_ATTACHMENT_BYTES = 4 << 30  # per session, received
# Every side accepts frames of at least this size: one event line (core/canonical.py
# MAX_LINE_BYTES, 1 MiB) always fits in a batch, whatever the two sides announced.
MIN_FRAME = 2 << 20
# The phases a session reports through SessionConfig.progress ("connect" is the caller's:
# the TCP connection and TLS handshake happen before the session starts).
PHASES = ("connect", "handshake", "compare", "transfer", "verify", "commit")
CANCEL_POLL = 0.1


@dataclass(frozen=True)
class SyncPolicy:
    """What the user allows of this peer (per peer; the topologies build on it)."""

    accept_untrusted: bool = False  # write events by keys the user does not trust
    any_vault: bool = False  # sync even when the peer's vault uid differs from ours
    # Per-peer policy (store/trust.py ``policy``; net/peer_policy.py builds this from it).
    # The defaults are v1's behaviour: both directions, every actor and namespace.
    send: bool = True  # send this peer what it lacks
    receive: bool = True  # write what this peer sends (else: every event held back)
    actors: frozenset[str] = frozenset()  # only these actors, both ways (empty: all)
    namespaces: frozenset[str] = frozenset()  # only these namespaces, both ways (empty: all)
    # Vouching (docs/SYNC_PROTOCOL.md, "Vouching"): the keys we vouch for to this peer, and
    # whether we take the peer's vouches: accept_vouched (one hop: keys the peer trusts
    # directly), chained (also keys the peer trusts only through someone's vouching).
    vouches: tuple[m.VouchedKey, ...] = ()
    accept_vouched: bool = False
    chained: bool = False
    # Called (in the intake's worker thread) after a commit that wrote events by keys we
    # trusted only because this peer vouched for them: the caller records that trust.
    on_vouched: Callable[[list[m.VouchedKey]], None] | None = None

    def in_scope(self, actor: str | None, namespace: str | None) -> bool:
        return ((not self.actors or (actor or "") in self.actors)
                and (not self.namespaces or (namespace or "") in self.namespaces))


@dataclass(frozen=True)
class SessionConfig:
    limits: Limits = field(default_factory=Limits)
    batch_events: int = BATCH_EVENTS
    role: str = "peer"
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES
    workers: int = 2  # verification workers of the intake
    pool_min_events: int = POOL_MIN_EVENTS  # from this many expected: worker processes
    # Where received attachments wait for their batch's commit (a private directory is made
    # in it per session and removed at its end); None: the system's temporary directory.
    staging_dir: Path | None = None
    # Optional hooks for an app that shows the session (both default to nothing, so the
    # protocol is unchanged): ``progress(phase, detail)`` at each phase (PHASES), called in
    # the loop's thread, or for "verify" and "commit" in the intake's worker thread; and
    # ``cancelled()``, polled while the session runs: once true the connection is cut
    # (a batch being committed finishes its atomic commit first, then finds it gone) and
    # the session ends with the code CANCELLED. Nothing half-written either way.
    progress: Callable[[str, dict[str, Any]], None] | None = None
    cancelled: Callable[[], bool] | None = None


@dataclass
class SyncResult:
    peer: str
    sent: int = 0  # events we sent that the peer acknowledged
    received: int = 0  # events written into our vault
    held_back: int = 0  # received but not written: signed by keys the user does not trust
    # (held_back includes these:) signed by a revoked key after its trust boundary
    refused_revoked: int = 0
    already_present: int = 0
    forks: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: int = 0
    error: str | None = None
    error_code: str | None = None
    version: int | None = None
    capabilities: list[str] = field(default_factory=list)  # offered by both sides
    peer_role: str | None = None
    peer_vault_uid: str | None = None  # what its hello said (a roll-up over the network)
    batches_sent: int = 0
    batches_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    # A spoke's audit of its hub (capability "receipts"): the checked checkpoint's size,
    # receipted events proven, receipts kept, and the alerts raised (docs/TOPOLOGIES.md)
    hub_audit: dict[str, Any] | None = None
    # Two replicas comparing their hubs' checkpoints (capability "witness"): notes sent and
    # received, and the alerts raised (a split view)
    witness: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        doc = {"peer": self.peer, "ok": self.ok, "sent": self.sent,
               "received": self.received, "held_back": self.held_back,
               "refused_revoked": self.refused_revoked,
               "already_present": self.already_present, "forks": self.forks,
               "duration_ms": self.duration_ms, "version": self.version,
               "capabilities": self.capabilities, "peer_role": self.peer_role,
               "batches_sent": self.batches_sent, "batches_received": self.batches_received,
               "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received}
        if self.hub_audit is not None:
            doc["hub_audit"] = self.hub_audit
        if self.witness is not None:
            doc["witness"] = self.witness
        if self.error is not None:
            doc["error"] = self.error
            doc["error_code"] = self.error_code
        return doc


def _actor_of(vault: Vault, key: SigningKey) -> str:
    """The label this profile signs under with ``key`` (its identity's), for an event the
    session itself writes (a hub alert)."""
    from provara_desktop.store.identity import IdentityStore, actor_label_for

    store = IdentityStore(vault.home)
    if store.exists():
        ident = store.load()
        if ident.key_id == key.key_id:
            return ident.actor
    for actor in vault.index.actor_names():  # a chain this key already signs
        rows = vault.index.query(actor=actor, descending=True, limit=1)
        if rows and rows[0].actor_key_id == key.key_id:
            return actor
    return actor_label_for("hub audit", key.key_id)


class _PeerSaidError(PeerRejected):
    """The peer ended the session with an ``error`` message (we answer nothing)."""


def negotiate(ours: tuple[int, ...], theirs: tuple[int, ...]) -> int:
    common = set(ours) & set(theirs)
    if not common:
        raise PeerRejected(f"no common protocol version (we speak {list(ours)}, the peer "
                           f"{list(theirs)[:8]})", code="VERSION")
    return max(common)


async def sync(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, vault: Vault,
               trust: Trust, signer: SigningKey, initiator: bool, peer: str = "peer",
               policy: SyncPolicy | None = None,
               config: SessionConfig | None = None) -> SyncResult:
    """Run one session to its end; never raises for anything the peer did (the result says
    what went wrong), and closes the writer."""
    session = _Session(FrameStream(reader, writer, limits=(config or SessionConfig()).limits,
                                   peer=peer), vault=vault, trust=trust, signer=signer,
                       policy=policy or SyncPolicy(), config=config or SessionConfig())
    return await session.run(initiator=initiator)


# A message from the peer and, for a batch, its lines and received attachments.
_Item = tuple[m.Message, "list[bytes] | None", "dict[str, tuple[int, Path]] | None"]


def _expected(mine: m.Frontier, theirs: m.Frontier) -> int:
    """Events the other side holds beyond ours, by its counts (a guess: its word, used
    only to choose how to check what comes, never to skip a check)."""
    return sum(max(0, e.count - (mine.actors[a].count if a in mine.actors else 0))
               for a, e in theirs.actors.items())


class _Session:
    def __init__(self, stream: FrameStream, *, vault: Vault, trust: Trust,
                 signer: SigningKey, policy: SyncPolicy, config: SessionConfig) -> None:
        if config.limits.max_frame < MIN_FRAME:
            raise ValueError(f"max_frame must be at least {MIN_FRAME} bytes")
        self.stream = stream
        # One logger per peer (net.peer[bp1_ab12...]), so a peer's story can be filtered.
        self.log = logging.getLogger(f"{__name__}.peer[{stream.peer[:24]}]")
        self.vault = vault
        self.trust = trust
        self.signer = signer
        self.policy = policy
        self.config = config
        self.result = SyncResult(stream.peer)
        self.batch_events = config.batch_events
        self.max_frame = config.limits.max_frame
        self.held: set[str] = set()  # ids held back in this session (and what builds on them)
        self.staging: Path | None = None
        self.attachment_bytes = 0
        # The first position of our log that this session's commits rewrote (the rows'
        # offsets from there on moved); None while they only appended after the end.
        self.rewritten_from: int | None = None
        self.cancel_seen = False
        self.vouch_ok = False  # both hellos offer "vouch"
        self.window_ok = False  # both hellos offer "window"
        self.vouched: dict[str, m.VouchedKey] = {}  # what the peer vouched for, if we take it
        self.vouch_recorded: set[str] = set()  # of those, the ones on_vouched was told of
        self.vouch_seen = False
        self.hub: HubDuty | None = None  # we are the hub of a spoke that offered receipts
        self.spoke: SpokeAudit | None = None  # we are a spoke auditing our hub
        self.receipts_kept = 0
        self.peer_held_back = 0  # of what we sent, events the peer did not take
        # (to the peer, from it) under the federation contract in force, if any
        self.flows: tuple[federation.Flow, federation.Flow] | None = None
        self.verify_pool: VerifyPool | None = None  # for a large transfer (POOL_MIN_EVENTS)
        self.warming: asyncio.Future[None] | None = None  # its workers starting

    def _phase(self, phase: str, **detail: Any) -> None:
        if self.config.progress is not None:
            self.config.progress(phase, detail)
        # Between phases the cancel is seen at once (before a commit: nothing is written);
        # the watcher below covers a session waiting on the network.
        if self.config.cancelled is not None and self.config.cancelled():
            self.cancel_seen = True
            raise PeerRejected("the sync was cancelled", code="CANCELLED")

    async def _watch_cancel(self) -> None:
        """Cut the connection once the caller's ``cancelled()`` says so."""
        check = self.config.cancelled
        assert check is not None
        while not check():
            await asyncio.sleep(CANCEL_POLL)
        self.cancel_seen = True
        self.stream.writer.transport.abort()

    # -- the session -----------------------------------------------------------------------

    async def run(self, *, initiator: bool) -> SyncResult:
        started = time.monotonic()
        r = self.result
        watcher = (asyncio.get_running_loop().create_task(self._watch_cancel())
                   if self.config.cancelled is not None else None)
        try:
            await self._run(initiator)
        except PeerRejected as exc:
            r.error, r.error_code = str(exc), exc.code
            if self.cancel_seen:
                r.error, r.error_code = ("you cancelled the sync (what was committed before "
                                         "stays; the next sync resumes from there)",
                                         "CANCELLED")
            self.log.warning("sync with %s stopped: %s", r.peer, r.error)
            if not isinstance(exc, _PeerSaidError) and r.error_code not in (
                    "CLOSED", "TRUNCATED"):
                await self._tell_error(exc.code, "the peer cancelled the sync"
                                       if self.cancel_seen else str(exc))
        except (ProvaraDesktopError, OSError, sqlite3.Error) as exc:
            # our side: the vault's files or index, a write the store refused
            r.error, r.error_code = str(exc), "LOCAL_ERROR"
            self.log.warning("sync with %s stopped on our side: %s", r.peer, exc)
            await self._tell_error("LOCAL_ERROR", "the peer could not go on (its own vault)")
        finally:
            if watcher is not None:
                watcher.cancel()
            await self.stream.close()
            if self.warming is not None:  # (a pool that failed to start says so here)
                await asyncio.gather(self.warming, return_exceptions=True)
            if self.verify_pool is not None:
                await asyncio.to_thread(self.verify_pool.close)
            if self.hub is not None:
                self.hub.close()
            if self.spoke is not None:
                self.result.hub_audit = {**self.spoke.outcome.to_json(),
                                         "hub_key_id": self.spoke.hub_key.key_id,
                                         "receipts_kept": self.receipts_kept}
                self.spoke.close()
            if self.staging is not None:
                shutil.rmtree(self.staging, ignore_errors=True)
            r.bytes_sent, r.bytes_received = self.stream.bytes_sent, self.stream.bytes_received
            r.duration_ms = round((time.monotonic() - started) * 1000)
        if r.ok:
            self.log.info("synced with %s in %d ms: sent %d, received %d, held back %d, "
                          "%d fork(s)", r.peer, r.duration_ms, r.sent, r.received,
                          r.held_back, len(r.forks))
        return r

    async def _tell_error(self, code: str, reason: str) -> None:
        try:
            await asyncio.wait_for(self.stream.send_message(m.Error(code, reason).to_json()),
                                   1.0)
        except (PeerRejected, TimeoutError):
            pass  # the peer is gone or stuck: it learns from the closed connection

    async def _run(self, initiator: bool) -> None:
        s, cfg = self.stream, self.config
        self._phase("handshake")
        hello = m.Hello(m.VERSIONS, self.vault.uid, cfg.role, m.CAPABILITIES,
                        cfg.limits.max_frame, cfg.batch_events)
        await s.send_message(hello.to_json())
        theirs = await self._expect(m.Hello)
        self.result.peer_vault_uid = theirs.vault_uid[:128]
        self.result.version = negotiate(m.VERSIONS, theirs.versions)
        if theirs.vault_uid != self.vault.uid and not self.policy.any_vault:
            raise PeerRejected(f"the peer's vault {theirs.vault_uid[:64]} is not this vault "
                               f"({self.vault.uid})", code="VAULT_MISMATCH")
        if theirs.max_frame:
            if theirs.max_frame < MIN_FRAME:
                raise PeerRejected(f"the peer accepts frames of {theirs.max_frame} bytes, "
                                   f"under the protocol's minimum of {MIN_FRAME}", code="LIMIT")
            self.max_frame = min(self.max_frame, theirs.max_frame)
            s.max_send = self.max_frame
        self.result.capabilities = sorted(set(m.CAPABILITIES) & set(theirs.capabilities))
        self.vouch_ok = "vouch" in self.result.capabilities
        self.window_ok = "window" in self.result.capabilities
        self.result.peer_role = theirs.role
        if theirs.max_batch:
            self.batch_events = max(1, min(self.batch_events, theirs.max_batch))
        self.flows = await asyncio.to_thread(self._federation_flows)
        # Only now, with a hello that makes sense, is the vault read (the whole index).
        chains = await asyncio.to_thread(Chains.from_vault, self.vault)
        mine = chains.frontier()
        await s.send_message(mine.to_json())
        their_frontier = await self._expect(m.Frontier)
        if "receipts" in self.result.capabilities:
            # before anything moves: a spoke that pushed first would restore what a
            # rolled-back hub lost, and the proof of it with it
            await self._hub_audit(theirs.role, mine, their_frontier)
        if "witness" in self.result.capabilities and self.hub is None and self.spoke is None:
            await self._witness()
        elif "witness-relay" in self.result.capabilities and (
                self.hub is not None or self.spoke is not None):
            await self._witness_relay()
        self._phase("compare", mine=mine, theirs=their_frontier)
        if self.window_ok and self.policy.receive and _expected(
                mine, their_frontier) >= self.config.pool_min_events:
            self.verify_pool = VerifyPool(self.config.workers)
            # Started while the peer finds and reads what to send us; the first batch's
            # check waits for it only if that is quicker.
            self.warming = asyncio.ensure_future(asyncio.to_thread(self.verify_pool.warm))
        their_lacking = None
        if not same_heads(mine, their_frontier):
            await s.send_message(chains.lacking_for(their_frontier).to_json())
            their_lacking = await self._expect(m.Lacking)
        outgoing = chains.unknown_to(their_frontier, their_lacking)
        del chains
        if self.spoke is not None:
            self.spoke.withheld(r.event_id for r in outgoing)
            await self._record_alerts(self.spoke.outcome.alerts)
        unfiltered = outgoing
        if not self.policy.send:
            outgoing = []
        elif self.policy.actors or self.policy.namespaces:
            outgoing = [r for r in outgoing if self.policy.in_scope(r.actor, r.namespace)]
        if self.flows is not None:  # the federation contract in force (docs/FEDERATION.md)
            outgoing = await asyncio.to_thread(self.flows[0].outgoing, self.vault, outgoing)
        if cfg.progress is not None:  # per actor, what we are about to send
            self._phase("transfer", mine=mine, theirs=their_frontier,
                        sending=dict(Counter(row.actor or "" for row in outgoing)))
        complete_scope = len(outgoing) == len(unfiltered)
        if initiator:
            await self._send_all(outgoing)
            await self._receive_all()
        else:
            await self._receive_all()
            await self._send_all(outgoing)
        await asyncio.to_thread(self._remember_peer, mine, their_frontier, complete_scope)
        if self.flows is not None and self.result.received:
            # the revocation ceremony: a revocation that just arrived is acknowledged,
            # signed, and the acknowledgement travels back at the next session
            await asyncio.to_thread(self._acknowledge)

    def _federation_flows(self) -> tuple[federation.Flow, federation.Flow] | None:
        """What the contract in force lets flow each way with this peer; the session ends
        (nothing moved) when the peer, or this profile, is no member."""
        if federation.in_force(self.vault) is None:
            return None
        try:
            kid = PublicKey(tls.peer_public_key(self.stream.writer)).key_id
        except (PeerRejected, ValueError, OSError):
            raise PeerRejected("this vault is under a federation contract, and the peer's "
                               "key is not known: nothing flows", code="OUT_OF_CONTRACT"
                               ) from None
        try:
            return federation.flows_for(self.vault, self.signer.key_id, kid)
        except federation.OutOfContract as exc:
            raise PeerRejected(str(exc), code="OUT_OF_CONTRACT") from None

    def _acknowledge(self) -> None:
        acked = federation.acknowledge(self.vault, key=self.signer,
                                       actor=_actor_of(self.vault, self.signer))
        if acked:
            self.log.info("acknowledged %d revocation(s) under the federation contract",
                          len(acked))

    def _remember_peer(self, mine: m.Frontier, theirs: m.Frontier, complete_scope: bool
                       ) -> None:
        """What the peer's copy holds now, for the picture of a partition
        (net/mesh_memory.py)."""
        try:
            kid = PublicKey(tls.peer_public_key(self.stream.writer)).key_id
        except (PeerRejected, ValueError, OSError):
            return  # not over TLS (a test's plain stream): no identity to file it under
        copy = mesh_memory.after_session(
            key_id=kid, address=self.stream.peer, synced_utc=utc_now_iso(),
            mine={a: h.count for a, h in mine.actors.items()},
            theirs={a: h.count for a, h in theirs.actors.items()},
            sent_all=self.policy.send and complete_scope and self.peer_held_back == 0,
            received_all=self.policy.receive and self.result.held_back == 0)
        try:
            mesh_memory.remember(self.vault.home, self.vault.uid, copy)
        except StoreError as exc:  # a convenience: never a reason to fail the sync
            self.log.warning("the mesh memory was not updated: %s", exc)

    async def _hub_audit(self, their_role: str, mine: m.Frontier,
                         theirs: m.Frontier) -> None:
        """The hub answers the spoke's audit (net/hub_side.py); a peer session has none."""
        if self.config.role == "hub" and their_role != "hub":
            self.hub = await asyncio.to_thread(HubDuty, self.vault, self.signer)
            audit = await self._expect(Audit)
            answer = await asyncio.to_thread(self.hub.answer, audit, mine.to_json())
            await self.stream.send_message(answer.to_json())
        elif their_role == "hub" and self.config.role != "hub":
            try:
                hub_key = PublicKey(tls.peer_public_key(self.stream.writer))
            except (PeerRejected, ValueError, OSError) as exc:
                raise PeerRejected(f"the hub has no key this side can hold it to: {exc}",
                                   code="BAD_CHECKPOINT") from None
            self.spoke = SpokeAudit(self.vault.home, self.vault.uid, hub_key)
            await self.stream.send_message(self.spoke.request().to_json())
            answer = await self._expect(Checkpoint)
            await asyncio.to_thread(self.spoke.check, answer, theirs.to_json())

    async def _record_alerts(self, alerts: list[Any]) -> None:
        """Each new alert becomes an extension event in our vault, signed by us."""
        fresh = [a for a in alerts if a.recorded_event_id is None]
        if fresh:
            actor = await asyncio.to_thread(_actor_of, self.vault, self.signer)
            await asyncio.to_thread(record_alerts, self.vault, self.signer, actor, fresh)

    async def _witness(self) -> None:
        """Capability "witness" between two replicas (neither a hub): each passes on the
        latest checkpoint of each of its hubs, cosigned; a hub that showed the two of
        them different logs is caught here or at the next audit (net/hub_side.py)."""
        mine = await asyncio.to_thread(witness_message, self.vault.home, self.vault.uid,
                                       self.signer, int(time.time()))
        await self.stream.send_message(mine.to_json())
        theirs = await self._expect(Witness)
        try:
            peer = PublicKey(tls.peer_public_key(self.stream.writer))
        except (PeerRejected, ValueError, OSError):
            return  # no key proven (not over TLS): nothing it passed on can be weighed
        alerts = await asyncio.to_thread(take_witness, self.vault.home, self.vault.uid,
                                         theirs, peer)
        self.result.witness = {"sent": len(mine.notes), "received": len(theirs.notes),
                               "alerts": [a.to_json() for a in alerts]}
        await self._record_alerts(alerts)

    async def _witness_relay(self) -> None:
        """Capability "witness-relay", between a spoke and its hub, after the audit: the
        spoke leaves the checkpoint it just checked, cosigned, with the hub; the hub passes
        on what its other spokes left. A hub that shows two spokes different logs is caught
        when it relays (a hub that relays nothing is still caught when the spokes meet, or
        through bundles)."""
        home, uid = self.vault.home, self.vault.uid
        if self.spoke is not None:
            mine = await asyncio.to_thread(witness_message, home, uid, self.signer,
                                           int(time.time()),
                                           hub_key_id=self.spoke.hub_key.key_id,
                                           with_key=True)
            await self.stream.send_message(mine.to_json())
            relayed = await self._expect(Witness)
            alerts = await asyncio.to_thread(take_witness, home, uid, relayed, None,
                                             me=self.signer.key_id)
            self.result.witness = {"sent": len(mine.notes), "received": len(relayed.notes),
                                   "relayed_by_hub": True,
                                   "alerts": [a.to_json() for a in alerts]}
            # recorded with the audit's own alerts, once the session knows what it lacks
            self.spoke.outcome.alerts.extend(alerts)
            return
        spoke_note = await self._expect(Witness)
        try:
            spoke = PublicKey(tls.peer_public_key(self.stream.writer))
        except (PeerRejected, ValueError, OSError):
            await self.stream.send_message(Witness().to_json())
            return
        await asyncio.to_thread(relay_keep, home, uid, self.signer.public, spoke_note, spoke)
        answer = await asyncio.to_thread(relay_message, home, uid, spoke)
        await self.stream.send_message(answer.to_json())

    async def _next(self) -> m.Message:
        frame = await self.stream.read_frame()
        if frame.kind == DATA or frame.message is None:
            raise PeerRejected(f"{self.stream.peer}: data where a message was due",
                               code="BAD_MESSAGE")
        msg = m.parse(frame.message)
        if isinstance(msg, m.Error):
            raise _PeerSaidError(f"the peer ended the session: {msg.reason}", code=msg.code)
        return msg

    async def _expect(self, kind: type[T]) -> T:
        msg = await self._next()
        if not isinstance(msg, kind):
            raise PeerRejected(f"{self.stream.peer}: {type(msg).TYPE} where "
                               f"{getattr(kind, 'TYPE', kind)} was due", code="BAD_MESSAGE")
        return msg

    # -- sending -------------------------------------------------------------------------

    async def _send_all(self, rows: list[IndexRow]) -> None:
        sent = 0
        n = 0
        i = 0
        if self.vouch_ok and self.policy.vouches and rows:
            # Only the keys that sign what we send: the peer learns nothing else of whom
            # we trust.
            signing = {r.actor_key_id for r in rows}
            keys = tuple(k for k in self.policy.vouches if k.key_id in signing)
            if keys:
                await self.stream.send_message(m.Vouch(keys).to_json())
        # Batches sent and not acknowledged yet: their sizes, oldest first. With the
        # capability "window" both sides offered, up to WINDOW are in flight, so reading
        # and sending the next batch overlaps the receiver's verify and commit; the
        # receiver still takes them one at a time, in order, and acks each after its commit.
        in_flight: collections.deque[int] = collections.deque()
        window = WINDOW if self.window_ok else 1

        async def take_ack() -> None:
            nonlocal sent
            ack = await self._expect(m.Ack)
            if self.spoke is not None and ack.receipt is not None:
                await asyncio.to_thread(self.spoke.keep_receipt,
                                        Receipt.from_json(ack.receipt))
                self.receipts_kept += 1
            expected = n - len(in_flight) + 1
            if ack.batch != expected:
                raise PeerRejected(f"ack for batch {ack.batch}, expected {expected}",
                                   code="BAD_MESSAGE")
            sent += in_flight.popleft()
            self.peer_held_back += ack.held_back
            self.result.sent = sent
            self.result.batches_sent = ack.batch
            self._phase("transfer", sent=sent, total=len(rows))

        while i < len(rows):
            lines, part, i = await asyncio.to_thread(self._read_batch, rows, i)
            n += 1
            header, data, atts = await asyncio.to_thread(self._describe_batch, n, lines,
                                                         part)
            await self.stream.send_message(header.to_json())
            await self.stream.send_data(data)
            for sha, size in atts:
                await self._send_attachment(sha, size)
            in_flight.append(len(lines))
            while len(in_flight) >= window:
                await take_ack()
        while in_flight:
            await take_ack()
        await self.stream.send_message(m.Done(sent, n).to_json())

    def _read_batch(self, rows: list[IndexRow], start: int
                    ) -> tuple[list[bytes], list[IndexRow], int]:
        """Up to batch_events lines from ``start``, within the frame limit, with their rows
        (as found now). The offsets come from the index when the session began; if this
        session's commits rewrote our log at or before some of these rows (we received
        events that sort before them), those are looked up again."""
        lines: list[bytes] = []
        used: list[IndexRow] = []
        size = 0
        budget = self.max_frame
        part = rows[start:start + self.batch_events]
        moved = self.rewritten_from
        if moved is not None and any(r.pos >= moved for r in part):
            fresh = self.vault.index.get_many(r.event_id for r in part)
            part = [fresh.get(r.event_id, r) for r in part]
        with self.vault.events_path.open("rb") as f:
            for row in part:
                raw, row = self._line_of(f, row)
                if lines and size + len(raw) + 1 > budget:
                    break
                lines.append(raw)
                used.append(row)
                size += len(raw) + 1
        return lines, used, start + len(lines)

    def _line_of(self, f: Any, row: IndexRow) -> tuple[bytes, IndexRow]:
        for attempt in (0, 1):
            if attempt:  # another program may have rewritten the log meanwhile
                self.vault.sync_index()
                fresh = self.vault.index.get(row.event_id)
                if fresh is None:
                    break
                row = fresh
            f.seek(row.offset)
            raw: bytes = f.read(row.length)
            if row.event_id.encode() in raw:
                return raw, row
        raise PeerRejected(f"{row.event_id} is no longer where the index says: our vault "
                           "changed under the session", code="LOCAL_ERROR")

    def _describe_batch(self, n: int, lines: list[bytes], rows: list[IndexRow]
                        ) -> tuple[m.Events, bytes, list[tuple[str, int]]]:
        # The ids, predecessors and keys come from our index rows of these very lines
        # (_line_of matched each line to its row); only a line that may reference an
        # attachment is parsed (a tenth of a sender's time went to parsing every line).
        ids = {r.event_id for r in rows}
        index = self.vault.index
        prereq: set[str] = set()
        dangling: set[str] = set()
        outside = {prev for r in rows
                   if (prev := r.prev_event_hash) is not None and prev not in ids}
        held = index.get_many(outside)
        for prev in outside:
            (prereq if prev in held else dangling).add(prev)
        signing = {r.actor_key_id for r in rows}
        keys = [k for k in self.vault.keys_doc.get("keys", [])
                if isinstance(k, dict) and k.get("key_id") in signing]
        atts: dict[str, int] = {}
        missing: set[str] = set()
        cas = self.vault.root / layout.CAS_DIR
        for raw in lines:
            ev = load_or_none(raw) if b'"attachments"' in raw else None
            for ref in attachment_refs(ev) if ev is not None else ():
                sha = ref["sha256"]
                path = cas / sha
                if path.is_file():
                    atts[sha] = path.stat().st_size
                else:
                    missing.add(sha)
        data = b"".join(raw + b"\n" for raw in lines)
        header = m.Events(n, len(lines), len(data), tuple(keys), tuple(sorted(prereq)),
                          tuple(sorted(dangling)),
                          tuple(m.AttachmentRef(s, z) for s, z in sorted(atts.items())),
                          tuple(sorted(missing - set(atts))))
        return header, data, sorted(atts.items())

    async def _send_attachment(self, sha: str, size: int) -> None:
        await self.stream.send_message(m.Attachment(sha, size).to_json())
        path = self.vault.root / layout.CAS_DIR / sha
        chunk = min(CHUNK, self.max_frame)
        with path.open("rb") as f:
            left = size
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    raise PeerRejected(f"attachment {sha[:12]}… shrank while it was sent",
                                       code="LOCAL_ERROR")
                await self.stream.send_data(data)
                left -= len(data)

    # -- receiving -----------------------------------------------------------------------

    async def _receive_all(self) -> None:
        """Take the peer's batches in order, each through the intake and committed before
        its ack. With the capability "window" (the peer sends ahead) it is pipelined: the
        next batch's lines are read and verified (signatures, ids, the chains inside it)
        while the previous batch is committed, then checked against the vault and
        committed once that commit is done, and the batch after that is read from the
        connection meanwhile; acks still go out one per batch, in order."""
        expected = 1
        pending: asyncio.Future[None] | None = None  # the previous batch's intake and ack
        ahead: asyncio.Future[intake_check.Verified] | None = None
        nxt: asyncio.Future[_Item] = asyncio.ensure_future(self._read_item())
        try:
            while True:
                msg, lines, received = await self._unless_failed(nxt, pending)
                if isinstance(msg, m.Vouch) and self.vouch_ok and expected == 1 \
                        and not self.vouch_seen:  # once, before the first batch
                    self.vouch_seen = True
                    self._take_vouch(msg)
                    nxt = asyncio.ensure_future(self._read_item())
                    continue
                if isinstance(msg, m.Done):
                    if pending is not None:
                        await pending
                    return
                if not isinstance(msg, m.Events) or lines is None or received is None:
                    raise PeerRejected(f"{self.stream.peer}: {type(msg).TYPE} where events "
                                       "or done was due", code="BAD_MESSAGE")
                if msg.batch != expected:
                    raise PeerRejected(f"batch {msg.batch} where {expected} was due",
                                       code="BAD_MESSAGE")
                if self.window_ok:
                    ahead = asyncio.ensure_future(asyncio.to_thread(
                        self._verify_ahead, msg, lines))
                    # The peer has sent ahead: read its next batch while this one is checked.
                    nxt = asyncio.ensure_future(self._read_item())
                if pending is not None:
                    await pending
                    pending = None
                verified = await ahead if ahead is not None else None
                ahead = None
                job = self._intake_and_ack(msg, lines, received, verified)
                if self.window_ok:
                    pending = asyncio.ensure_future(job)
                else:
                    await job
                    # Without a window the peer sends the next batch after this ack.
                    nxt = asyncio.ensure_future(self._read_item())
                expected += 1
        finally:
            # Threads cannot be cut: a commit in progress finishes (it is atomic) before
            # the session ends and its caller closes the vault. A read still waiting for
            # the peer is cut.
            if not nxt.done():
                nxt.cancel()
            left = [f for f in (pending, ahead, nxt) if f is not None]
            # (also marks an error already raised above as seen: no "never retrieved")
            await asyncio.gather(*left, return_exceptions=True)

    async def _read_item(self) -> _Item:
        """The peer's next message; for a batch, with its lines and attachments."""
        msg = await self._next()
        if isinstance(msg, m.Events):
            lines, received = await self._take_batch(msg)
            return msg, lines, received
        return msg, None, None

    async def _unless_failed(self, nxt: asyncio.Future[_Item],
                             pending: asyncio.Future[None] | None) -> _Item:
        """``nxt``'s item; or, if the previous batch's intake fails first, its error (not a
        wait for a peer whose window is full and that waits for our ack)."""
        if pending is None:
            return await nxt
        if pending.done():
            pending.result()  # its error, if it failed
            return await nxt
        both: set[asyncio.Future[Any]] = {nxt, pending}
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        if pending.done() and pending.exception() is not None:
            pending.result()
        return await nxt

    async def _take_batch(self, header: m.Events
                          ) -> tuple[list[bytes], dict[str, tuple[int, Path]]]:
        """A batch's event lines and attachments, as announced by ``header``."""
        s = self.stream
        if header.size > s.limits.max_frame or header.count > self.config.batch_events:
            raise PeerRejected(f"batch {header.batch} of {header.count} events, {header.size} "
                               "bytes: over this side's limits", code="LIMIT")
        frame = await s.read_frame()
        if frame.kind != DATA or len(frame.body) != header.size:
            raise PeerRejected(f"batch {header.batch}: the event lines did not follow as "
                               f"announced ({header.size} bytes)", code="BAD_MESSAGE")
        lines = frame.body.split(b"\n")
        if lines.pop() != b"" or len(lines) != header.count:
            raise PeerRejected(f"batch {header.batch}: {len(lines)} lines, announced "
                               f"{header.count}", code="BAD_MESSAGE")
        received: dict[str, tuple[int, Path]] = {}
        for ref in header.attachments:
            received[ref.sha256] = (ref.size, await self._receive_attachment(ref))
        return lines, received

    def _verify_ahead(self, header: m.Events, lines: list[bytes]) -> intake_check.Verified:
        batch = PeerBatch(self.stream.peer, header.batch, lines, list(header.keys))
        return intake_check.verify_ahead(batch, self.vault, workers=self.config.workers,
                                         pool=self.verify_pool)

    async def _intake_and_ack(self, header: m.Events, lines: list[bytes],
                              received: dict[str, tuple[int, Path]],
                              verified: intake_check.Verified | None) -> None:
        batch = PeerBatch(self.stream.peer, header.batch, [], list(header.keys),
                          set(header.prerequisites), set(header.dangling), received,
                          set(header.missing_attachments))
        held_early = self._hold_dependants(lines, batch)
        # What was held back is not in the vault: the intake must not require it (the
        # events that chain to it are held back too, above).
        batch.prerequisites -= self.held
        ack = await asyncio.to_thread(self._intake, batch, held_early, verified)
        await self.stream.send_message(ack.to_json())
        self.result.batches_received = header.batch
        self._phase("transfer", received=self.result.received)

    def _take_vouch(self, msg: m.Vouch) -> None:
        """Keep the vouches our policy for this peer takes (one hop unless ``chained``);
        a key whose id is not its public key's is ignored, never trusted."""
        from provara_desktop.core.keys import PublicKey

        p = self.policy
        if not p.accept_vouched or not p.receive:
            return
        for k in msg.keys:
            if not (k.direct or p.chained) or self.trust.why(k.key_id) is not None:
                continue
            try:
                if PublicKey.from_b64(k.public_key_b64).key_id != k.key_id:
                    continue
            except ValueError:
                continue
            self.vouched[k.key_id] = k
        if self.vouched:
            self.log.info("%s vouches for %d key(s) you do not trust yet", self.stream.peer,
                          len(self.vouched))

    def _batch_trust(self) -> Trust:
        """The user's trust, plus the keys this peer vouched for (when our policy takes
        them): the intake then accepts their events, which still must verify."""
        if not self.vouched:
            return self.trust
        from dataclasses import replace

        store = dict(self.trust.store)
        for kid in self.vouched:
            store.setdefault(kid, f"vouched for by {self.stream.peer}")
        return replace(self.trust, store=store)

    def _hold_dependants(self, lines: list[bytes], batch: PeerBatch) -> int:
        """Lines building on an event held back earlier in this session are held back too,
        before the intake sees them (they would otherwise lack their prerequisite); so are,
        under this peer's policy, all of them (receive off) or those out of its scope."""
        held = 0
        p = self.policy
        scoped = not p.receive or bool(p.actors or p.namespaces)
        for raw in lines:
            ev = load_or_none(raw) if (self.held or scoped) else None
            prev = ev.get("prev_event_hash") if ev is not None else None
            out_of_scope = ev is not None and scoped and (not p.receive or not p.in_scope(
                ev.get("actor") if isinstance(ev.get("actor"), str) else None,
                ev.get("namespace") if isinstance(ev.get("namespace"), str) else None))
            if ev is not None and (out_of_scope or (isinstance(prev, str)
                                                    and prev in self.held)):
                self.held.add(str(ev.get("event_id")))
                held += 1
            else:
                batch.event_lines.append(raw)
        return held

    async def _receive_attachment(self, ref: m.AttachmentRef) -> Path:
        msg = await self._expect(m.Attachment)
        if (msg.sha256, msg.size) != (ref.sha256, ref.size):
            raise PeerRejected(f"attachment {msg.sha256[:12]}… where {ref.sha256[:12]}… was "
                               "announced", code="BAD_MESSAGE")
        self.attachment_bytes += ref.size
        if self.attachment_bytes > self.config.max_attachment_bytes:
            raise PeerRejected(f"attachments over {self.config.max_attachment_bytes} bytes "
                               "in one session", code="LIMIT")
        if self.staging is None:
            # Private to this user (0700), removed when the session ends, whatever happens.
            self.staging = Path(tempfile.mkdtemp(prefix="provara-sync-",
                                                 dir=self.config.staging_dir))
        dest = self.staging / ref.sha256
        h = hashlib.sha256()
        left = ref.size
        with dest.open("wb") as f:
            while left > 0:
                frame = await self.stream.read_frame()
                if frame.kind != DATA or len(frame.body) > left or not frame.body:
                    raise PeerRejected(f"attachment {ref.sha256[:12]}…: its bytes did not "
                                       "follow as announced", code="BAD_MESSAGE")
                h.update(frame.body)
                f.write(frame.body)
                left -= len(frame.body)
        if h.hexdigest() != ref.sha256:
            raise PeerRejected(f"attachment {ref.sha256[:12]}…: its bytes do not match its "
                               "sha256", code="ATTACHMENT_DAMAGED")
        return dest

    def _intake(self, batch: PeerBatch, held_early: int,
                verified: intake_check.Verified | None = None) -> m.Ack:
        """check -> plan -> commit (intake/), in a worker thread: the loop keeps serving.
        ``verified``: the lines' verification made ahead (used when still valid)."""
        r = self.result
        if not batch.event_lines and held_early:  # all held back (policy, or dependants)
            r.held_back += held_early
            return m.Ack(batch.batch_no, 0, held_early, 0, 0)
        self._phase("verify", batch=batch.batch_no, events=len(batch.event_lines))
        c = intake_check.check(batch, self._batch_trust(), vault=self.vault,
                               workers=self.config.workers, verified=verified)
        if self.flows is not None:  # never accept what the contract excludes
            try:
                self.flows[1].check_incoming(e for e in c.events
                                             if str(e.get("event_id")) not in c.present)
            except federation.OutOfContract as exc:
                raise PeerRejected(f"refused, nothing of the batch written: {exc}",
                                   code="OUT_OF_CONTRACT") from None
        try:
            p = intake_plan.plan(self.vault, c, accept_untrusted=self.policy.accept_untrusted)
        except intake_plan.ImportRefused as exc:
            raise PeerRejected(str(exc), code="BATCH_REFUSED") from None
        if p.new_events:
            self._phase("commit", batch=batch.batch_no, events=len(p.new_events))
            intake_commit.commit(self.vault, p, signer=self.signer)
            moved = p.result.reordered_from if p.result is not None else None
            if moved is not None:
                self.rewritten_from = (moved if self.rewritten_from is None
                                       else min(moved, self.rewritten_from))
            if self.vouched and self.policy.on_vouched is not None:
                signing = {e.get("actor_key_id") for e in p.new_events}
                newly = [k for kid, k in sorted(self.vouched.items()) if kid in signing
                         and kid not in self.vouch_recorded]
                if newly:
                    self.vouch_recorded.update(k.key_id for k in newly)
                    self.policy.on_vouched(newly)
        self.held.update(str(e.get("event_id")) for e in p.held_back)
        self.held.update(str(e.get("event_id")) for e in p.refused)
        r.refused_revoked += len(p.refused)
        held = len(p.held_back) + len(p.refused) + held_early
        r.received += p.imported
        r.held_back += held
        r.already_present += p.already_present
        r.forks.extend(f.to_json() for f in c.forks)
        if held > len(p.refused):
            self.log.info("%s: %d event(s) held back (keys you do not trust)", batch.origin,
                          held - len(p.refused))
        if p.refused:
            self.log.warning("%s: %d event(s) refused: signed by a revoked key after its "
                             "trust boundary", batch.origin, len(p.refused))
        receipt = (self.hub.receipt(str(e.get("event_id")) for e in p.new_events).to_json()
                   if self.hub is not None and p.new_events else None)
        return m.Ack(batch.batch_no, p.imported, held, p.already_present, len(c.forks),
                     receipt)

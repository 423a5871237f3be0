"""Discovery on the LAN with mDNS/DNS-SD (python-zeroconf): announce ``_provara._tcp.local.``
and browse for the others, feeding net/peers_view.py's PeersInView and its Diagnostics.

Why the asyncio API (AsyncZeroconf, AsyncServiceBrowser, AsyncServiceInfo) on the caller's
loop rather than the blocking API on a thread of its own: all of net/ is asyncio (sessions,
TLS, later gossip) and runs on one loop (the app's loop thread, ``serve``'s, or the CLI's
``asyncio.run``). Zeroconf then calls our handlers in that loop, so the peers model needs no
lock and no hop between threads; resolving a peer is an awaited request, not a thread
blocked for seconds; ``register_service`` (which probes for ~1.7 s) does not stall anything.

What a stranger may see (the TXT record, see :data:`ALLOWED_TXT_KEYS`): ``v`` the protocol
versions (comma-separated), and unless discreet ``n`` a display name and ``fp`` the short
fingerprint: the first 8 hex digits of sha256(public key), i.e. ``key_id[4:12]`` and the first
two groups of the fingerprint people compare. The port is in the SRV record. The SRV target
(host name) is a random ``pv-<hex>.local.``, never the machine's name. Never the vault uid,
the full key, or anything else.

Discreet mode (net/discreet.py): a random instance name and host name per token window,
``d=1`` and the tokens ``t0``..``t3``; no name, no fingerprint. Strangers still see an IP
address and a port: mDNS cannot hide where a service is.

Interfaces: an explicit list of this machine's addresses (tests always pass one: loopback or a
namespace's own address) or None for the system's choice (``InterfaceChoice.Default``, the
app's default). IPv4, IPv6 or both (``ip_version``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import re
import secrets as _random
import socket
import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zeroconf import (
    InterfaceChoice,
    IPVersion,
    RecordUpdateListener,
    ServiceStateChange,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from provara_desktop.net import discreet
from provara_desktop.net.messages import VERSIONS
from provara_desktop.net.peers_view import MDNS, Diagnostics, InterfaceUse, PeerInView

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from provara_desktop.net.peers_view import PeersInView

log = logging.getLogger(__name__)

SERVICE_TYPE = "_provara._tcp.local."
TOKEN_KEYS = ("t0", "t1", "t2", "t3")
ALLOWED_TXT_KEYS = frozenset({"v", "n", "fp", "d", *TOKEN_KEYS})
_TOKENS_PER_KEY = 14  # 14 x 16 hex = 224 characters: one TXT string holds at most 255 bytes
MAX_NAME = 64
_FP_RE = re.compile(r"^[0-9a-f]{8}$")
_TOKENS_RE = re.compile(r"^(?:[0-9a-f]{16}){1,14}$")
_IP_VERSIONS = {"v4": IPVersion.V4Only, "v6": IPVersion.V6Only, "all": IPVersion.All}
RESOLVE_TIMEOUT_MS = 3000
# A flood of announcements (a hostile or broken host) must not grow memory or tasks without
# bound: beyond these, new names are ignored and the diagnostics say so.
MAX_PEERS = 512
MAX_RESOLVING = 64


@dataclass(frozen=True)
class Announcement:
    """What this peer announces. ``name`` None (or discreet) announces no display name;
    ``show_fingerprint`` False (or discreet) no fingerprint."""

    port: int
    key_id: str
    name: str | None = None
    show_fingerprint: bool = True
    discreet: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"cannot announce port {self.port}: it must be 1..65535 (the "
                             "port the server actually listens on)")
        short_fingerprint(self.key_id)  # a malformed key id fails here, not on the wire

    @property
    def fingerprint(self) -> str:
        return short_fingerprint(self.key_id)


def short_fingerprint(key_id: str) -> str:
    """The 8 hex digits an ordinary announcement shows (``key_id[4:12]``)."""
    if not key_id.startswith("bp1_") or len(key_id) < 12:
        raise ValueError(f"not a Provara key id: {key_id!r}")
    return key_id[4:12]


def clean_text(value: str, limit: int = MAX_NAME) -> str:
    """A stranger's text made safe to show: no control or format characters, bounded."""
    out = "".join("?" if unicodedata.category(c).startswith("C") else c for c in value)
    return out[:limit]


def txt_record(ann: Announcement, *, instance: str, secrets: Mapping[str, bytes],
               now: float) -> dict[str, str]:
    """The TXT properties of an announcement (only :data:`ALLOWED_TXT_KEYS`)."""
    props = {"v": ",".join(str(v) for v in VERSIONS)}
    if ann.discreet:
        props["d"] = "1"
        tokens = discreet.announce_tokens(secrets, discreet.window_of(now), instance)
        for i, key in enumerate(TOKEN_KEYS):
            chunk = tokens[i * _TOKENS_PER_KEY:(i + 1) * _TOKENS_PER_KEY]
            if chunk:
                props[key] = "".join(chunk)
        return props
    if ann.name:
        props["n"] = clean_text(ann.name)
    if ann.show_fingerprint:
        props["fp"] = ann.fingerprint
    return props


def instance_label(ann: Announcement) -> str:
    """The instance name of an ordinary announcement: the display name and fingerprint when
    shown (two "Alice" stay apart), else a random label."""
    if ann.discreet:
        return discreet.random_instance()
    base = clean_text(ann.name or "", 40).replace(".", " ").strip()
    fp = f"[{ann.fingerprint}]" if ann.show_fingerprint else ""
    label = " ".join(p for p in (base or ("provara" if fp else ""), fp) if p)
    return label or discreet.random_instance()


def _text(raw: Any) -> str | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_announcement(instance: str, props: Mapping[bytes, bytes | None],
                       addresses: Sequence[str], port: int | None,
                       secrets: Mapping[str, bytes], now: float) -> PeerInView | None:
    """A stranger's announcement, checked field by field (hostile input: a malformed field
    is dropped, not trusted). None when it is not a usable Provara announcement."""
    if port is None or not 0 < port < 65536:
        return None
    fields = {k.decode("ascii", "replace"): _text(v) for k, v in props.items()
              if isinstance(k, bytes)}
    versions = tuple(int(v) for v in (fields.get("v") or "").split(",")
                     if v.isdigit() and len(v) < 6)
    is_discreet = fields.get("d") == "1"
    name = fp = key_id = None
    if is_discreet:
        tokens = [t[i:i + 16] for key in TOKEN_KEYS if (t := fields.get(key))
                  and _TOKENS_RE.match(t) for i in range(0, len(t), 16)]
        key_id = discreet.match_tokens(secrets, tokens, instance, now)
    else:
        raw_name = fields.get("n")
        name = clean_text(raw_name) if raw_name else None
        raw_fp = fields.get("fp")
        fp = raw_fp if raw_fp and _FP_RE.match(raw_fp) else None
    return PeerInView(instance=clean_text(instance, 80), source=MDNS,
                      addresses=tuple(addresses), port=port, name=name, fingerprint=fp,
                      key_id=key_id, discreet=is_discreet, versions=versions)


class _AnswerCounter(RecordUpdateListener):
    """Counts every mDNS response that reaches zeroconf's cache: proof that multicast answers
    arrive (our own announcement's echo included, counted apart)."""

    def __init__(self, owner: MdnsDiscovery) -> None:
        super().__init__()
        self._owner = owner

    def async_update_records(self, zc: Any, now: float, records: list[Any]) -> None:
        self._owner._on_answer([r.new.name for r in records])

    def async_update_records_complete(self) -> None:
        return None


def _local_address_problem(address: str) -> str | None:
    """Why ``address`` cannot be used, found without sending anything: binding a UDP socket
    to it succeeds only for an address of this machine."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if ip.version == 6 and ip.is_link_local:
        return None  # needs its scope; zeroconf resolves it from the interface list
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((str(ip), 0))
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            return f"{address} is not an address of this machine"
        return f"{address}: cannot bind ({exc.strerror})"
    return None


def _default_route_problem() -> str | None:
    """With the system's interface choice zeroconf sends through the routing table: without a
    route to 224.0.0.251 nothing goes out. A UDP connect() looks the route up and sends
    nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("224.0.0.251", 5353))
        except OSError as exc:
            return (f"no multicast route ({exc.strerror}): no default route and no "
                    "224.0.0.0/4 route; pass --interface with this machine's address")
    return None


def machine_addresses(ip_version: str) -> list[str]:
    """This machine's non-loopback addresses (for the A/AAAA records in default mode)."""
    import ifaddr

    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and ip_version in ("v4", "all"):
                if not ipaddress.ip_address(ip.ip).is_loopback:
                    out.append(ip.ip)
            elif isinstance(ip.ip, tuple) and ip_version in ("v6", "all"):
                addr = ipaddress.ip_address(ip.ip[0])
                if not addr.is_loopback and not addr.is_link_local:
                    out.append(str(addr))
    return out


def ip_version_for(interfaces: Sequence[str] | None, ip_version: str | None) -> str:
    if ip_version is not None:
        if ip_version not in _IP_VERSIONS:
            raise ValueError(f"ip_version must be one of {', '.join(_IP_VERSIONS)}")
        return ip_version
    if not interfaces:
        return "v4"
    kinds = {":" in a for a in interfaces}
    return "all" if len(kinds) == 2 else ("v6" if True in kinds else "v4")


class MdnsDiscovery:
    """Announces (optionally) and browses ``_provara._tcp`` on the chosen interfaces.

    Use inside a running event loop: ``await start()``, then read ``model.peers()`` and
    ``diagnostics``; ``await stop()`` sends goodbyes and closes the sockets (bounded).
    """

    def __init__(self, model: PeersInView, *, interfaces: Sequence[str] | None = None,
                 ip_version: str | None = None, secrets: Mapping[str, bytes] | None = None,
                 announcement: Announcement | None = None, browse: bool = True,
                 diagnostics: Diagnostics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.model = model
        self.interfaces = list(interfaces) if interfaces is not None else None
        self.ip_version = ip_version_for(self.interfaces, ip_version)
        self.secrets = dict(secrets or {})
        self.announcement = announcement
        self.browse = browse
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        self._clock = clock
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._counter: _AnswerCounter | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._announcer: asyncio.Task[None] | None = None
        self._registered: Any = None  # the ServiceInfo currently announced
        self._own_names: set[str] = set()  # every instance and host name we announced
        self._announced = asyncio.Event()
        self._addresses: list[str] = []

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> bool:
        """Open the sockets, start browsing and announcing. False when mDNS could not start
        at all (the reason is in ``diagnostics.errors``)."""
        d = self.diagnostics
        d.ip_version = self.ip_version
        d.mode = "default" if self.interfaces is None else "explicit"
        choice: Any
        if self.interfaces is None:
            choice = InterfaceChoice.Default
            self._addresses = machine_addresses(self.ip_version)
            d.interfaces = [InterfaceUse(a, True) for a in self._addresses]
            if self.ip_version != "v6" and (problem := _default_route_problem()):
                d.error(problem)
        else:
            usable = []
            for address in self.interfaces:
                problem = _local_address_problem(address)
                if problem:
                    d.error(problem)
                    d.interfaces.append(InterfaceUse(address, False, problem))
                else:
                    usable.append(address)
            if not usable:
                d.error("none of the given interfaces can be used")
                return False
            choice = usable
        try:
            self._aiozc = AsyncZeroconf(interfaces=choice,
                                        ip_version=_IP_VERSIONS[self.ip_version])
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return self._failed("UDP port 5353 (mDNS) is in use by a program that does "
                                    "not share it (another mDNS responder?); discovery "
                                    "cannot listen")
            return self._failed(f"cannot open the mDNS sockets: {exc.strerror or exc}")
        except (RuntimeError, ValueError) as exc:  # zeroconf: no adapter for an address
            return self._failed(f"cannot open the mDNS sockets: {exc}")
        if self.interfaces is not None:
            self._record_joined(choice)
        zc = self._aiozc.zeroconf
        self._counter = _AnswerCounter(self)
        zc.async_add_listener(self._counter, None)
        if self.browse:
            self._browser = AsyncServiceBrowser(zc, [SERVICE_TYPE],
                                                handlers=[self._on_state_change])
            d.browsing = True
        if self.announcement is not None:
            self._announcer = asyncio.get_running_loop().create_task(self._announce_loop())
        return True

    def _failed(self, problem: str) -> bool:
        d = self.diagnostics
        d.error(problem)
        d.interfaces = [i if not i.joined else InterfaceUse(i.address, False, problem)
                        for i in d.interfaces]
        if self.interfaces is not None:  # explicit: the usable ones were not listed yet
            listed = {i.address for i in d.interfaces}
            d.interfaces += [InterfaceUse(a, False, problem) for a in self.interfaces
                             if a not in listed]
        return False

    def set_secrets(self, secrets: Mapping[str, bytes]) -> None:
        """New pairing secrets (a peer paired or was removed): browsing matches with them
        from now on; a discreet announcement carries their tokens from its next window."""
        self.secrets = dict(secrets)

    async def wait_announced(self, timeout: float = 10.0) -> bool:
        """True once the first announcement went out (after zeroconf's ~1.7 s probing)."""
        try:
            await asyncio.wait_for(self._announced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._announcer
        for task in list(self._tasks):
            task.cancel()
        aiozc, self._aiozc = self._aiozc, None
        if aiozc is None:
            return
        try:
            async with asyncio.timeout(timeout):
                if self._registered is not None:
                    await self._unregister()
                if self._browser is not None:
                    await self._browser.async_cancel()
                if self._counter is not None:
                    aiozc.zeroconf.async_remove_listener(self._counter)
                await aiozc.async_close()
        except TimeoutError:
            log.warning("zeroconf did not close within %.0f s", timeout)

    # -- announcing -------------------------------------------------------------------------

    def _record_joined(self, usable: Sequence[str]) -> None:
        d = self.diagnostics
        # Which addresses got a responder socket: zeroconf drops an interface it cannot join
        # (logging at INFO); its engine's socket list is the only place that says which.
        assert self._aiozc is not None
        sockets = getattr(self._aiozc.zeroconf.engine, "_respond_sockets", None)
        bound: set[str] | None = None
        if isinstance(sockets, list):
            bound = set()
            for s in sockets:
                with contextlib.suppress(OSError):
                    bound.add(str(s.getsockname()[0]).split("%", 1)[0])
        for address in usable:
            plain = address.split("%", 1)[0]
            joined = bound is None or plain in bound
            problem = None if joined else (f"{address}: could not join the mDNS multicast "
                                           "group (the interface has no multicast?)")
            if problem:
                d.error(problem)
            d.interfaces.append(InterfaceUse(address, joined, problem))
            if joined:
                self._addresses.append(plain)

    def _service_info(self, instance: str, now: float) -> Any:
        assert self.announcement is not None
        ann = self.announcement
        server = f"pv-{_random.token_hex(6)}.local."
        self._own_names.update({f"{instance}.{SERVICE_TYPE}".lower(), server.lower()})
        props = txt_record(ann, instance=instance, secrets=self.secrets, now=now)
        return AsyncServiceInfo(SERVICE_TYPE, f"{instance}.{SERVICE_TYPE}", port=ann.port,
                                properties=props, server=server,
                                parsed_addresses=self._addresses)

    async def _register(self, info: Any, *, allow_name_change: bool) -> None:
        assert self._aiozc is not None
        try:
            await (await self._aiozc.async_register_service(
                info, allow_name_change=allow_name_change))
        except Exception as exc:  # noqa: BLE001 - any failure is a diagnostic, not a crash
            self.diagnostics.error(f"announcing failed: {type(exc).__name__}: {exc}")
            log.warning("announcing %s failed: %s", info.name, exc)
            return
        self._own_names.add(info.name.lower())  # a name zeroconf changed after a conflict
        self._registered = info
        self.diagnostics.announcing = True
        self._announced.set()

    async def _unregister(self) -> None:
        info, self._registered = self._registered, None
        if info is not None and self._aiozc is not None:
            with contextlib.suppress(Exception):
                await (await self._aiozc.async_unregister_service(info))

    async def _announce_loop(self) -> None:
        assert self.announcement is not None
        ann = self.announcement
        if not self._addresses:
            self.diagnostics.error("nothing announced: no usable address")
            return
        if not ann.discreet:
            await self._register(self._service_info(instance_label(ann), self._clock()),
                                 allow_name_change=True)
            return
        # Discreet: a new random name and new tokens every window. The new announcement goes
        # out before the old one says goodbye, so a paired peer never loses sight of us.
        while True:
            now = self._clock()
            old = self._registered
            self._registered = None
            await self._register(self._service_info(discreet.random_instance(), now),
                                 allow_name_change=False)
            if old is not None and self._aiozc is not None:
                with contextlib.suppress(Exception):
                    await (await self._aiozc.async_unregister_service(old))
            next_window = (discreet.window_of(now) + 1) * discreet.WINDOW_SECONDS
            await asyncio.sleep(max(1.0, next_window - self._clock()))

    # -- browsing ---------------------------------------------------------------------------

    def _on_answer(self, names: Sequence[str]) -> None:
        d = self.diagnostics
        d.multicast_answers += 1
        d.last_answer = self._clock()
        lowered = [n.lower() for n in names]
        if any(n in self._own_names for n in lowered):
            d.own_echoes += 1
        elif any(n.endswith(SERVICE_TYPE) for n in lowered):
            d.provara_answers += 1
        for n in names:
            if n.lower().endswith("." + SERVICE_TYPE):
                self.model.seen(MDNS, clean_text(n[: -len(SERVICE_TYPE) - 1], 80))

    def _on_state_change(self, *, zeroconf: Any, service_type: str, name: str,
                         state_change: ServiceStateChange) -> None:
        if name.lower() in self._own_names:
            return
        instance = name[: -len(service_type) - 1] if name.endswith(service_type) else name
        if state_change is ServiceStateChange.Removed:
            self.model.remove(MDNS, clean_text(instance, 80))
            return
        known = self.model.get(MDNS, clean_text(instance, 80)) is not None
        if not known and (len(self._tasks) >= MAX_RESOLVING
                          or self._mdns_count() >= MAX_PEERS):
            self.diagnostics.error(f"more than {MAX_PEERS} announcements (or "
                                   f"{MAX_RESOLVING} unanswered ones): ignoring new ones")
            return
        task = asyncio.get_running_loop().create_task(self._resolve(zeroconf, name,
                                                                    instance))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mdns_count(self) -> int:
        return self.model.count(MDNS)

    async def _resolve(self, zc: Any, name: str, instance: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        try:
            found = await info.async_request(zc, RESOLVE_TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - a stranger's bad records are not our crash
            log.info("resolving %r failed: %s", name, exc)
            return
        if not found:
            log.info("no answer resolving %r within %d ms", name, RESOLVE_TIMEOUT_MS)
            return
        addresses = info.parsed_scoped_addresses(_IP_VERSIONS[self.ip_version])
        peer = parse_announcement(instance, info.properties or {}, addresses, info.port,
                                  self.secrets, self._clock())
        if peer is not None:
            self.model.upsert(peer)

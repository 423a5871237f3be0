"""Pairing two people over the LAN: a short one-time code, bound by SPAKE2, then the two
identity keys exchanged under the agreed key and confirmed by both sides.

Nobody is synced with until both people accepted each other; this is how they do. One side
*offers* (``pair offer``: a code such as ``4821-0937``, 8 random digits, log2(10^8) = 26.6
bits), the other *joins* (``pair join HOST:PORT --code 4821-0937``). The channel is a plain
TCP connection carrying only frames of net/framing.py (small limits, a deadline on every
read): no TLS, because the PAKE is what authenticates it.

Why one guess per attempt: SPAKE2 (the ``spake2`` package, as Magic Wormhole uses, in its
A/B roles: A offers, B joins) turns the code into a key agreement whose messages reveal
nothing about the code; a party that does not know it can test exactly one guess (the one
it used in its own message) per run, and an offer serves exactly one run (:class:`Offer`):
after any attempt, right or wrong, the code is dead. With the default code an attacker's
chance is 10^-8 (below the issue's 2^-20).

The exchange, both sides sending each step before reading the other's::

    pake      {protocol, versions, role, message: SPAKE2 message}
    confirm   {mac: HMAC-SHA256(confirm key of my role, transcript)}  key confirmation
    identity  {box: SecretBox(my direction's key, {name, key_id, public_key_b64, signature})}
    accept    {box: SecretBox(my direction's key, "accept" + both key ids)}
    recorded  {}  after this side recorded the pairing (only when the caller records then)

Keys come from the SPAKE2 output through HKDF-SHA256 with one ``info`` label per use
(confirm A, confirm B, box A->B, box B->A, discovery secret). The identity carries an
Ed25519 signature of the transcript by that identity: the peer proves it holds the key it
asks to be trusted for. A wrong code fails at ``confirm`` on both sides (each checks the
other's MAC), before any identity moves. Only after both ``accept`` messages does either
side pin anything (store.trust: source "paired"; and a per-pair secret for discreet
discovery, net/pairing_secrets.py): a side that refused, or a connection cut before the end,
leaves nothing trusted.

:func:`pair` itself writes nothing; :func:`record` does, after it returned.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import nacl.exceptions
import nacl.secret
import spake2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from provara_desktop.core.canonical import canonical_bytes, strict_loads
from provara_desktop.core.errors import InputError, PeerRejected, UsageError
from provara_desktop.core.keys import PUBLIC_KEY_BYTES, PublicKey, b64decode_strict
from provara_desktop.net.framing import DATA, FrameStream, Limits

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.trust import TrustedKey

PROTOCOL = "provara-pair"
VERSIONS = (1,)
OFFER, JOIN = "offer", "join"
CODE_DIGITS = 8
CODE_BITS = 26.6  # log2(10 ** CODE_DIGITS): the chance of one guess is 10^-8
METHOD = "spake2"
# Small frames (the largest message is an identity box of a few hundred bytes) and a short
# deadline per read: a stalled or hostile peer ends the attempt quickly.
LIMITS = Limits(max_frame=64 << 10, read_timeout=20.0, write_timeout=20.0)
RECORDED_WAIT = 10.0  # seconds for the peer's "recorded", once this side recorded
_MAX_NAME = 200
_LABEL = b"provara-pair v1"


class PairingFailed(PeerRejected):
    """Pairing did not complete; nothing was trusted. ``code`` says why (WRONG_CODE,
    TIMEOUT, CLOSED, GARBAGE, BAD_MESSAGE, VERSION, REFUSED, USED)."""


def new_code() -> str:
    """A fresh one-time code: 8 random digits, shown as two groups of four."""
    n = secrets.randbelow(10 ** CODE_DIGITS)
    text = f"{n:0{CODE_DIGITS}d}"
    return f"{text[:4]}-{text[4:]}"


def normalize_code(code: str) -> str:
    """The digits of a typed code (spaces and dashes ignored); a usage error (exit 2, the
    offer is not spent) when it is not 8 digits."""
    digits = "".join(ch for ch in code if ch not in " -\t")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise UsageError(f"--code: a pairing code is {CODE_DIGITS} digits (e.g. 4821-0937), "
                         f"got {code!r}")
    return digits


@dataclass(frozen=True)
class Me:
    """What this side tells its peer: a name and the identity key (which signs the run)."""

    name: str
    key: SigningKey

    @property
    def key_id(self) -> str:
        return self.key.key_id


@dataclass(frozen=True)
class Peer:
    name: str
    public_key_b64: str
    key_id: str
    fingerprint: str


@dataclass(frozen=True)
class Paired:
    """A completed pairing (nothing written yet: see :func:`record`)."""

    role: str
    own_key_id: str
    own_fingerprint: str
    peer: Peer
    address: str  # the peer as this side saw it (host:port)
    discovery_secret: bytes  # the same 32 bytes on both sides, for discreet discovery
    # Whether the peer said it recorded the pairing too (the "recorded" step), None when
    # this side recorded nothing during the run (see :func:`pair`).
    peer_recorded: bool | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {"paired": True, "key_id": self.peer.key_id,
               "fingerprint": self.peer.fingerprint, "name": self.peer.name,
               "own_key_id": self.own_key_id, "own_fingerprint": self.own_fingerprint,
               "peer_address": self.address, "method": METHOD}
        if self.peer_recorded is not None:
            doc["peer_recorded"] = self.peer_recorded
        return doc

    @property
    def one_sided_warning(self) -> str | None:
        """What to tell the user when the other side may not have recorded the pairing."""
        if self.peer_recorded is not False:
            return None
        return (f"the other side did not confirm that it recorded the pairing (the "
                f"connection ended first): check that it lists you as paired (`trust list` "
                f"there); if it does not, `trust remove {self.peer.key_id}` here and pair "
                "again")


def _kdf(key: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_LABEL + b" " + label.encode()).derive(key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(doc: dict[str, Any], name: str, what: str, *, max_len: int = 4096) -> bytes:
    v = doc.get(name)
    if not isinstance(v, str) or len(v) > max_len:
        raise PairingFailed(f"the peer's {what} message has no valid {name}",
                            code="BAD_MESSAGE")
    try:
        return b64decode_strict(v)
    except ValueError:
        raise PairingFailed(f"the peer's {what} message: {name} is not base64",
                            code="BAD_MESSAGE") from None


class _Run:
    """One pairing run over one FrameStream."""

    def __init__(self, stream: FrameStream, role: str, code: str, me: Me,
                 on_accepted: Callable[[Paired], Awaitable[None]] | None = None) -> None:
        self.s = stream
        self.on_accepted = on_accepted
        self.role = role
        self.other = JOIN if role == OFFER else OFFER
        password = _LABEL + b" code " + normalize_code(code).encode()
        ids = {"idA": b"provara-pair offer", "idB": b"provara-pair join"}
        self.pake = (spake2.SPAKE2_A(password, **ids) if role == OFFER
                     else spake2.SPAKE2_B(password, **ids))
        self.me = me

    async def _expect(self, kind: str) -> dict[str, Any]:
        frame = await self.s.read_frame()
        if frame.kind == DATA or frame.message is None:
            raise PairingFailed(f"the peer sent data where {kind} was due", code="GARBAGE")
        msg = frame.message
        if msg.get("type") == "error":
            code = msg.get("code")
            code = code if code in ("WRONG_CODE", "REFUSED", "VERSION") else "REFUSED"
            reason = str(msg.get("reason", ""))[:300]
            raise PairingFailed(f"the peer ended the pairing: {reason}", code=code)
        if msg.get("type") != kind:
            raise PairingFailed(f"the peer sent {str(msg.get('type'))[:40]!r} where {kind} "
                                "was due (not a Provara pairing?)", code="BAD_MESSAGE")
        return msg

    async def _fail(self, code: str, reason: str) -> PairingFailed:
        """Tell the peer (best effort, a second at most) and make the error to raise."""
        try:
            await asyncio.wait_for(self.s.send_message(
                {"type": "error", "code": code, "reason": reason}), 1.0)
        except (PeerRejected, TimeoutError):
            pass
        return PairingFailed(reason, code=code)

    async def run(self) -> Paired:
        s = self.s
        mine = self.pake.start()
        await s.send_message({"type": "pake", "protocol": PROTOCOL, "versions": list(VERSIONS),
                              "role": self.role, "message": _b64(mine)})
        hello = await self._expect("pake")
        versions = hello.get("versions")
        if hello.get("protocol") != PROTOCOL or not isinstance(versions, list) or not (
                set(VERSIONS) & {v for v in versions if isinstance(v, int)}):
            raise await self._fail("VERSION", "not a Provara pairing of a version we speak")
        if hello.get("role") != self.other:
            raise await self._fail("REFUSED", f"both sides are '{self.role}': one side "
                                   "offers, the other joins")
        theirs = _unb64(hello, "message", "pake", max_len=200)
        try:
            key = self.pake.finish(theirs)
        except (spake2.SPAKEError, ValueError, TypeError):
            raise await self._fail("BAD_MESSAGE", "the peer's SPAKE2 message is not valid "
                                   "(not a group element)") from None
        first, second = (mine, theirs) if self.role == OFFER else (theirs, mine)
        transcript = hashlib.sha256(_LABEL + len(first).to_bytes(2, "big") + first
                                    + second).digest()
        # Key confirmation: each proves it derived the same key. A wrong code fails here,
        # on both sides, before any identity moved.
        await s.send_message({"type": "confirm", "mac": _b64(hmac.new(
            _kdf(key, f"confirm {self.role}"), transcript, "sha256").digest())})
        confirm = await self._expect("confirm")
        want = hmac.new(_kdf(key, f"confirm {self.other}"), transcript, "sha256").digest()
        if not hmac.compare_digest(_unb64(confirm, "mac", "confirm", max_len=100), want):
            raise await self._fail("WRONG_CODE", "the pairing code did not match (a typing "
                                   "mistake, or someone else tried a code); nothing was "
                                   "trusted, and this offer is used up: start a new one")
        send_box = nacl.secret.SecretBox(_kdf(key, f"box {self.role}"))
        recv_box = nacl.secret.SecretBox(_kdf(key, f"box {self.other}"))
        signed = _LABEL + b" identity " + self.role.encode() + b" " + transcript
        ident = {"name": self.me.name[:_MAX_NAME], "key_id": self.me.key_id,
                 "public_key_b64": self.me.key.public.b64,
                 "signature": _b64(self.me.key.sign(signed))}
        await s.send_message({"type": "identity",
                              "box": _b64(send_box.encrypt(canonical_bytes(ident)))})
        peer = self._open_identity(recv_box, await self._expect("identity"), transcript)
        if peer.key_id == self.me.key_id:
            raise await self._fail("REFUSED", "both sides hold the same identity; pairing "
                                   "is between two people")
        pair_ids = "\n".join(sorted((peer.key_id, self.me.key_id))).encode()
        await s.send_message({"type": "accept", "box": _b64(send_box.encrypt(
            b"accept " + self.role.encode() + b"\n" + pair_ids))})
        accept = await self._expect("accept")
        try:
            text = recv_box.decrypt(_unb64(accept, "box", "accept"))
        except nacl.exceptions.CryptoError:
            raise await self._fail("BAD_MESSAGE", "the peer's accept does not decrypt "
                                   "under the agreed key") from None
        if text != b"accept " + self.other.encode() + b"\n" + pair_ids:
            raise await self._fail("BAD_MESSAGE", "the peer's accept names other keys")
        paired = Paired(self.role, self.me.key_id, self.me.key.public.fingerprint, peer,
                        self.s.peer, _kdf(key, "discovery secret"))
        if self.on_accepted is None:
            return paired
        # Both accepted: each side records, then says so. A cut between the two accepts
        # leaves one side that got the other's accept and one that did not (no last
        # message can be known to arrive); this step makes that visible on the side that
        # recorded, instead of a pairing that silently holds on one side only.
        await self.on_accepted(paired)
        try:
            await s.send_message({"type": "recorded"})
            await asyncio.wait_for(self._expect("recorded"), RECORDED_WAIT)
        except (PeerRejected, TimeoutError):
            return replace(paired, peer_recorded=False)
        return replace(paired, peer_recorded=True)

    def _open_identity(self, box: nacl.secret.SecretBox, msg: dict[str, Any],
                       transcript: bytes) -> Peer:
        try:
            plain = box.decrypt(_unb64(msg, "box", "identity"))
        except nacl.exceptions.CryptoError:
            raise PairingFailed("the peer's identity does not decrypt under the agreed key",
                                code="BAD_MESSAGE") from None
        try:
            doc = strict_loads(plain, where="the peer's identity", max_bytes=8192)
        except InputError as exc:
            raise PairingFailed(str(exc), code="BAD_MESSAGE") from None
        if not isinstance(doc, dict):
            raise PairingFailed("the peer's identity is not an object", code="BAD_MESSAGE")
        name, b64, kid = doc.get("name"), doc.get("public_key_b64"), doc.get("key_id")
        if not isinstance(name, str) or not isinstance(b64, str) or not isinstance(kid, str):
            raise PairingFailed("the peer's identity lacks name, key_id or public_key_b64",
                                code="BAD_MESSAGE")
        try:
            public = PublicKey(b64decode_strict(b64, expected_len=PUBLIC_KEY_BYTES))
        except ValueError:
            raise PairingFailed("the peer's public key is not an Ed25519 key in base64",
                                code="BAD_MESSAGE") from None
        if public.key_id != kid:
            raise PairingFailed(f"the peer's key id {kid[:40]} is not its key's",
                                code="BAD_MESSAGE")
        signed = _LABEL + b" identity " + self.other.encode() + b" " + transcript
        if not public.verify(signed, _unb64(doc, "signature", "identity", max_len=200)):
            raise PairingFailed("the peer did not prove it holds the key it sent (its "
                                "signature of this pairing does not verify)",
                                code="BAD_MESSAGE")
        return Peer(name[:_MAX_NAME], public.b64, kid, public.fingerprint)


async def pair(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, role: str,
               code: str, me: Me, peer: str = "peer", limits: Limits = LIMITS,
               on_accepted: Callable[[Paired], Awaitable[None]] | None = None) -> Paired:
    """Run one pairing over a connected stream pair; raises :class:`PairingFailed` (nothing
    was trusted) and always closes the writer. Writes nothing itself (see :func:`record`);
    ``on_accepted``, called once both sides accepted, is where the caller records it, and
    then the two sides tell each other they did (``Paired.peer_recorded``)."""
    if role not in (OFFER, JOIN):
        raise ValueError(f"role must be {OFFER!r} or {JOIN!r}")
    stream = FrameStream(reader, writer, limits=limits, peer=peer)
    try:
        return await _Run(stream, role, code, me, on_accepted).run()
    except PairingFailed:
        raise
    except PeerRejected as exc:  # framing: TIMEOUT, CLOSED, TRUNCATED, GARBAGE, ...
        raise PairingFailed(f"pairing with {peer} failed: {exc}", code=exc.code) from None
    finally:
        await stream.close()


class Offer:
    """A single-use offer: the first connection gets the one attempt; any later one is
    refused (``USED``) without a byte of pairing."""

    def __init__(self, code: str, me: Me, *, limits: Limits = LIMITS) -> None:
        self.code = code
        self.me = me
        self.limits = limits
        self.used = False

    async def attempt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                      peer: str = "peer",
                      on_accepted: Callable[[Paired], Awaitable[None]] | None = None
                      ) -> Paired:
        if self.used:
            writer.close()
            raise PairingFailed("this pairing offer was used already (one attempt per "
                                "code)", code="USED")
        self.used = True
        return await pair(reader, writer, role=OFFER, code=self.code, me=self.me, peer=peer,
                          limits=self.limits, on_accepted=on_accepted)


def record(home: Path, paired: Paired) -> TrustedKey:
    """Pin the peer: a trust-store entry of source "paired" (method, both fingerprints, the
    peer's address), the per-pair discovery secret (0600), and the peer's address for
    ``sync --all``."""
    from provara_desktop.net import pairing_secrets, peer_addresses
    from provara_desktop.store.trust import TrustSource, TrustStore

    source = TrustSource.paired(method=METHOD, fingerprints={
        "own": paired.own_fingerprint, "peer": paired.peer.fingerprint}, peer=paired.address)
    entry = TrustStore(home).add(paired.peer.key_id, paired.peer.public_key_b64,
                                 paired.peer.name, source, where="pairing")
    pairing_secrets.save_pairing_secret(home, paired.peer.key_id, paired.discovery_secret)
    try:
        host, _ = peer_addresses.parse_address(paired.address, where="pairing")
    except UsageError:
        return entry  # a peer seen at no usable address (an in-memory test stream)
    peer_addresses.remember(home, paired.peer.key_id,
                            peer_addresses.format_address(host, peer_addresses.DEFAULT_PORT),
                            source="pairing", replace=False)
    return entry

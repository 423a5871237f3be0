"""Discreet announcements: a token only already-paired peers recognise.

In discreet mode an announcement carries no display name and no fingerprint. Its instance
name is random and changes every announcement period (one token window), and it carries one
token per paired peer:

    token = HMAC-SHA256(secret, DOMAIN || window (u64 BE) || instance label (UTF-8))[:8]

``secret`` is the per-pair secret agreed at pairing (the caller passes them as a
``Mapping[key_id, bytes]``; nothing here reads a file). ``window`` is the Unix time divided by
:data:`WINDOW_SECONDS`. A browser accepts the previous, current and next window (clock skew up
to one window either way). Binding the instance label means a token copied into another
announcement (another name) does not match. The token list is padded with random tokens to a
multiple of :data:`TOKEN_PAD`, so a stranger learns neither who the peer is nor exactly how many
peers it is paired with; what they see changes every window.

A token is a hint for the browser, not a proof: whoever holds the secret can make one, and the
TLS handshake (net/tls.py) is what proves the peer's key. Only the stdlib's ``hmac`` and
``secrets`` are used (no home-made cryptography).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

WINDOW_SECONDS = 600
TOKEN_BYTES = 8  # 64 bits: a stranger's random token matches one secret with p = 2^-64
TOKEN_PAD = 8
MAX_TOKENS = 48  # keeps a discreet TXT record near 1 KB, inside one mDNS packet
DOMAIN = b"provara-discovery-token/v1\x00"
SKEW_WINDOWS = (-1, 0, 1)


def window_of(unix_time: float) -> int:
    """The token window a moment falls in."""
    return int(unix_time // WINDOW_SECONDS)


def token(secret: bytes, window: int, instance: str) -> str:
    """The token (hex) a holder of ``secret`` announces under ``instance`` in ``window``."""
    msg = DOMAIN + window.to_bytes(8, "big", signed=True) + instance.encode("utf-8")
    return hmac.new(secret, msg, hashlib.sha256).digest()[:TOKEN_BYTES].hex()


def random_instance() -> str:
    """A fresh instance label: nothing stable, nothing about the user."""
    return "pv-" + _random.token_hex(8)


def announce_tokens(secrets: Mapping[str, bytes], window: int, instance: str) -> list[str]:
    """One token per paired peer (at most :data:`MAX_TOKENS`, the first by key id), padded
    with random ones to a multiple of :data:`TOKEN_PAD`, in random order."""
    real = [token(secrets[k], window, instance) for k in sorted(secrets)[:MAX_TOKENS]]
    padded = -(-max(len(real), 1) // TOKEN_PAD) * TOKEN_PAD
    out = real + [_random.token_hex(TOKEN_BYTES) for _ in range(padded - len(real))]
    # Sorting random-looking hex strings is a shuffle that needs no generator state.
    return sorted(out)


def match_tokens(secrets: Mapping[str, bytes], tokens: Iterable[str], instance: str,
                 now: float) -> str | None:
    """The key id of the paired peer whose token is among ``tokens``, or None.

    Every comparison is constant-time (``hmac.compare_digest``); the cost is
    ``len(secrets) * 3 * len(tokens)`` HMACs at most, small for the bounded token count."""
    seen = [t for t in tokens if len(t) == 2 * TOKEN_BYTES][:MAX_TOKENS + TOKEN_PAD]
    if not seen:
        return None
    base = window_of(now)
    for key_id in sorted(secrets):
        for skew in SKEW_WINDOWS:
            expected = token(secrets[key_id], base + skew, instance)
            if any(hmac.compare_digest(expected, t) for t in seen):
                return key_id
    return None

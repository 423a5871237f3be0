"""Events: building, identity (event_id) and signatures (PROTOCOL.md A §3, A §4, B §3).

An event is a plain dict (exactly what is on disk), so foreign fields survive untouched.
We write event ids by rule A (hash includes actor_key_id) and accept rule B (hash computed
before actor_key_id was added, as ``provara append`` writes) as a legacy form.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.keys import SigningKey, b64encode

if TYPE_CHECKING:
    from collections.abc import Mapping

Event = dict[str, Any]

CORE_TYPES = frozenset(
    {
        "GENESIS",
        "OBSERVATION",
        "ASSERTION",
        "ATTESTATION",
        "RETRACTION",
        "KEY_REVOCATION",
        "KEY_PROMOTION",
        "REDUCER_EPOCH",
    }
)
# Our own extension events, reverse-domain named so the reducer ignores them (A §9).
EXTENSION_PREFIX = "com.provara.desktop."


class IdForm(Enum):
    """How an event's id relates to its content."""

    RULE_A = "A"  # the profile rule; what we write
    LEGACY_B = "B"  # computed without actor_key_id (reference `provara append`)
    MISMATCH = "mismatch"


def utc_now_iso() -> str:
    """Timestamps exactly as the reference writes them (A §8): isoformat with +00:00."""
    return datetime.now(UTC).isoformat()


def _id_from(body: Mapping[str, Any]) -> str:
    return "evt_" + hashlib.sha256(canonical_bytes(body)).hexdigest()[:24]


def event_id_rule_a(event: Mapping[str, Any]) -> str:
    """Rule A: hash of the event without event_id and sig (actor_key_id included)."""
    body = {k: v for k, v in event.items() if k != "event_id" and k != "sig"}
    return _id_from(body)


def event_id_rule_b(event: Mapping[str, Any]) -> str:
    """Legacy rule B: as rule A, but actor_key_id left out too."""
    body = {
        k: v for k, v in event.items() if k != "event_id" and k != "sig" and k != "actor_key_id"
    }
    return _id_from(body)


def classify_event_id(event: Mapping[str, Any]) -> IdForm:
    claimed = event.get("event_id")
    if claimed == event_id_rule_a(event):
        return IdForm.RULE_A
    if "actor_key_id" in event and claimed == event_id_rule_b(event):
        return IdForm.LEGACY_B
    return IdForm.MISMATCH


def signing_bytes(event: Mapping[str, Any]) -> bytes:
    """The signed message: canonical bytes of the event without sig, no prehash."""
    return canonical_bytes({k: v for k, v in event.items() if k != "sig"})


def build_event(
    *,
    event_type: str,
    actor: str,
    payload: Mapping[str, Any],
    prev_event_hash: str | None,
    key: SigningKey,
    timestamp_utc: str | None = None,
    namespace: str | None = None,
    ts_logical: int | None = None,
) -> Event:
    """A complete, signed event: actor_key_id set first, then the rule-A id, then the sig."""
    event: Event = {
        "type": event_type,
        "actor": actor,
        "actor_key_id": key.key_id,
        "payload": dict(payload),
        "prev_event_hash": prev_event_hash,
        "timestamp_utc": timestamp_utc or utc_now_iso(),
    }
    if namespace is not None:
        event["namespace"] = namespace
    if ts_logical is not None:
        event["ts_logical"] = ts_logical
    event["event_id"] = event_id_rule_a(event)
    event["sig"] = b64encode(key.sign(signing_bytes(event)))
    return event


def order_key(event: Mapping[str, Any]) -> tuple[str, str]:
    """(timestamp_utc, event_id) compared as strings: the tie-break of the total order."""
    ts = event.get("timestamp_utc")
    eid = event.get("event_id")
    return (ts if isinstance(ts, str) else "", eid if isinstance(eid, str) else "")

"""What one sync with one peer may do, from the trust store (store/trust.py): the per-peer
``policy`` (direction, scope by actor or namespace, what of its vouching we take) turned into
the session's :class:`SyncPolicy` and :class:`Trust`, and the keys we vouch for to it.

Vouching (docs/SYNC_PROTOCOL.md, "Vouching"): a peer we trust *directly* may relay events by
keys it trusts itself; their events are accepted (they still verify in the intake) and the
key is recorded in our trust store as "vouched for by" that peer, in force only while the
peer stays trusted directly. One hop by default: a key the peer trusts only through someone
else's vouching is not taken unless our policy for the peer says ``chained``. A peer we trust
only through vouching vouches for nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.net.messages import VouchedKey
from provara_desktop.net.sync_session import SyncPolicy
from provara_desktop.store.trust import TrustSource, TrustStore

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from provara_desktop.intake.trust_view import Trust


def for_peer(home: Path, peer_key_id: str, *, log: logging.Logger | None = None
             ) -> tuple[SyncPolicy, Trust]:
    """The policy and the trust view of one session with ``peer_key_id``."""
    store = TrustStore(home)
    keys = store.load()
    in_force = store.trusted()
    trust = trust_for(home)
    me = keys.get(peer_key_id)
    policy = dict(me.policy) if me is not None else {}
    direction = str(policy.get("direction", "both"))
    relayed = str(policy.get("relayed", "accept"))
    peer_direct = me is not None and me.direct
    if relayed == "direct-only":
        # Only keys I trust by a decision of my own: drop the ones in force only because
        # someone vouched for them.
        direct = {k for k, v in in_force.items() if v.direct}
        trust = replace(trust, store={k: v for k, v in trust.store.items() if k in direct})
    vouches = tuple(VouchedKey(k.key_id, k.public_key_b64, k.name, k.direct)
                    for k in sorted(in_force.values(), key=lambda k: k.key_id)
                    if k.key_id != peer_key_id)
    by_name = me.name if me is not None else ""

    def record(found: list[VouchedKey]) -> None:
        for k in found:
            try:
                store.add(k.key_id, k.public_key_b64, k.name or None,
                          TrustSource.vouched(by_key_id=peer_key_id, by_name=by_name))
            except ProvaraDesktopError as exc:  # the events are in; the record is the note
                if log is not None:
                    log.warning("could not record %s as vouched for by %s: %s", k.key_id,
                                peer_key_id, exc)

    return SyncPolicy(
        send=direction in ("both", "send"), receive=direction in ("both", "receive"),
        actors=frozenset(policy.get("actors") or ()),
        namespaces=frozenset(policy.get("namespaces") or ()),
        vouches=vouches if peer_direct else (),
        accept_vouched=peer_direct and relayed != "direct-only",
        chained=relayed == "chained", on_vouched=record), trust

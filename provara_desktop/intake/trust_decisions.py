"""Recording the trust decision an import makes: when the user accepts untrusted keys for an
import (``import --accept-untrusted``, the app's tick; later a peer's relayed events), each
key whose events were written is recorded in the profile's trust store with where the
decision came from (a TrustSource: the bundle, or the peer who vouched), so it is shown by
`trust list` and undone by `trust remove`, never a silent side effect of the import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.store.trust import TrustStore

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.intake.plan import ImportPlan
    from provara_desktop.store.trust import TrustedKey, TrustSource


def record_accepted(home: Path, plan: ImportPlan[Any], source: TrustSource, *,
                    where: str = "keys.json") -> list[TrustedKey]:
    """Record ``source`` for every untrusted key whose events ``plan`` imported, and for the
    batch's untrusted signer when it imported anything. Call after the commit: an import
    that did not happen decided nothing."""
    c = plan.check
    wanted: dict[str, tuple[str, str]] = {}  # key_id -> (public key, name)
    for k in plan.accepted_keys:
        if k.public_key_b64:
            wanted[k.key_id] = (k.public_key_b64, ", ".join(k.actors))
    s = c.batch.signer
    if s is not None and not c.signer_trusted and plan.accept_untrusted and plan.imported:
        wanted.setdefault(s.key_id, (s.public_key_b64, s.actor or ""))
    store = TrustStore(home)
    return [store.add(kid, b64, name or None, source, where=where)
            for kid, (b64, name) in sorted(wanted.items())]

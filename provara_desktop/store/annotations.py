"""Annotations in a vault (`annotate`, `annotations`; core/annotations.py has the rules):
writing one after checking that what it names exists, and reading them all back folded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provara_desktop.core import annotations as core
from provara_desktop.core.actor_labels import predecessors, promoted_successors
from provara_desktop.core.errors import UsageError
from provara_desktop.core.event import utc_now_iso
from provara_desktop.store import vault_keys

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import OpResult, Vault


def belief_exists(vault: Vault, belief: str) -> bool:
    """Whether some event names the belief ``SUBJECT:PREDICATE`` (either may hold colons,
    so every split is tried, each one indexed count)."""
    parts = belief.split(":")
    return any(vault.index.count(subject=":".join(parts[:i]), predicate=":".join(parts[i:]))
               for i in range(1, len(parts)))


def _check_target(vault: Vault, target: dict[str, str]) -> None:
    if "event_id" in target:
        if vault.index.get(target["event_id"]) is None:
            raise UsageError(f"--event {target['event_id']}: no such event in {vault.root}")
    elif not belief_exists(vault, target["belief"]):
        raise UsageError(f"--belief {target['belief']}: no event in {vault.root} names this "
                         "belief (SUBJECT:PREDICATE as the beliefs table shows it)")


def same_person(vault: Vault) -> Callable[[str | None, str | None], bool]:
    """key, key -> whether they are one identity's (rotations both ways)."""
    promoted = vault_keys.key_life(vault).promotions()

    def group(kid: str) -> set[str]:
        return promoted_successors(kid, promoted) | predecessors(kid, promoted)

    def same(a: str | None, b: str | None) -> bool:
        return a is not None and b is not None and (a == b or b in group(a))

    return same


def annotate(vault: Vault, key: SigningKey, actor: str, *, event_id: str | None = None,
             belief: str | None = None, tag: str | None = None, comment: str | None = None,
             mark: str | None = None, withdraw: str | None = None) -> OpResult:
    """Sign and append one annotation; UsageError (nothing written) when it names what
    does not exist, or withdraws what is not one's own."""
    target = core.target_of(event_id, belief)
    body = core.payload(target, tag=tag, comment=comment, mark=mark, withdraw=withdraw,
                        annotated_utc=utc_now_iso())
    _check_target(vault, target)
    if withdraw is not None:
        row = vault.index.get(withdraw)
        old = core.read(vault.read_row(row)) if row is not None else None
        if old is None or old.kind == core.WITHDRAW:
            raise UsageError(f"--withdraw {withdraw}: no annotation with that id in "
                             f"{vault.root}")
        if old.target != target:
            raise UsageError(f"--withdraw {withdraw}: that annotation is on "
                             f"{old.target_text()}, not on the target given")
        if not same_person(vault)(key.key_id, old.signer):
            raise UsageError(f"--withdraw {withdraw}: it was signed by {old.signer}; only "
                             "its author withdraws an annotation (add your own instead)")
        if any(a.withdraws == withdraw and a.ignored is None for a in folded(vault).all):
            raise UsageError(f"--withdraw {withdraw}: already withdrawn")
    event = vault.new_event(key=key, actor=actor, event_type=core.ANNOTATION_EVENT,
                            payload=body, namespace="local")
    return vault.append([event], signer=key)


def folded(vault: Vault) -> core.Folded:
    """Every annotation of the vault, in log order, withdrawals applied."""
    found = [a for row in vault.index.query(type=core.ANNOTATION_EVENT)
             if (a := core.read(vault.read_row(row))) is not None]
    return core.fold(found, same_person(vault))

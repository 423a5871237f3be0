"""The role a user gives a peer in a topology (docs/TOPOLOGIES.md), and what each implies
for sync with it: the direction events go, and a sentence that says why. A role is a
trust-store note the user sets and changes (store/trust.py); it sets the direction of the
per-peer policy, nothing else: a hub's audit, a contract's scope and a roll-up's
attestation are the protocol's, whatever the role says."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    direction: str  # the per-peer policy's: both | send | receive
    meaning: str


ROLES: dict[str, Role] = {r.name: r for r in (
    Role("peer", "both", "a peer on equal footing (mesh): events go both ways"),
    Role("hub", "both", "your hub: you push your chains to it and pull its master log; "
         "every session audits its signed checkpoints"),
    Role("spoke", "both", "a spoke of yours (you are its hub): it pushes its chains to you "
         "and pulls your log"),
    Role("parent", "send", "your parent vault's keeper: your events go up to it, nothing "
         "comes down from it"),
    Role("child", "receive", "a child vault's keeper: its events come up to you, yours do "
         "not go down to it"),
    Role("member", "both", "a member of your federation: what flows each way is the "
         "contract in force (docs/FEDERATION.md)"),
)}


def role(name: str) -> Role:
    found = ROLES.get(name)
    if found is None:
        raise ValueError(f"no role {name!r}: one of {', '.join(ROLES)}")
    return found

"""The Merkle root of a vault's events as the reference's streaming reducer (reducer_v1,
`provara reduce`) computes it, so a third party holding only the reference can check the
root an attestation names (docs/TOPOLOGIES.md, "Hierarchy").

It is not RFC 9162 (core/tlog.py): leaves are SHA-256 of each event's canonical JSON, in
file order, with no domain separation; complete subtrees are kept like the digits of a
binary counter, and the root folds them from the lowest level up, pairing a lone node with
itself wherever a level is missing below the highest (PROTOCOL.md B §4, "reducer_v1"). The
odd-node rule makes it weaker than RFC 9162 against second preimages, which is why our own
logs (the hub's) use RFC 9162; this one exists to agree with the reference.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


class EventMerkle:
    """The running root: ``add`` each event in file order, then ``root()``."""

    def __init__(self) -> None:
        self._levels: dict[int, bytes] = {}  # level -> the one complete subtree there
        self.count = 0

    def add_bytes(self, leaf: bytes) -> None:
        node, level = hashlib.sha256(leaf).digest(), 0
        # Carry like binary addition: two subtrees of one level make one of the next.
        while (left := self._levels.pop(level, None)) is not None:
            node = hashlib.sha256(left + node).digest()
            level += 1
        self._levels[level] = node
        self.count += 1

    def add(self, event: Mapping[str, Any]) -> None:
        self.add_bytes(canonical_bytes(event))

    def root(self) -> str:
        if not self._levels:
            return EMPTY_ROOT
        top = max(self._levels)
        carry: bytes | None = None
        for level in range(top + 1):
            node = self._levels.get(level)
            if node is not None:
                if carry is not None:
                    carry = hashlib.sha256(node + carry).digest()
                elif level < top:
                    carry = hashlib.sha256(node + node).digest()
                else:
                    return node.hex()
            elif carry is not None and level < top:
                carry = hashlib.sha256(carry + carry).digest()
        assert carry is not None  # the top level always holds a node
        return carry.hex()


def events_merkle_root(events: Iterable[Mapping[str, Any]]) -> str:
    tree = EventMerkle()
    for ev in events:
        tree.add(ev)
    return tree.root()

"""The Merkle tree of a transparency log, as RFC 6962 section 2.1 defines it (RFC 9162 section
2.1 is the same tree): its root, inclusion and consistency proofs, their checks, and a frontier
that keeps a growing tree's root in O(log n) memory.

    leaf hash   SHA-256(0x00 || leaf bytes)
    node hash   SHA-256(0x01 || left || right)
    root        of n > 1 leaves: node hash of the first k leaves' root and the rest's, where k
                is the largest power of two smaller than n; of no leaves: SHA-256 of nothing

The two prefix bytes keep a leaf from ever passing for an interior node. Signed checkpoints of
this root (core/checkpoint.py) are what a hub hands its spokes and witnesses; a proof is how
they check, without the log itself, that an event is in it or that today's tree extends
yesterday's. Those checks run on what another party sent: they never raise, they say False.
Making a proof is our own log's business, so bad arguments there raise ValueError.

A hub with a million events never needs them all in memory: :class:`TreeFrontier` keeps one
hash per set bit of the size, and every perfect subtree it completes is handed back so the
store can keep them; :func:`range_root_from_nodes` then answers any proof from those.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# The root of the leaves [lo, hi) of the tree: what proofs are made of.
RangeRoot: TypeAlias = Callable[[int, int], bytes]

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# Tree sizes travel as unsigned 64-bit integers (C2SP tlog-tiles, the Go implementations), so
# a bigger size is nonsense from the sender and refused rather than computed with.
MAX_TREE_SIZE = (1 << 64) - 1
# An inclusion proof in a tree of fewer than 2^64 leaves has at most 64 hashes and a
# consistency proof at most 2 * 64; anything longer is refused before any hashing.
MAX_PROOF_HASHES = 128

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


@dataclass(frozen=True, slots=True)
class TreeNode:
    """The root of a perfect subtree: the 2**level leaves starting at index * 2**level."""

    level: int
    index: int
    hash: bytes


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf's bytes."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node from its two children's hashes."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): the size of a tree's left half."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_BYTES


def _is_size(value: object) -> bool:
    # type() rather than isinstance(): True is an int, and not a tree size.
    return type(value) is int and 0 <= value <= MAX_TREE_SIZE


def _is_proof(value: object) -> bool:
    # A list or a tuple only: a str or bytes is a Sequence too, and never a proof.
    return (isinstance(value, (list, tuple)) and len(value) <= MAX_PROOF_HASHES
            and all(_is_hash(h) for h in value))


def _require_hash(value: object, what: str) -> bytes:
    # ValueError for the wrong type too: the caller's fix is the same, a 32-byte hash.
    if not isinstance(value, bytes) or len(value) != HASH_BYTES:
        shown = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ValueError(f"{what} must be {HASH_BYTES} bytes, not {shown}")
    return value


def _require_leaf_hashes(leaf_hashes: Sequence[bytes]) -> None:
    for i, value in enumerate(leaf_hashes):
        _require_hash(value, f"leaf hash {i}")


class TreeFrontier:
    """A growing tree's right edge: the roots of its perfect subtrees, largest first.

    A tree of n leaves splits into one perfect subtree per set bit of n, and its root is
    those few hashes folded from the right; appending a leaf merges the equal-sized ones at
    the end, as adding 1 carries in binary. So memory is O(log n), an append costs O(1)
    amortised and the root O(log n): a batch of b events costs O(b + log n), whatever n.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._nodes: list[bytes] = []

    @classmethod
    def of(cls, leaf_hashes: Iterable[bytes]) -> TreeFrontier:
        frontier = cls()
        frontier.extend(leaf_hashes)
        return frontier

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> list[TreeNode]:
        """Add one leaf hash. Returns every perfect subtree this append completed, the leaf
        itself first and the largest last, for a store that keeps them to answer proofs."""
        _require_hash(leaf_hash, "leaf hash")
        index = self._size
        completed = [TreeNode(0, index, leaf_hash)]
        node, level = leaf_hash, 0
        # Each set low bit of the old size is a perfect subtree of that level waiting for
        # a right sibling of the same size: the carry of a binary increment.
        while (self._size >> level) & 1:
            node = node_hash(self._nodes.pop(), node)
            level += 1
            index >>= 1
            completed.append(TreeNode(level, index, node))
        self._nodes.append(node)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[TreeNode]:
        """Append each leaf hash in order; returns all the perfect subtrees completed."""
        completed: list[TreeNode] = []
        for value in leaf_hashes:
            completed.extend(self.append(value))
        return completed

    def root(self) -> bytes:
        """The root of the tree so far."""
        if not self._nodes:
            return EMPTY_ROOT
        node = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            node = node_hash(left, node)
        return node

    def copy(self) -> TreeFrontier:
        twin = TreeFrontier()
        twin._size = self._size
        twin._nodes = list(self._nodes)
        return twin

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the size and the subtree roots in lowercase hex."""
        return {"size": self._size, "nodes": [h.hex() for h in self._nodes]}

    @classmethod
    def from_dict(cls, data: object) -> TreeFrontier:
        """The inverse of :meth:`to_dict`; ValueError on anything it would not have written."""
        if not isinstance(data, dict) or set(data) != {"size", "nodes"}:
            raise ValueError("a tree frontier is an object with exactly 'size' and 'nodes'")
        size, nodes = data["size"], data["nodes"]
        if not _is_size(size):
            raise ValueError(f"frontier size must be an integer from 0 to {MAX_TREE_SIZE}")
        if not isinstance(nodes, list) or not all(isinstance(h, str) for h in nodes):
            raise ValueError("frontier nodes must be a list of hex strings")
        expected = bin(size).count("1")
        if len(nodes) != expected:
            raise ValueError(f"a tree of {size} leaves has {expected} frontier nodes, "
                             f"not {len(nodes)}")
        frontier = cls()
        for i, text in enumerate(nodes):
            if len(text) != 2 * HASH_BYTES or text != text.lower():
                raise ValueError(f"frontier node {i} is not {2 * HASH_BYTES} lowercase hex digits")
            try:
                frontier._nodes.append(bytes.fromhex(text))
            except ValueError:
                raise ValueError(f"frontier node {i} is not hex") from None
        frontier._size = size
        return frontier

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TreeFrontier):
            return NotImplemented
        return self._size == other._size and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]  # mutable: equal now, maybe not after append

    def __repr__(self) -> str:
        return f"TreeFrontier(size={self._size}, root={self.root().hex()[:16]}...)"


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of the tree with these leaf hashes, in order."""
    _require_leaf_hashes(leaf_hashes)  # first, so an error can say which leaf
    return TreeFrontier.of(leaf_hashes).root()


# -- making proofs -------------------------------------------------------------------------


def range_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """The (level, index) of the perfect subtrees that make up the leaves [lo, hi), largest
    first, for any range a proof asks for (lo a multiple of the first subtree's size)."""
    if type(lo) is not int or type(hi) is not int or not 0 <= lo < hi:
        raise ValueError(f"[{lo!r}, {hi!r}) is not a non-empty range of leaves")
    out: list[tuple[int, int]] = []
    while lo < hi:
        n = hi - lo
        width = n if n & (n - 1) == 0 else split_point(n)
        level = width.bit_length() - 1
        if lo % width:
            raise ValueError(f"leaves [{lo}, {hi}) are not a subtree of any tree")
        out.append((level, lo >> level))
        lo += width
    return out


def range_root_from_nodes(node_at: Callable[[int, int], bytes]) -> RangeRoot:
    """A range reader over stored perfect subtrees: ``node_at(level, index)`` gives the
    :class:`TreeNode` hash of that subtree (what :meth:`TreeFrontier.append` hands back).
    Each range costs at most one lookup per level, so a proof costs O(log² n) lookups."""

    def range_root(lo: int, hi: int) -> bytes:
        hashes = [node_at(level, index) for level, index in range_nodes(lo, hi)]
        node = hashes[-1]
        for left in reversed(hashes[:-1]):
            node = node_hash(left, node)
        return node

    return range_root


def range_root_from_leaves(leaf_at: Callable[[int], bytes]) -> RangeRoot:
    """A range reader that rehashes leaves: ``leaf_at(i)`` is the i-th leaf hash. A proof
    from it costs O(n) hashing; fine for small logs and tests."""

    def range_root(lo: int, hi: int) -> bytes:
        return TreeFrontier.of(leaf_at(i) for i in range(lo, hi)).root()

    return range_root


def inclusion_proof_from(range_root: RangeRoot, index: int, size: int) -> list[bytes]:
    """RFC 9162 section 2.1.3.1's inclusion path of leaf ``index`` in the first ``size``
    leaves, nearest the leaf first, read through ``range_root(lo, hi)``."""
    if not _is_size(size) or size == 0:
        raise ValueError(f"a tree size must be an integer from 1 to {MAX_TREE_SIZE}, not {size!r}")
    if type(index) is not int or not 0 <= index < size:
        raise ValueError(f"leaf index {index!r} is outside a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walking down from the root, each step keeps the half holding the leaf and records the
    # other half's root; the RFC lists them from the leaf up, hence the reverse at the end.
    while hi - lo > 1:
        mid = lo + split_point(hi - lo)
        if index < mid:
            path.append(range_root(mid, hi))
            hi = mid
        else:
            path.append(range_root(lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_proof_from(range_root: RangeRoot, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 section 2.1.4.1's proof that the first ``old_size`` leaves are a prefix of the
    first ``new_size``, read through ``range_root(lo, hi)``. Empty when either tree holds the
    other trivially (old_size 0, or the same size)."""
    if not _is_size(new_size):
        raise ValueError(f"a tree size must be an integer from 0 to {MAX_TREE_SIZE}, "
                         f"not {new_size!r}")
    if type(old_size) is not int or not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size!r} is not between 0 and the new size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    # SUBPROOF(m, D[lo:hi], whole): ``whole`` is true while the old tree's root is itself a
    # node of the new tree, which the verifier already holds and need not be sent.
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            path.append(range_root(lo + k, hi))
            hi = lo + k
        else:
            path.append(range_root(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        path.append(range_root(lo, hi))
    path.reverse()
    return path


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``."""
    _require_leaf_hashes(leaf_hashes)
    return inclusion_proof_from(range_root_from_leaves(leaf_hashes.__getitem__), index,
                                len(leaf_hashes))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree of the first ``old_size`` leaf hashes is a prefix of the tree
    of all of them."""
    _require_leaf_hashes(leaf_hashes)
    return consistency_proof_from(range_root_from_leaves(leaf_hashes.__getitem__), old_size,
                                  len(leaf_hashes))


# -- checking proofs (never raise: the input is someone else's) ------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` shows leaf ``index`` with hash ``leaf_hash`` is in the tree of
    ``size`` leaves whose root is ``root`` (RFC 9162 section 2.1.3.2)."""
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(size) and _is_proof(proof)):
        return False
    if type(index) is not int or not 0 <= index < size:
        return False
    # fn walks the leaf's position up the tree and sn the last leaf's; where they meet is
    # the right edge, whose lone nodes are promoted without a sibling.
    fn, sn = index, size - 1
    node = leaf_hash
    for sibling in proof:
        if sn == 0:
            return False  # the proof is longer than the tree is high
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree of ``old_size`` leaves with root ``old_root`` is a
    prefix of the tree of ``new_size`` leaves with root ``new_root`` (RFC 9162 2.1.4.2)."""
    if not (_is_size(old_size) and _is_size(new_size) and _is_hash(old_root)
            and _is_hash(new_root) and _is_proof(proof)):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one, whose root is fixed: a different "empty" root is
        # a lie about the old tree, and refused.
        return len(proof) == 0 and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # A power-of-two old tree is a node of the new one: the verifier holds it already.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old_node = new_node = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            old_node = node_hash(sibling, old_node)
            new_node = node_hash(sibling, new_node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            new_node = node_hash(new_node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and old_node == old_root and new_node == new_root

"""Merkle proofs (RFC 9162 section 2.1.3 and 2.1.4) computed from a range hasher instead of a
list of leaves: ``subtree(lo, hi)`` gives the hash of leaves ``[lo, hi)``. A log too large to
hold in memory (a hub's million events) keeps its perfect subtrees' hashes on disk and
answers each call in O(log n) lookups; a proof is O(log n) calls. The checks of both
proofs (what a spoke runs on a hub's word) are here too: they never raise, they say no."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962's hash of a leaf: domain-separated from interior nodes by its 0x00 byte."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where RFC 9162 splits a tree."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def inclusion_path(subtree: Callable[[int, int], bytes], index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root, collecting the sibling of each subtree the leaf is in; the
    # proof lists them leaf-side first.
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_path(subtree: Callable[[int, int], bytes], old_size: int,
                     new_size: int) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of the one of
    ``new_size`` (empty when either is 0 or they are equal)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} leaves to {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[bytes] = []
    m, lo, hi, whole = old_size, 0, new_size, True
    # SUBPROOF(m, D[lo:hi], whole), unrolled: each step keeps one side and records the other.
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            out.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            out.append(subtree(lo, lo + k))
            m -= k
            lo = lo + k
            whole = False
    if not whole:
        out.append(subtree(lo, hi))
    out.reverse()
    return out


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]
                        ) -> bytes | None:
    """The root that ``path`` proves leaf hash ``leaf`` at ``index`` under (RFC 9162
    2.1.3.2), or None when the path cannot be one for that place in a tree of ``size``."""
    if not 0 <= index < size or any(len(h) != 32 for h in path):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None  # longer than the tree is deep
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes],
                     root: bytes) -> bool:
    """``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``size`` with
    ``root``; never raises."""
    got = root_from_inclusion(leaf, index, size, path)
    return got is not None and hmac.compare_digest(got, root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """``proof`` shows the tree of ``old_size`` leaves with ``old_root`` is a prefix of the
    one of ``new_size`` with ``new_root`` (RFC 9162 2.1.4.2); never raises."""
    if not 0 <= old_size <= new_size or any(len(h) != 32 for h in proof):
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a perfect old tree is its own first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return (sn == 0 and hmac.compare_digest(fr, old_root)
            and hmac.compare_digest(sr, new_root))

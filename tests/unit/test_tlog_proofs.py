"""Proofs from a range hasher against RFC 9162's recursive definitions written out here
(PATH and SUBPROOF over a list), for every tree size to 70 and every pair of sizes to 40,
and through the verifiers: every true proof verifies, and every tampered one fails."""

from __future__ import annotations

import hashlib

import pytest

from provara_desktop.core.tlog_proofs import (
    consistency_path,
    inclusion_path,
    split_point,
    verify_consistency,
    verify_inclusion,
)


def _leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + f"evt_{i:024x}".encode()).digest()


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = split_point(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [_mth(leaves)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


LEAVES = [_leaf(i) for i in range(70)]


def _hasher(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    return lambda lo, hi: _mth(leaves[lo:hi])


def test_inclusion_paths_match_the_rfc_and_verify() -> None:
    for n in range(1, 71):
        leaves = LEAVES[:n]
        root = _mth(leaves)
        for i in range(n):
            got = inclusion_path(_hasher(leaves), i, n)
            assert got == _path(i, leaves)
            assert verify_inclusion(leaves[i], i, n, got, root)


def test_consistency_paths_match_the_rfc_and_verify() -> None:
    for n in range(1, 41):
        for m in range(1, n + 1):
            got = consistency_path(_hasher(LEAVES[:n]), m, n)
            assert got == ([] if m == n else _subproof(m, LEAVES[:n], True))
            assert verify_consistency(m, n, _mth(LEAVES[:m]), _mth(LEAVES[:n]), got)


def test_a_proof_outside_the_tree_is_refused() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_path(_hasher(LEAVES), 5, 5)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_path(_hasher(LEAVES), 6, 5)


def test_tampered_proofs_roots_and_places_fail() -> None:
    for n in (1, 2, 3, 7, 8, 13, 32, 33):
        leaves = LEAVES[:n]
        root = _mth(leaves)
        for i in range(n):
            path = inclusion_path(_hasher(leaves), i, n)
            assert not verify_inclusion(leaves[i], i, n, path, _leaf(999))  # another root
            assert not verify_inclusion(_leaf(999), i, n, path, root)  # another leaf
            if n > 1:
                assert not verify_inclusion(leaves[i], (i + 1) % n, n, path, root)
                assert not verify_inclusion(leaves[i], i, n, path[:-1], root)
                flipped = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
                assert not verify_inclusion(leaves[i], i, n, flipped, root)
            assert not verify_inclusion(leaves[i], i, n, [*path, root], root)
            assert not verify_inclusion(leaves[i], n, n, path, root)
        for m in range(1, n):
            proof = consistency_path(_hasher(leaves), m, n)
            old = _mth(leaves[:m])
            assert not verify_consistency(m, n, _leaf(999), root, proof)
            assert not verify_consistency(m, n, old, _leaf(999), proof)
            assert not verify_consistency(n, m, root, old, proof)
            if proof:
                assert not verify_consistency(m, n, old, root, proof[:-1])
                assert not verify_consistency(m, n, old, root, [b"x" * 31, *proof[1:]])
    # a log that rewrote its first leaf: the old tree is no prefix of the new
    rewritten = [_leaf(500), *LEAVES[1:20]]
    proof = consistency_path(_hasher(rewritten), 10, 20)
    assert not verify_consistency(10, 20, _mth(LEAVES[:10]), _mth(rewritten), proof)

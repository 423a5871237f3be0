"""The Merkle tree of core/tlog.py against the RFC's own recursive definitions (written out
again here, as literally as possible), against published test vectors, and under tampering:
every proof for every size up to 40 verifies, and no altered one does."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core import tlog
from provara_desktop.core.tlog import (
    EMPTY_ROOT,
    TreeFrontier,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    range_nodes,
    range_root_from_nodes,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX_N = 40
LEAVES = [leaf_hash(b"event %d" % i) for i in range(300)]


# -- the RFC 6962 section 2.1 definitions, recursively, as the reference --------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # d holds leaf hashes already
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# -- hand-checkable roots --------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert TreeFrontier().root() == EMPTY_ROOT


def test_leaf_hash_is_domain_separated() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert leaf_hash(b"") != hashlib.sha256(b"").digest()


def test_one_leaf_root_is_its_hash() -> None:
    assert root([LEAVES[0]]) == LEAVES[0]


def test_two_and_three_leaf_roots_by_hand() -> None:
    a, b, c = (hashlib.sha256(b"\x00" + x).digest() for x in (b"a", b"b", b"c"))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    assert root([a, b]) == ab
    # Three leaves split 2 + 1: the odd leaf is promoted, not paired with itself.
    assert root([a, b, c]) == hashlib.sha256(b"\x01" + ab + c).digest()


# -- published vectors -----------------------------------------------------------------------
# The certificate-transparency reference implementation's Merkle test data (also
# transparency-dev/merkle testonly/constants.go): eight leaves, their roots, and proofs.

CT_LEAVES = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [bytes.fromhex(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
CT_INCLUSION = {  # (index, size): path
    (0, 2): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    (1, 2): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_CONSISTENCY = {  # (old size, new size): proof
    (1, 1): [],
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}
# transparency-dev/merkle compact/range_test.go TestGetRootHashGolden: leaf i's data is the
# two bytes (i & 0xff, i >> 8 & 0xff); the roots, in base64, of trees of these sizes.
GOLDEN_ROOTS = {
    10: "VjWMPSYNtCuCNlF/RLnQy6HcwSk6CIipfxm+hettA+4=",
    15: "j4SulYmocFuxdeyp12xXCIgK6PekBcxzAIj4zbQzNEI=",
    16: "c+4Uc6BCMOZf/v3NZK1kqTUJe+bBoFtOhP+P3SayKRE=",
    100: "dUh9hYH88p0CMoHkdr1wC2szbhcLAXOejWpINIooKUY=",
    255: "SmdsuKUqiod3RX2jyF2M6JnbdE4QuTwwipfAowI4/i0=",
    256: "qFI0t/tZ1MdOYgyPpPzHFiZVw86koScXy9q3FU5casA=",
    1000: "RXrgb8xHd55Y48FbfotJwCbV82Kx22LZfEbmBGAvwlQ=",
    4095: "cWRFdQhPcjn9WyBXE/r1f04ejxIm5lvg40DEpRBVS0w=",
    4096: "6uU/phfHg1n/GksYT6TO9aN8EauMCCJRl3dIK0HDs2M=",
    10000: "VZcav65F9haHVRk3wre2axFoBXRNeUh/1d9d5FQfxIg=",
}


def test_ct_vector_roots() -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES]
    for n, want in enumerate(CT_ROOTS):
        assert root(hashes[:n]) == want, n


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_ct_vector_inclusion(index: int, size: int) -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES[:size]]
    want = [bytes.fromhex(h) for h in CT_INCLUSION[(index, size)]]
    assert inclusion_proof(hashes, index) == want
    assert verify_inclusion(hashes[index], index, size, want, CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new"), sorted(CT_CONSISTENCY))
def test_ct_vector_consistency(old: int, new: int) -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES[:new]]
    want = [bytes.fromhex(h) for h in CT_CONSISTENCY[(old, new)]]
    assert consistency_proof(hashes, old) == want
    assert verify_consistency(old, new, CT_ROOTS[old], CT_ROOTS[new], want)


def test_golden_roots_through_the_frontier() -> None:
    frontier = TreeFrontier()
    for size in sorted(GOLDEN_ROOTS):
        frontier.extend(leaf_hash(bytes([i & 0xFF, (i >> 8) & 0xFF]))
                        for i in range(frontier.size, size))
        assert base64.b64encode(frontier.root()).decode() == GOLDEN_ROOTS[size], size


# -- every proof of every small tree ---------------------------------------------------------


def test_root_matches_the_definition_for_every_size() -> None:
    for n in range(MAX_N + 1):
        assert root(LEAVES[:n]) == ref_mth(LEAVES[:n]), n


def test_every_inclusion_proof_verifies_and_no_tampered_one_does() -> None:
    for size in range(1, MAX_N + 1):
        tree = LEAVES[:size]
        head = ref_mth(tree)
        for index in range(size):
            proof = inclusion_proof(tree, index)
            assert proof == ref_path(index, tree), (index, size)
            leaf = tree[index]
            assert verify_inclusion(leaf, index, size, proof, head)
            for i in range(len(proof)):
                bad = [*proof[:i], flip(proof[i], i % 8), *proof[i + 1:]]
                assert not verify_inclusion(leaf, index, size, bad, head)
            assert not verify_inclusion(flip(leaf), index, size, proof, head)
            assert not verify_inclusion(leaf, index, size, proof, flip(head))
            for other in (index - 1, index + 1, index ^ 2):
                if other != index:
                    assert not verify_inclusion(leaf, other, size, proof, head)
            # A size that changes the tree's height changes the proof's length: refused
            # whatever the root. One that keeps the shape (size + 1, say) computes the same
            # root, so it is refused only because that tree's real root differs, which is
            # why a verifier checks (size, root) as one signed pair.
            for other_size in (size * 2, size // 2):
                assert not verify_inclusion(leaf, index, other_size, proof, head)
            for other_size in (size - 1, size + 1):
                if index < other_size <= len(LEAVES):
                    assert not verify_inclusion(leaf, index, other_size, proof,
                                                ref_mth(LEAVES[:other_size]))
            assert not verify_inclusion(leaf, index, size, [*proof, head], head)
            assert not verify_inclusion(leaf, index, size, [head, *proof], head)
            if proof:
                assert not verify_inclusion(leaf, index, size, proof[:-1], head)
                assert not verify_inclusion(leaf, index, size, proof[1:], head)


def test_every_consistency_proof_verifies_and_no_tampered_one_does() -> None:
    roots = [ref_mth(LEAVES[:n]) for n in range(MAX_N + 1)]
    for new in range(MAX_N + 1):
        tree = LEAVES[:new]
        for old in range(new + 1):
            proof = consistency_proof(tree, old)
            want = [] if old in (0, new) else ref_subproof(old, tree, True)
            assert proof == want, (old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof)
            for i in range(len(proof)):
                bad = [*proof[:i], flip(proof[i], i % 8), *proof[i + 1:]]
                assert not verify_consistency(old, new, roots[old], roots[new], bad)
            if old != new:
                assert not verify_consistency(old, new, flip(roots[old]), roots[new], proof)
                if old:  # every tree extends the empty one, whatever its root
                    assert not verify_consistency(old, new, roots[old], flip(roots[new]),
                                                  proof)
                assert not verify_consistency(new, old, roots[new], roots[old], proof)
                assert not verify_consistency(old, new, roots[old], roots[new],
                                              [*proof, roots[new]])
            if proof:
                assert not verify_consistency(old, new, roots[old], roots[new], proof[:-1])
                assert not verify_consistency(old, new, roots[old], roots[new], proof[1:])
            # Other sizes, each with its tree's real root (as in the inclusion test, a size
            # that keeps the proof's shape is caught by the root it must then match).
            for other_old in (old - 1, old + 1):
                if 0 < other_old < new:
                    assert not verify_consistency(other_old, new, roots[other_old],
                                                  roots[new], proof)
            if 0 < old < new < MAX_N:
                assert not verify_consistency(old, new + 1, roots[old], roots[new + 1], proof)


def test_consistency_edge_cases() -> None:
    some = LEAVES[7]
    # Same size: no proof, and the roots must agree.
    assert verify_consistency(5, 5, root(LEAVES[:5]), root(LEAVES[:5]), [])
    assert not verify_consistency(5, 5, root(LEAVES[:5]), some, [])
    assert not verify_consistency(5, 5, root(LEAVES[:5]), root(LEAVES[:5]), [some])
    # From the empty tree: no proof, and the old root must be the empty tree's.
    assert verify_consistency(0, 9, EMPTY_ROOT, root(LEAVES[:9]), [])
    assert not verify_consistency(0, 9, some, root(LEAVES[:9]), [])
    assert not verify_consistency(0, 9, EMPTY_ROOT, root(LEAVES[:9]), [some])
    # A real change needs a proof.
    assert not verify_consistency(3, 9, root(LEAVES[:3]), root(LEAVES[:9]), [])


# -- malformed input: False, never an exception -----------------------------------------------


GOOD_PROOF = inclusion_proof(LEAVES[:9], 4)
GOOD_ROOT = root(LEAVES[:9])
BAD_VALUES: list[object] = [None, "x" * 32, b"\x00" * 31, b"\x00" * 33, bytearray(32), 3]


def test_verify_inclusion_refuses_malformed_input() -> None:
    leaf = LEAVES[4]
    assert verify_inclusion(leaf, 4, 9, GOOD_PROOF, GOOD_ROOT)
    for bad in BAD_VALUES:
        assert not verify_inclusion(bad, 4, 9, GOOD_PROOF, GOOD_ROOT)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 4, 9, GOOD_PROOF, bad)  # type: ignore[arg-type]
        spoiled = [*GOOD_PROOF[:1], bad, *GOOD_PROOF[2:]]
        assert not verify_inclusion(leaf, 4, 9, spoiled, GOOD_ROOT)  # type: ignore[arg-type]
    for index, size in [(9, 9), (10, 9), (-1, 9), (0, 0), (True, 9), (4, True), (4.0, 9),
                        ("4", 9), (4, -9), (4, 1 << 64)]:
        assert not verify_inclusion(leaf, index, size, GOOD_PROOF, GOOD_ROOT)  # type: ignore[arg-type]
    for proof in ["abc", b"\x00" * 32, None, [LEAVES[0]] * (tlog.MAX_PROOF_HASHES + 1),
                  iter(GOOD_PROOF)]:
        assert not verify_inclusion(leaf, 4, 9, proof, GOOD_ROOT)  # type: ignore[arg-type]
    assert verify_inclusion(leaf, 4, 9, tuple(GOOD_PROOF), GOOD_ROOT)


def test_verify_consistency_refuses_malformed_input() -> None:
    old_root, proof = root(LEAVES[:4]), consistency_proof(LEAVES[:9], 4)
    assert verify_consistency(4, 9, old_root, GOOD_ROOT, proof)
    for bad in BAD_VALUES:
        assert not verify_consistency(4, 9, bad, GOOD_ROOT, proof)  # type: ignore[arg-type]
        assert not verify_consistency(4, 9, old_root, bad, proof)  # type: ignore[arg-type]
        assert not verify_consistency(4, 9, old_root, GOOD_ROOT, [bad])  # type: ignore[list-item]
    for old, new in [(9, 4), (-1, 9), (4, -9), (True, 9), (4, 9.0), (4, 1 << 64), ("4", 9)]:
        assert not verify_consistency(old, new, old_root, GOOD_ROOT, proof)  # type: ignore[arg-type]
    assert not verify_consistency(4, 9, old_root, GOOD_ROOT, "abcd")  # type: ignore[arg-type]


def test_proof_generation_refuses_bad_arguments() -> None:
    tree = LEAVES[:5]
    with pytest.raises(ValueError, match="outside a tree of 5 leaves"):
        inclusion_proof(tree, 5)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(tree, -1)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(tree, True)
    with pytest.raises(ValueError, match="tree size"):
        inclusion_proof([], 0)
    with pytest.raises(ValueError, match="old size 6 is not between 0 and the new size 5"):
        consistency_proof(tree, 6)
    with pytest.raises(ValueError, match="old size -1"):
        consistency_proof(tree, -1)
    with pytest.raises(ValueError, match="leaf hash 2 must be 32 bytes, not 31 bytes"):
        inclusion_proof([*tree[:2], b"\x00" * 31, *tree[3:]], 0)
    with pytest.raises(ValueError, match="leaf hash 1 must be 32 bytes, not str"):
        root([tree[0], "a" * 32])  # type: ignore[list-item]


# -- the frontier ----------------------------------------------------------------------------


def test_frontier_matches_root_for_every_prefix_and_round_trips() -> None:
    frontier = TreeFrontier()
    for n in range(len(LEAVES) + 1):
        assert frontier.size == n
        assert frontier.root() == root(LEAVES[:n]), n
        saved = frontier.to_dict()
        assert saved["size"] == n
        assert len(saved["nodes"]) == bin(n).count("1")
        restored = TreeFrontier.from_dict(saved)
        assert restored == frontier
        assert restored.root() == frontier.root()
        if n < len(LEAVES):
            # The restored frontier goes on growing exactly as the original does.
            restored.append(LEAVES[n])
            frontier.append(LEAVES[n])
            assert restored == frontier


def test_frontier_copy_is_independent() -> None:
    frontier = TreeFrontier.of(LEAVES[:5])
    twin = frontier.copy()
    twin.append(LEAVES[5])
    assert (frontier.size, twin.size) == (5, 6)
    assert frontier.root() == root(LEAVES[:5])


def test_frontier_refuses_malformed_dicts() -> None:
    good = TreeFrontier.of(LEAVES[:5]).to_dict()
    hex_node = good["nodes"][0]
    cases: list[tuple[object, str]] = [
        ([], "exactly"),
        ({"size": 5}, "exactly"),
        ({**good, "extra": 1}, "exactly"),
        ({"size": -1, "nodes": []}, "size"),
        ({"size": True, "nodes": [hex_node]}, "size"),
        ({"size": "5", "nodes": good["nodes"]}, "size"),
        ({"size": 1 << 64, "nodes": []}, "size"),
        ({"size": 5, "nodes": good["nodes"][:1]}, "2 frontier nodes, not 1"),
        ({"size": 5, "nodes": [hex_node, hex_node, hex_node]}, "not 3"),
        ({"size": 5, "nodes": "ab"}, "list"),
        ({"size": 1, "nodes": [hex_node.upper()]}, "lowercase hex"),
        ({"size": 1, "nodes": [hex_node[:-2]]}, "64 lowercase hex"),
        ({"size": 1, "nodes": ["zz" * 32]}, "not hex"),
        ({"size": 1, "nodes": [7]}, "list of hex strings"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            TreeFrontier.from_dict(data)


def test_frontier_refuses_a_bad_leaf_hash() -> None:
    frontier = TreeFrontier()
    with pytest.raises(ValueError, match="32 bytes"):
        frontier.append(b"short")
    assert frontier.size == 0


def test_frontier_reports_completed_subtrees() -> None:
    store: dict[tuple[int, int], bytes] = {}
    frontier = TreeFrontier()
    for i, h in enumerate(LEAVES[:MAX_N]):
        created = frontier.append(h)
        assert created[0] == tlog.TreeNode(0, i, h)
        for node in created:
            width = 1 << node.level
            lo = node.index * width
            assert node.hash == ref_mth(LEAVES[lo:lo + width])
            store[(node.level, node.index)] = node.hash
    # Every perfect subtree of 40 leaves, each reported once: 40 + 20 + 10 + 5 + 2 + 1.
    assert len(store) == 78


def test_proofs_from_stored_subtrees_match_proofs_from_leaves() -> None:
    store = {(n.level, n.index): n.hash for n in TreeFrontier().extend(LEAVES[:MAX_N])}
    lookups: list[tuple[int, int]] = []

    def node_at(level: int, index: int) -> bytes:
        lookups.append((level, index))
        return store[(level, index)]

    range_root = range_root_from_nodes(node_at)
    for size in range(1, MAX_N + 1):
        for index in range(size):
            assert inclusion_proof_from(range_root, index, size) == ref_path(index,
                                                                             LEAVES[:size])
        for old in range(1, size):
            assert consistency_proof_from(range_root, old, size) == ref_subproof(
                old, LEAVES[:size], True)
    assert lookups  # the leaves themselves were never needed


def test_range_nodes() -> None:
    assert range_nodes(0, 1) == [(0, 0)]
    assert range_nodes(0, 8) == [(3, 0)]
    assert range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert range_nodes(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(ValueError, match="not a subtree"):
        range_nodes(1, 5)
    with pytest.raises(ValueError, match="non-empty range"):
        range_nodes(3, 3)


# -- properties ------------------------------------------------------------------------------


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=len(LEAVES)))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@settings(max_examples=200, deadline=None)
@given(tree_and_index(), st.data())
def test_random_inclusion_proofs_verify_and_tampering_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    size, index = case
    tree = LEAVES[:size]
    head = root(tree)
    proof = inclusion_proof(tree, index)
    assert verify_inclusion(tree[index], index, size, proof, head)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        mask = data.draw(st.integers(1, 255))
        bad = bytearray(proof[i])
        bad[byte] ^= mask
        assert not verify_inclusion(tree[index], index, size,
                                    [*proof[:i], bytes(bad), *proof[i + 1:]], head)
    other = data.draw(st.integers(0, size))
    if other != index:
        assert not verify_inclusion(tree[index], other, size, proof, head)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(LEAVES)), st.data())
def test_random_consistency_proofs_verify_and_tampering_fails(
    new: int, data: st.DataObject
) -> None:
    old = data.draw(st.integers(0, new))
    proof = consistency_proof(LEAVES[:new], old)
    old_root, new_root = root(LEAVES[:old]), root(LEAVES[:new])
    assert verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = bytearray(proof[i])
        bad[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
        assert not verify_consistency(old, new, old_root, new_root,
                                      [*proof[:i], bytes(bad), *proof[i + 1:]])
    if 0 < old < new:
        # A tree that shares only part of the old prefix is not consistent with it.
        forked = [*LEAVES[:old - 1], leaf_hash(b"forked"), *LEAVES[old:new]]
        assert not verify_consistency(old, new, old_root, root(forked),
                                      consistency_proof(forked, old))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70), st.integers(0, 70))
def test_frontier_split_anywhere_equals_one_pass(leaves: list[bytes], cut: int) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    cut = min(cut, len(hashes))
    first = TreeFrontier.of(hashes[:cut])
    resumed = TreeFrontier.from_dict(first.to_dict())
    resumed.extend(hashes[cut:])
    assert resumed.root() == ref_mth(hashes) == root(hashes)

"""RFC 6962 / RFC 9162 Merkle hashing, proofs and verification (sild.core.merkle)."""

from __future__ import annotations

import ast
import hashlib
import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.ledger_errors import ProofError
from sild.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    LeafHash,
    MerkleTree,
    RootHash,
    consistency_proof,
    inclusion_proof,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# --- A literal, recursive RFC 6962 §2.1 reference, independent of the module ------------


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def ref_mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 §2.1 writes it."""
    n = len(entries)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + entries[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:]))


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) exactly as RFC 6962 §2.1.1 writes it."""
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) exactly as RFC 6962 §2.1.2 writes it."""
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, entries[:k], b), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


def entries_of(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def leaves_of(n: int) -> list[LeafHash]:
    return [leaf_hash(e) for e in entries_of(n)]


def flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


sizes = st.integers(min_value=1, max_value=300)


# --- Hashing --------------------------------------------------------------------------


def test_leaf_hash_is_sha256_of_zero_prefix() -> None:
    """leaf_hash(d) = SHA-256(0x00 || d)."""
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()


def test_node_hash_is_sha256_of_one_prefix() -> None:
    """node_hash(l, r) = SHA-256(0x01 || l || r)."""
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )


def test_empty_root_is_sha256_of_nothing() -> None:
    """The empty tree's root is SHA-256 of the empty string (RFC 6962 §2.1)."""
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_known_root_of_rfc6962_test_vector() -> None:
    """Root of the 8-leaf tree used by Trillian/transparency-dev's RFC 6962 tests."""
    # transparency-dev/merkle testonly: leaves "", 00, 10, 2021, 3031, 40414243, ...
    entries = [
        bytes.fromhex(x)
        for x in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    root = root_of([leaf_hash(e) for e in entries])
    assert root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@given(st.integers(min_value=0, max_value=600))
def test_batch_root_matches_recursive_reference(n: int) -> None:
    """root_of equals the literal recursive RFC 6962 MTH for every size."""
    assert root_of(leaves_of(n)) == ref_mth(entries_of(n))


@given(st.integers(min_value=0, max_value=600))
def test_compact_range_root_matches_batch_root(n: int) -> None:
    """Appending leaves one by one gives the batch root at every size."""
    leaves = leaves_of(n)
    cr = CompactRange()
    for i, leaf in enumerate(leaves):
        cr.append(leaf)
        if i % 37 == 0:
            assert cr.root() == root_of(leaves[: i + 1])
    assert cr.size == n
    assert cr.root() == root_of(leaves)


@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=300))
def test_compact_range_extend_and_resume(a: int, b: int) -> None:
    """extend() equals append(), and a range resumes from its persisted (size, hashes)."""
    leaves = leaves_of(a + b)
    first = CompactRange()
    first.extend(leaves[:a])
    resumed = CompactRange(first.size, first.hashes)
    resumed.extend(leaves[a:])
    assert resumed.root() == root_of(leaves)


def test_compact_range_rejects_inconsistent_state() -> None:
    """A persisted state whose hash count does not match popcount(size) is refused."""
    with pytest.raises(ValueError, match="holds"):
        CompactRange(3, [b"\x00" * 32])


def test_tree_root_at_earlier_sizes() -> None:
    """MerkleTree.root(size) is the root of the first size leaves."""
    tree = MerkleTree(leaves_of(70))
    for size in range(71):
        assert tree.root(size) == ref_mth(entries_of(size))


# --- Inclusion proofs -----------------------------------------------------------------


@given(st.data(), sizes)
def test_inclusion_proof_matches_reference_and_verifies(data: st.DataObject, n: int) -> None:
    """Generated inclusion proofs equal RFC 6962 PATH and verify (RFC 9162 §2.1.3.2)."""
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = leaves_of(n)
    proof = inclusion_proof(leaves, index)
    assert proof == ref_path(index, entries_of(n))
    assert len(proof) == inclusion_proof_length(index, n)
    verify_inclusion(leaf=leaves[index], index=index, size=n, proof=proof, root=root_of(leaves))


@given(st.data(), st.integers(min_value=1, max_value=120))
def test_inclusion_proof_in_earlier_tree_sizes(data: st.DataObject, n: int) -> None:
    """A big tree proves inclusion in any of its earlier sizes."""
    size = data.draw(st.integers(min_value=1, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    tree = MerkleTree(leaves_of(n))
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, entries_of(size))
    verify_inclusion(
        leaf=tree.leaf(index), index=index, size=size, proof=proof, root=tree.root(size)
    )


@settings(max_examples=60)
@given(st.data(), st.integers(min_value=2, max_value=200))
def test_inclusion_proof_flipped_byte_fails(data: st.DataObject, n: int) -> None:
    """Flipping any byte of the proof, leaf or root makes verification fail."""
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = leaves_of(n)
    proof = inclusion_proof(leaves, index)
    root = root_of(leaves)
    leaf = leaves[index]
    blob = b"".join(proof)
    pos = data.draw(st.integers(min_value=0, max_value=len(blob) + 64 - 1))
    if pos < len(blob):
        bad = flip(blob, pos)
        bad_proof = [bad[i : i + 32] for i in range(0, len(bad), 32)]
        args = {"leaf": leaf, "root": root, "proof": bad_proof}
    elif pos < len(blob) + 32:
        args = {"leaf": LeafHash(flip(leaf, pos - len(blob))), "root": root, "proof": proof}
    else:
        args = {"leaf": leaf, "root": RootHash(flip(root, pos - len(blob) - 32)), "proof": proof}
    with pytest.raises(ProofError):
        verify_inclusion(index=index, size=n, **args)  # type: ignore[arg-type]


@given(st.data(), sizes)
def test_inclusion_proof_wrong_index_or_length_fails(data: st.DataObject, n: int) -> None:
    """A proof checked at another index, or with a hash added or removed, fails.

    (Another *size* can legitimately give the same path shape; the signed size binds it.)
    """
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = leaves_of(n)
    proof = inclusion_proof(leaves, index)
    root = root_of(leaves)
    other = data.draw(st.integers(min_value=0, max_value=n))
    if other != index and other < n:
        with pytest.raises(ProofError):
            verify_inclusion(leaf=leaves[index], index=other, size=n, proof=proof, root=root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf=leaves[index], index=index, size=n, proof=[*proof, root], root=root)
    if proof:
        with pytest.raises(ProofError):
            verify_inclusion(leaf=leaves[index], index=index, size=n, proof=proof[:-1], root=root)


def test_inclusion_index_out_of_range_fails() -> None:
    """An index at or beyond the tree size is refused (RFC 9162 §2.1.3.2 step 1)."""
    with pytest.raises(ProofError, match="not in a tree"):
        root_from_inclusion_proof(leaf=leaf_hash(b""), index=4, size=4, proof=[])


def test_inclusion_short_proof_hash_fails() -> None:
    """A proof hash that is not 32 bytes is refused before hashing."""
    with pytest.raises(ProofError, match="bytes"):
        root_from_inclusion_proof(leaf=leaf_hash(b""), index=0, size=2, proof=[b"x" * 31])


def test_single_leaf_tree_root_is_the_leaf() -> None:
    """In a tree of one leaf the proof is empty and the root is the leaf hash."""
    leaf = leaf_hash(b"only")
    verify_inclusion(leaf=leaf, index=0, size=1, proof=[], root=RootHash(leaf))


# --- Consistency proofs ---------------------------------------------------------------


@given(st.data(), sizes)
def test_consistency_proof_matches_reference_and_verifies(data: st.DataObject, n: int) -> None:
    """Generated consistency proofs equal RFC 6962 PROOF and verify (RFC 9162 §2.1.4.2)."""
    m = data.draw(st.integers(min_value=0, max_value=n))
    leaves = leaves_of(n)
    proof = consistency_proof(leaves, m)
    if 0 < m < n:
        assert proof == ref_subproof(m, entries_of(n), True)
    else:
        assert proof == []
    verify_consistency(
        old_size=m, new_size=n, old_root=root_of(leaves[:m]), new_root=root_of(leaves), proof=proof
    )


@settings(max_examples=60)
@given(st.data(), st.integers(min_value=2, max_value=200))
def test_consistency_proof_flipped_byte_fails(data: st.DataObject, n: int) -> None:
    """Flipping any byte of the proof or either root makes verification fail."""
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    leaves = leaves_of(n)
    proof = consistency_proof(leaves, m)
    old, new = root_of(leaves[:m]), root_of(leaves)
    blob = b"".join(proof)
    pos = data.draw(st.integers(min_value=0, max_value=len(blob) + 64 - 1))
    if pos < len(blob):
        bad = flip(blob, pos)
        proof = [bad[i : i + 32] for i in range(0, len(bad), 32)]
    elif pos < len(blob) + 32:
        old = RootHash(flip(old, pos - len(blob)))
    else:
        new = RootHash(flip(new, pos - len(blob) - 32))
    with pytest.raises(ProofError):
        verify_consistency(old_size=m, new_size=n, old_root=old, new_root=new, proof=proof)


@given(st.data(), st.integers(min_value=2, max_value=200))
def test_consistency_proof_wrong_old_size_or_length_fails(data: st.DataObject, n: int) -> None:
    """A proof checked for another old size, or with a hash added or removed, fails."""
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    leaves = leaves_of(n)
    proof = consistency_proof(leaves, m)
    old, new = root_of(leaves[:m]), root_of(leaves)
    with pytest.raises(ProofError):
        verify_consistency(old_size=m, new_size=n, old_root=old, new_root=new, proof=proof[:-1])
    with pytest.raises(ProofError):
        verify_consistency(old_size=m, new_size=n, old_root=old, new_root=new, proof=[*proof, new])
    if m > 1:
        with pytest.raises(ProofError):
            verify_consistency(old_size=m - 1, new_size=n, old_root=old, new_root=new, proof=proof)


def test_consistency_equal_sizes_needs_equal_roots() -> None:
    """Between equal sizes the proof is empty and the roots must match."""
    root = root_of(leaves_of(5))
    verify_consistency(old_size=5, new_size=5, old_root=root, new_root=root, proof=[])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(old_size=5, new_size=5, old_root=root, new_root=EMPTY_ROOT, proof=[])


def test_consistency_from_empty_tree() -> None:
    """The empty tree is consistent with any tree, with an empty proof."""
    verify_consistency(
        old_size=0, new_size=9, old_root=EMPTY_ROOT, new_root=root_of(leaves_of(9)), proof=[]
    )
    with pytest.raises(ProofError):
        verify_consistency(
            old_size=0, new_size=9, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[EMPTY_ROOT]
        )


def test_consistency_shrinking_tree_fails() -> None:
    """A new size smaller than the old size is refused."""
    with pytest.raises(ProofError, match="prefix"):
        verify_consistency(
            old_size=5, new_size=4, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[]
        )


def test_consistency_empty_proof_between_distinct_sizes_fails() -> None:
    """RFC 9162 §2.1.4.2 step 1: an empty path fails when 0 < first < second."""
    leaves = leaves_of(8)
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(
            old_size=4, new_size=8, old_root=root_of(leaves[:4]), new_root=root_of(leaves), proof=[]
        )


# --- Packed levels (one bytes per level) ------------------------------------------------


@given(sizes)
def test_packed_tree_equals_the_tree_of_the_list(n: int) -> None:
    """MerkleTree.packed over the joined leaf hashes has the same root and proofs."""
    leaves = leaves_of(n)
    packed, listed = MerkleTree.packed(b"".join(leaves)), MerkleTree(leaves)
    assert packed.size == n
    assert packed.root() == listed.root() == root_of(leaves)
    assert [packed.leaf(i) for i in range(n)] == leaves
    assert packed.inclusion_proof(n // 2) == inclusion_proof(leaves, n // 2)


@given(st.data(), sizes)
def test_inclusion_proofs_of_a_range_equal_one_by_one(data: st.DataObject, n: int) -> None:
    """inclusion_proofs(first, count) yields inclusion_proof(i) for each leaf in order."""
    first = data.draw(st.integers(min_value=0, max_value=n - 1))
    count = data.draw(st.integers(min_value=1, max_value=n - first))
    tree = MerkleTree(leaves_of(n))
    got = list(tree.inclusion_proofs(first, count))
    assert got == [tree.inclusion_proof(i) for i in range(first, first + count)]


def test_inclusion_proofs_outside_the_tree_are_refused() -> None:
    """A range reaching past the last leaf raises before any proof is yielded."""
    with pytest.raises(ValueError, match="not in a tree"):
        next(MerkleTree(leaves_of(5)).inclusion_proofs(3, 3))


def test_packed_leaves_must_be_whole_hashes() -> None:
    """Packed leaves whose length is not a multiple of 32, or short leaf hashes, are refused."""
    with pytest.raises(ValueError, match="multiple of 32"):
        MerkleTree.packed(b"\x00" * 33)
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree([LeafHash(b"\x00" * 31)])


# --- Cross-check against sigstore-python's RFC 6962 helpers -----------------------------


@given(st.data(), sizes)
def test_sigstore_helpers_accept_our_inclusion_proofs(data: st.DataObject, n: int) -> None:
    """sigstore-python's inclusion chaining (Apache-2.0) reaches our root from our proofs."""
    merkle = pytest.importorskip("sigstore._internal.merkle")
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    entries = entries_of(n)
    leaves = [leaf_hash(e) for e in entries]
    proof = inclusion_proof(leaves, index)
    inner, border = merkle._decomp_inclusion_proof(index, n)
    assert inner + border == len(proof)
    seed = merkle._hash_leaf(entries[index])
    assert seed == leaves[index]
    got = merkle._chain_border_right(merkle._chain_inner(seed, proof[:inner], index), proof[inner:])
    assert got == root_of(leaves)


# --- Purity (STYLE.md rule 1) -----------------------------------------------------------

LEDGER_CORE = [
    "merkle",
    "imprint",
    "note",
    "checkpoint",
    "tiles",
    "tlogproof",
    "ledger_errors",
    "_b64",
]
IO_MODULES = {"socket", "sqlite3", "sqlalchemy", "asyncio", "time", "os", "io", "pathlib", "ssl"}


@pytest.mark.parametrize("module", LEDGER_CORE)
def test_ledger_core_imports_no_io(module: str) -> None:
    """The ledger's pure core imports no socket, database, file or clock module."""
    spec = importlib.util.find_spec(f"sild.core.{module}")
    assert spec is not None
    assert spec.origin is not None
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_MODULES
    assert "now(" not in ast.unparse(tree)

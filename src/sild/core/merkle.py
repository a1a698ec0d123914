"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Everything here is pure: bytes and integers in, bytes out (STYLE.md rule 1).

* Hashing (RFC 6962 §2.1, RFC 9162 §2.1.1): ``leaf = SHA-256(0x00 || d)``,
  ``node = SHA-256(0x01 || left || right)``; the empty tree hashes to ``SHA-256("")``.
  ``MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))`` with ``k`` the largest power of two
  below ``n``.
* Proof generation follows the recursive definitions of RFC 9162 §2.1.3.1 (inclusion,
  ``PATH``) and §2.1.4.1 (consistency, ``PROOF``/``SUBPROOF``). It reads *perfect*
  subtree hashes through a :data:`NodeReader`, so the same code serves an in-memory
  :class:`MerkleTree` and C2SP tlog-tiles (``sild.core.tiles``).
* Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; the steps are
  numbered in the code as in the RFC. Every failure raises :class:`ProofError`.

Types keep trust roles apart (STYLE.md rule 7): a :data:`LeafHash` is not a
:data:`RootHash`; interior and proof hashes are plain ``bytes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NewType

from sild.core.ledger_errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_HASHES",
    "MAX_TREE_SIZE",
    "CompactRange",
    "LeafHash",
    "MerkleTree",
    "NodeReader",
    "ProofError",
    "RootHash",
    "consistency_proof",
    "consistency_proof_from",
    "inclusion_proof",
    "inclusion_proof_from",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "root_from",
    "root_from_inclusion_proof",
    "root_of",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

LeafHash = NewType("LeafHash", bytes)
"""``SHA-256(0x00 || entry)``: the hash of one log entry (RFC 6962 §2.1)."""

RootHash = NewType("RootHash", bytes)
"""``MTH(D[n])``: the root of a whole tree of a given size, as a checkpoint carries it."""

NodeReader = Callable[[int, int], bytes]
"""``(level, index) -> hash`` of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 gives leaf hashes."""

HASH_SIZE = 32
EMPTY_ROOT = RootHash(hashlib.sha256(b"").digest())  # RFC 6962 §2.1: MTH({}) = SHA-256()
# A tree of up to 2**64 leaves needs at most 64 inclusion hashes and 2*64 consistency
# hashes; anything longer is refused before any hashing (bounded work for strangers).
MAX_TREE_SIZE = 2**64 - 1
MAX_PROOF_HASHES = 128

_LEAF = b"\x00"
_NODE = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> LeafHash:
    """RFC 6962 §2.1: ``MTH({d}) = SHA-256(0x00 || d)``."""
    return LeafHash(_sha256(_LEAF + data).digest())


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE + left + right).digest()


def _split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (n ≥ 2), RFC 6962 §2.1's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


_PACK_CHUNK = 64 * 4096  # bytes of a level hashed per list: 4,096 parents at a time


def _parent_level(level: bytes) -> bytes:
    """The next level up of a packed level (32-byte hashes back to back); an odd last
    node is carried up unchanged, which gives exactly the RFC 6962 shape (the left
    subtree is always the largest power of two).

    Hashed in chunks, each one list comprehension (the fastest pure-Python build
    measured, research/ksi-tlog.md §6.3), so the transient list of digest objects stays
    small whatever the level's size.
    """
    sha = _sha256
    prefix = _NODE
    end = len(level) // 64 * 64
    parts = [
        b"".join([sha(prefix + level[j : j + 64]).digest() for j in range(s, e, 64)])
        for s in range(0, end, _PACK_CHUNK)
        for e in (min(s + _PACK_CHUNK, end),)
    ]
    if len(level) != end:
        parts.append(level[end:])
    return b"".join(parts)


def _build_levels(leaves: bytes) -> list[bytes]:
    """All levels bottom-up, each packed into one ``bytes`` (32 bytes per node).

    One ``bytes`` per level instead of one object per node: a node costs 32 bytes
    instead of ~80 (CPython's per-object header and the list's pointer), which is most
    of a round tree's memory in the ledger (docs/benchmarks.md, ledger memory).
    """
    if len(leaves) % HASH_SIZE:
        raise ValueError(f"packed leaves of {len(leaves)} bytes, not a multiple of {HASH_SIZE}")
    levels = [leaves]
    while len(levels[-1]) > HASH_SIZE:
        levels.append(_parent_level(levels[-1]))
    return levels


def root_of(leaves: Sequence[LeafHash]) -> RootHash:
    """The RFC 6962 root of a list of leaf hashes, built bottom-up in batch."""
    if not leaves:
        return EMPTY_ROOT
    sha = _sha256
    prefix = _NODE
    level: Sequence[bytes] = leaves
    while len(level) > 1:
        nxt = [sha(prefix + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return RootHash(bytes(level[0]))


# --- Generic proof generation over perfect subtrees (RFC 9162 §2.1.3.1, §2.1.4.1) -------


def subtree_hash(node: NodeReader, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` for a range whose ``start`` is aligned to a power of two at
    least ``end - start`` — every range the RFC 9162 recursions visit is of that kind.

    The range splits into the perfect subtrees given by the bits of its length, largest
    first, and they are folded from the right (RFC 6962 §2.1).
    """
    n = end - start
    if n <= 0:
        raise ValueError(f"empty or negative range [{start}, {end})")
    parts: list[bytes] = []
    pos = start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            parts.append(node(level, pos >> level))
            pos += 1 << level
    acc = parts[-1]
    for h in reversed(parts[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_from(node: NodeReader, size: int) -> RootHash:
    """The root of the tree of ``size`` leaves, read through ``node``."""
    if size == 0:
        return EMPTY_ROOT
    return RootHash(subtree_hash(node, 0, size))


def inclusion_proof_from(node: NodeReader, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 ``PATH(m, D[n])``, leaf sibling first, root child last."""
    _check_index(index, size)
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root; each step contributes the sibling subtree's hash, which
    # belongs at the *end* of the path (the path runs from the leaf upwards).
    while end - start > 1:
        k = _split_point(end - start)
        if index < start + k:  # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(subtree_hash(node, start + k, end))
            end = start + k
        else:  # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(subtree_hash(node, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof_from(node: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``PROOF(m, D[n])`` between tree sizes ``old_size ≤ new_size``."""
    return _consistency_proof(lambda s, e: subtree_hash(node, s, e), old_size, new_size)


def _consistency_proof(
    mth: Callable[[int, int], bytes], old_size: int, new_size: int
) -> list[bytes]:
    """``PROOF(m, D[n])`` over ``mth(start, end) = MTH(D[start:end])``."""
    if not 0 <= old_size <= new_size <= MAX_TREE_SIZE:
        raise ValueError(f"need 0 <= old_size <= new_size, got {old_size}, {new_size}")
    if old_size == 0 or old_size == new_size:
        return []  # the empty proof (the RFC defines PROOF only for 0 < m < n)
    proof: list[bytes] = []
    start, end, m = 0, new_size, old_size
    complete = True  # the RFC's boolean "b": is D[start:start+m] a subtree of the old tree?
    while True:
        n = end - start
        if m == n:  # SUBPROOF(m, D[m], true) = {} ; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            if not complete:
                proof.append(mth(start, end))
            break
        k = _split_point(n)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.append(mth(start + k, end))
            end = start + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.append(mth(start, start + k))
            start += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes an inclusion proof for ``index`` in ``size`` has (RFC 9162 §2.1.3)."""
    _check_index(index, size)
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size <= MAX_TREE_SIZE:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")


# --- An in-memory tree and a streaming compact range -------------------------------------


class MerkleTree:
    """All levels of an RFC 6962 tree over a fixed list of leaf hashes, for proofs.

    Build once (O(n) hashes), then roots, inclusion proofs and consistency proofs for
    any earlier size cost O(log n) hashes each. Each level is held packed, as one
    ``bytes`` of 32-byte hashes; :meth:`packed` builds from leaf hashes already packed.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaves: Sequence[LeafHash]) -> None:
        if any(len(h) != HASH_SIZE for h in leaves):
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes")
        self._levels = _build_levels(b"".join(leaves))

    @classmethod
    def packed(cls, leaves: bytes) -> MerkleTree:
        """The tree over leaf hashes given back to back (32 bytes each) in one ``bytes``."""
        tree = cls.__new__(cls)
        tree._levels = _build_levels(bytes(leaves))
        return tree

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    def node(self, level: int, index: int) -> bytes:
        """The hash of a perfect subtree (a :data:`NodeReader`)."""
        if not 0 <= level < len(self._levels) or (index + 1) << level > self.size or index < 0:
            raise IndexError(f"no perfect subtree at level {level}, index {index}")
        pos = index * HASH_SIZE
        return self._levels[level][pos : pos + HASH_SIZE]

    def leaf(self, index: int) -> LeafHash:
        """The leaf hash at ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"no leaf {index} in a tree of {self.size}")
        pos = index * HASH_SIZE
        return LeafHash(self._levels[0][pos : pos + HASH_SIZE])

    def root(self, size: int | None = None) -> RootHash:
        """The root of the whole tree, or of its first ``size`` leaves."""
        return root_from(self.node, self.size if size is None else self._size_ok(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size``."""
        if size is None or size == self.size:
            # Fast path for the whole tree: with odd nodes carried up, the RFC path is the
            # sibling at each level, skipping levels where the node has none.
            _check_index(index, self.size)
            path = []
            for level in self._levels[:-1]:
                pos = (index ^ 1) << 5  # * HASH_SIZE
                if pos < len(level):
                    path.append(level[pos : pos + 32])
                index >>= 1
            return path
        return inclusion_proof_from(
            self.node, index, self.size if size is None else self._size_ok(size)
        )

    def inclusion_proofs(self, first: int, count: int) -> Iterator[list[bytes]]:
        """The whole-tree inclusion proofs of leaves ``first .. first + count - 1``, in
        order. Consecutive leaves share their upper path nodes; each is sliced out of its
        packed level once (as fast as :meth:`inclusion_proof` per leaf on list levels)."""
        if count > 0:
            _check_index(first, self.size)
            _check_index(first + count - 1, self.size)
        levels = self._levels[:-1]
        depth = range(len(levels))
        at = [-1] * len(levels)  # the position last sliced at each level …
        got = [b""] * len(levels)  # … and its hash
        for index in range(first, first + count):
            path = []
            for level in depth:
                pos = (index ^ 1) << 5  # * HASH_SIZE
                if pos != at[level]:
                    if pos >= len(levels[level]):  # no sibling at this level
                        index >>= 1
                        continue
                    at[level], got[level] = pos, levels[level][pos : pos + HASH_SIZE]
                path.append(got[level])
                index >>= 1
            yield path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 consistency proof from ``old_size`` to ``new_size``."""
        new = self.size if new_size is None else self._size_ok(new_size)
        if new == self.size:
            return _consistency_proof(self._range, old_size, new)
        return consistency_proof_from(self.node, old_size, new)

    def _range(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` for the ranges the RFC 9162 recursions visit in the whole
        tree: aligned, and either perfect or ending at the tree's right edge. With odd
        nodes carried up, such a range is one stored node (level = its length rounded up
        to a power of two)."""
        level = (end - start - 1).bit_length()
        pos = (start >> level) * HASH_SIZE
        return self._levels[level][pos : pos + HASH_SIZE]

    def _size_ok(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside the tree of {self.size} leaves")
        return size


def inclusion_proof(leaves: Sequence[LeafHash], index: int) -> list[bytes]:
    """The inclusion proof of ``leaves[index]`` in the tree of all ``leaves``."""
    return MerkleTree(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[LeafHash], old_size: int) -> list[bytes]:
    """The consistency proof from the first ``old_size`` leaves to all ``leaves``."""
    return MerkleTree(leaves).consistency_proof(old_size)


class CompactRange:
    """A streaming RFC 6962 appender: keeps one hash per set bit of the size.

    ``append`` costs one hash per trailing one-bit of the size (amortised < 2);
    ``root`` folds at most log2(n) hashes. The state (``size``, ``hashes``) is what
    to persist to resume later, e.g. for the calendar (one leaf per round).
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        stack = list(hashes)
        if size < 0 or len(stack) != size.bit_count():
            raise ValueError(f"a compact range of size {size} holds {size.bit_count()} hashes")
        if any(len(h) != HASH_SIZE for h in stack):
            raise ValueError("compact range hashes must be 32 bytes")
        self._size = size
        self._hashes = stack

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtree roots, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf: LeafHash) -> None:
        """Append one leaf hash."""
        h: bytes = leaf
        s = self._size
        stack = self._hashes
        while s & 1:
            h = _sha256(_NODE + stack.pop() + h).digest()
            s >>= 1
        stack.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[LeafHash]) -> None:
        """Append many leaf hashes (the same as calling :meth:`append` for each)."""
        sha = _sha256
        prefix = _NODE
        stack = self._hashes
        size = self._size
        for h in leaves:
            s = size
            while s & 1:
                h = LeafHash(sha(prefix + stack.pop() + h).digest())
                s >>= 1
            stack.append(h)
            size += 1
        self._size = size

    def root(self) -> RootHash:
        """The RFC 6962 root of everything appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = _sha256(_NODE + h + acc).digest()
        return RootHash(acc)


# --- Verification (RFC 9162 §2.1.3.2, §2.1.4.2) ------------------------------------------


def _check_hashes(proof: Sequence[bytes]) -> None:
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofError(f"proof has {len(proof)} hashes, more than {MAX_PROOF_HASHES}")
    for h in proof:
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof hash of {len(h)} bytes, expected {HASH_SIZE}")


def root_from_inclusion_proof(
    *, leaf: LeafHash, index: int, size: int, proof: Sequence[bytes]
) -> RootHash:
    """The root that ``proof`` leads to from ``leaf``, RFC 9162 §2.1.3.2 steps 1–4."""
    _check_hashes(proof)
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash of {len(leaf)} bytes, expected {HASH_SIZE}")
    # (1) leaf_index must be below tree_size.
    if not 0 <= index < size <= MAX_TREE_SIZE:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}", index=index)
    # (2) fn = leaf_index, sn = tree_size - 1; (3) r = hash.
    fn, sn = index, size - 1
    r: bytes = leaf
    # (4) for each p in inclusion_path:
    for p in proof:
        # (4a) if sn is 0, fail.
        if sn == 0:
            raise ProofError("inclusion proof is too long", index=index, size=size)
        # (4b) if LSB(fn) is set or fn == sn: r = HASH(0x01 || p || r) …
        if fn & 1 or fn == sn:
            r = _sha256(_NODE + p + r).digest()
            # … then shift until LSB(fn) is set or fn is 0.
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:  # otherwise r = HASH(0x01 || r || p)
            r = _sha256(_NODE + r + p).digest()
        # (4c) shift both once.
        fn >>= 1
        sn >>= 1
    # (5, first half) sn must be 0.
    if sn != 0:
        raise ProofError("inclusion proof is too short", index=index, size=size)
    return RootHash(r)


def verify_inclusion(
    *, leaf: LeafHash, index: int, size: int, proof: Sequence[bytes], root: RootHash
) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`ProofError` unless ``proof`` shows ``leaf`` at
    ``index`` in the tree of ``size`` with ``root``."""
    got = root_from_inclusion_proof(leaf=leaf, index=index, size=size, proof=proof)
    # (5, second half) compare r against root_hash.
    if got != root:
        raise ProofError("inclusion proof does not lead to the root", index=index, size=size)


def verify_consistency(
    *,
    old_size: int,
    new_size: int,
    old_root: RootHash,
    new_root: RootHash,
    proof: Sequence[bytes],
) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofError` unless ``proof`` shows the tree of
    ``old_size`` with ``old_root`` is a prefix of the tree of ``new_size`` with ``new_root``.
    """
    _check_hashes(proof)
    if not 0 <= old_size <= new_size <= MAX_TREE_SIZE:
        raise ProofError(f"cannot prove size {old_size} is a prefix of size {new_size}")
    # The RFC algorithm covers 0 < first < second; the two edge cases have empty proofs.
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("different roots for the same tree size", size=old_size)
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the empty tree has a fixed root (RFC 6962 §2.1)")
        return
    # (1) an empty consistency_path fails.
    if not proof:
        raise ProofError("consistency proof is empty", old_size=old_size, new_size=new_size)
    path = list(proof)
    # (2) if first is an exact power of 2, prepend first_hash.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # (3) fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # (4) if LSB(fn) is set, shift both until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # (5) fr = sr = the first value of the path.
    fr = sr = path[0]
    # (6) for each subsequent value c:
    for c in path[1:]:
        # (6a) if sn is 0, fail.
        if sn == 0:
            raise ProofError("consistency proof is too long")
        # (6b) if LSB(fn) is set or fn == sn:
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE + c + fr).digest()  # (6b i)
            sr = _sha256(_NODE + c + sr).digest()  # (6b ii)
            if not fn & 1:  # (6b iii) shift until LSB(fn) is set or fn is 0
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE + sr + c).digest()  # otherwise (6b i)
        # (6c) shift both once.
        fn >>= 1
        sn >>= 1
    # (7) fr == first_hash, sr == second_hash, sn == 0.
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")

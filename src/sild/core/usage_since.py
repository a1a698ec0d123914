"""A new usage proof against an earlier one the person kept (docs/spec/tracker.md §3.4.7).

Pure. A verified earlier proof fixes the head the ledger held then; a later proof of the
same chain must pass through it. This catches what one proof alone cannot: a chain
rewritten (and the rewrite anchored by a dishonest anchorer) after the earlier proof,
newest records deleted since, and an operator showing an older anchored map than the
one the person already saw.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = ["compare_with_earlier"]


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise ValueError("bad base64") from e


def _round(proof: dict[str, Any]) -> int | None:
    section = proof.get("anchor")
    return int(section["round"]["id"]) if isinstance(section, dict) else None


def compare_with_earlier(proof: dict[str, Any], earlier: dict[str, Any]
                         ) -> list[tuple[int, str]]:
    """``(seq, problem)`` pairs; empty when ``proof`` extends ``earlier``.

    Both documents must already have verified on their own (their stated chain values
    are then the recomputed ones). ValueError/KeyError/TypeError for malformed input.
    """
    if (earlier.get("register"), earlier.get("subject")) != (proof.get("register"),
                                                            proof.get("subject")):
        return [(0, "the earlier proof is of another person or register")]
    out: list[tuple[int, str]] = []
    old_round, new_round = _round(earlier), _round(proof)
    if old_round is not None and new_round is not None and new_round < old_round:
        out.append((0, f"stale: anchored in round {new_round}, before round {old_round} "
                       "of the earlier proof (newer rounds withheld)"))
    old_seq, old_chain = int(earlier["head"]["seq"]), _b64(earlier["head"]["chain"])
    if old_seq == 0:
        return out
    chains = {int(proof["from"]["seq"]): _b64(proof["from"]["chain"])}
    for item in [*proof["records"], *(proof.get("unanchored") or [])]:
        chains[int(item["seq"])] = _b64(item["chain"])
    chains.setdefault(int(proof["head"]["seq"]), _b64(proof["head"]["chain"]))
    newest = max(chains)
    if newest < old_seq:
        out.append((newest + 1, f"missing: the earlier proof reached record {old_seq}"))
    elif old_seq in chains and chains[old_seq] != old_chain:
        # (a proof that starts after the earlier head cannot be compared: ask for a
        # period that includes it)
        out.append((old_seq, "rewritten since the earlier proof (its chain value "
                             "differs)"))
    return out

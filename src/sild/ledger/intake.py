"""Parsing submitted batches of imprints (docs/spec/ledger.md §2.1). Pure.

Two body forms:

* ``application/octet-stream``: imprints back to back. An imprint is self-delimiting
  (its first byte, the algorithm id, fixes the digest length), so no framing is needed;
* ``application/json``: ``{"hashes": ["<hex imprint>", …]}``.

Every imprint is checked against the algorithm table *at the time of submission*:
unknown, retired and deprecated algorithms and wrong lengths are refused, and the
whole batch is refused with them (nothing is half-accepted).
"""

from __future__ import annotations

from datetime import datetime

import orjson

from sild.core.imprint import ALGORITHMS
from sild.core.ledger_errors import HashAlgorithmError
from sild.errors import (
    BatchTooLarge,  # re-exported
    InvalidRequest,
)

__all__ = ["BatchTooLarge", "parse_batch", "usable_sizes"]


def usable_sizes(at: datetime) -> dict[int, int]:
    """``algorithm id -> digest size`` of the algorithms accepted at ``at``."""
    return {
        a.id: a.digest_size
        for a in ALGORITHMS.values()
        if a.hashlib_name is not None and a.status_at(at) == "trusted"
    }


def _refuse(alg_id: int, at: datetime) -> HashAlgorithmError:
    alg = ALGORITHMS.get(alg_id)
    if alg is None:
        return HashAlgorithmError(f"unknown hash algorithm id 0x{alg_id:02x}", id=alg_id)
    return HashAlgorithmError(
        f"{alg.name} is {alg.status_at(at)} at {at.isoformat()}", algorithm=alg.name
    )


def _split_binary(body: bytes, sizes: dict[int, int], at: datetime, max_batch: int) -> list[bytes]:
    out: list[bytes] = []
    pos, end = 0, len(body)
    get = sizes.get
    while pos < end:
        n = get(body[pos])
        if n is None:
            raise _refuse(body[pos], at)
        nxt = pos + 1 + n
        if nxt > end:
            raise HashAlgorithmError(f"imprint at byte {pos} is truncated", offset=pos)
        out.append(body[pos:nxt])
        pos = nxt
        if len(out) > max_batch:
            raise BatchTooLarge(f"more than {max_batch} hashes in one request")
    return out


def _split_json(body: bytes, sizes: dict[int, int], at: datetime, max_batch: int) -> list[bytes]:
    try:
        data = orjson.loads(body)
        hashes = data["hashes"]
        if not isinstance(hashes, list):
            raise TypeError("hashes must be a list")
        if len(hashes) > max_batch:
            raise BatchTooLarge(f"{len(hashes)} hashes in one request, at most {max_batch}")
        raw = [bytes.fromhex(h) for h in hashes]
    except BatchTooLarge:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise InvalidRequest(f'body must be {{"hashes": ["<hex imprint>", ...]}}: {e}') from e
    for i, imp in enumerate(raw):
        if not imp:
            raise HashAlgorithmError(f"hash {i} is empty")
        n = sizes.get(imp[0])
        if n is None:
            raise _refuse(imp[0], at)
        if len(imp) != n + 1:
            raise HashAlgorithmError(
                f"hash {i} has {len(imp) - 1} digest bytes, expected {n}", index=i
            )
    return raw


def parse_batch(body: bytes, *, json: bool, at: datetime, max_batch: int) -> list[bytes]:
    """The imprints of one submission, all checked at ``at``; raise on the first bad one."""
    sizes = usable_sizes(at)
    out = (_split_json if json else _split_binary)(body, sizes, at, max_batch)
    if not out:
        raise InvalidRequest("no hashes submitted")
    return out

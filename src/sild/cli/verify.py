"""``sild verify``: offline receipt verification, no service needed (docs/spec/ledger.md §5).

Exit codes (sild/cli/_exit.py): 0 OK, 5 FAIL, 4 NA (inconclusive: e.g. no key or
publication given).
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import console, no_logs, read_text_arg, table
from sild.cli._exit import Exit
from sild.cli.ledger import imprint_of_hash
from sild.core.imprint import ALGORITHMS, Imprint
from sild.core.ledger_errors import LedgerFormatError
from sild.errors import ConfigurationError

if TYPE_CHECKING:
    from sild.core.note import Ed25519Verifier


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "verify", help="verify a ledger receipt offline (OK / FAIL / NA)"
    )
    p.add_argument("receipt", metavar="RECEIPT", help="a .tlog-proof file from the ledger")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", metavar="F", help="the document the receipt is for")
    what.add_argument("--hash", metavar="H", help="its hex imprint, or 64 hex digits of SHA-256")
    p.add_argument("--publication", metavar="CODE", action="append", default=[],
                   help="a publication code to check against (repeatable)")
    p.add_argument("--policy", metavar="FILE", help="trusted keys, witnesses and quorum")
    p.add_argument("--key", metavar="VKEY", action="append", default=[],
                   help="a trusted ledger verifier key, or a file holding one (repeatable)")
    p.set_defaults(func=run_verify)
    no_logs(p)


def _vkey(text: str) -> Ed25519Verifier:
    from sild.core.note import Ed25519Verifier, parse_verifier_key

    path = Path(text)
    if path.is_file():
        text = read_text_arg(path, "--key").strip()
    key = parse_verifier_key(text)
    if not isinstance(key, Ed25519Verifier):
        raise ConfigurationError("--key must be an Ed25519 (type 0x01) ledger key")
    return key


def _document_imprint(raw: bytes, args: argparse.Namespace, at: datetime) -> bytes:
    if args.hash:
        return imprint_of_hash(args.hash, at=datetime(1970, 1, 1, tzinfo=UTC))
    from sild.core.receipt import parse_receipt

    data = Path(args.file).read_bytes()
    try:
        alg = ALGORITHMS[parse_receipt(raw)[1].imprint[0]]
    except (LedgerFormatError, KeyError, IndexError):
        alg = ALGORITHMS[0x01]  # a malformed receipt fails verification anyway
    if alg.hashlib_name is None:  # cannot hash the document with it: the receipt fails
        alg = ALGORITHMS[0x01]
    assert alg.hashlib_name is not None
    return Imprint(alg, hashlib.new(alg.hashlib_name, data).digest()).to_bytes()


def run_verify(args: argparse.Namespace) -> int:
    from sild.core.calendar import Publication
    from sild.core.verification import Status, TrustPolicy, parse_policy, verify_receipt

    exit_codes = {Status.OK: Exit.OK, Status.FAIL: Exit.FAILED, Status.NA: Exit.INCONCLUSIVE}
    at = datetime.now(UTC)
    try:
        raw = Path(args.receipt).read_bytes()
        policy = (parse_policy(read_text_arg(Path(args.policy), "--policy")) if args.policy
                  else TrustPolicy())
        imprint = _document_imprint(raw, args, at)
    except OSError as e:
        raise ConfigurationError(f"cannot read a file: {e}") from e
    keys = tuple(_vkey(k) for k in args.key)
    pubs = tuple(Publication.from_code(c) for c in args.publication)
    policy = TrustPolicy(
        log_keys=policy.log_keys + keys,
        origin=policy.origin,
        witnesses=policy.witnesses,
        quorum=policy.quorum,
        publications=policy.publications + pubs,
        clock=policy.clock,
    )
    v = verify_receipt(raw, imprint=imprint, policy=policy, at=at)
    table("Verification", ["step", "result", "code", "detail"],
          ((s.step, s.status.value, s.code, s.message) for s in v.steps))
    if v.receipt is not None and v.status is Status.OK:
        r = v.receipt
        console.print(f"{r.imprint.algorithm.name} {r.imprint.digest.hex()} existed at "
                      f"{r.time.isoformat()} (round {r.round_index}, checkpoint size "
                      f"{r.checkpoint.size})")
    console.print(f"{v.status.value} {v.code}: {v.message}")
    return int(exit_codes[v.status])

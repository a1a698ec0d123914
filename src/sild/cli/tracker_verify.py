"""``sild tracker verify PROOF.json``: a usage proof checked offline (tracker.md §3.3–§3.4).

Like ``sild verify``: no service needed. The chain check names the first missing,
altered, back-dated, inserted or withheld record; with ``--ledger-key``/``--policy``/
``--publication`` the anchor section must show the head in the ledger.

Exit codes (sild/cli/_exit.py): 0 OK (complete, head anchored in a trusted ledger),
5 FAIL, 4 NA (consistent, but the head is not anchored yet or no trust anchor was given).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sild.cli._common import console, no_logs, read_text_arg
from sild.cli._exit import Exit
from sild.errors import ConfigurationError, InvalidRequest

__all__ = ["MAX_PROOF", "add_verify_parser", "run_tracker_verify"]

MAX_PROOF = 64 * 1024 * 1024  # a proof of 100,000 records is about 60 MB of JSON


def add_verify_parser(sub: Any) -> None:
    """``verify`` under ``sild tracker``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "verify", help="check a usage proof offline (OK / FAIL / NA)")
    p.add_argument("proof", metavar="PROOF", help="the proof document (JSON) from "
                   "/sild/v1/usageProof?anchor=1, or - for standard input")
    p.add_argument("--ledger-key", "--key", metavar="VKEY", action="append", default=[],
                   dest="ledger_key",
                   help="a trusted ledger verifier key, or a file holding one (repeatable)")
    p.add_argument("--publication", "--publications", metavar="CODE", action="append",
                   default=[], dest="publication",
                   help="a publication code to check against (repeatable)")
    p.add_argument("--policy", metavar="FILE", help="trusted keys, witnesses and quorum")
    p.add_argument("--since", metavar="EARLIER.json", action="append", default=[],
                   help="an earlier proof of the same person and register, kept from "
                   "before: this one must extend its anchored head (repeatable)")
    p.set_defaults(func=run_tracker_verify)
    no_logs(p)


def _read(path: str) -> Any:
    import sys

    try:
        raw = (sys.stdin.buffer.read(MAX_PROOF + 1) if path == "-"
               else _read_file(Path(path)))
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror or e}") from e
    if len(raw) > MAX_PROOF:
        raise ConfigurationError(f"{path} is larger than {MAX_PROOF} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise InvalidRequest(f"{path} is not a JSON document: {e}") from e


def _read_file(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(MAX_PROOF + 1)


def run_tracker_verify(args: argparse.Namespace) -> int:
    from sild.cli.verify import _vkey
    from sild.core.calendar import Publication
    from sild.core.ledger_errors import LedgerFormatError
    from sild.core.usage_proof import verify_usage_proof
    from sild.core.verification import TrustPolicy, parse_policy

    try:
        policy = (parse_policy(read_text_arg(Path(args.policy), "--policy")) if args.policy
                  else TrustPolicy())
        keys = tuple(_vkey(k) for k in args.ledger_key)
        pubs = tuple(Publication.from_code(c) for c in args.publication)
    except (LedgerFormatError, ValueError) as e:
        raise ConfigurationError(str(e)) from e
    except OSError as e:
        raise ConfigurationError(f"cannot read a file: {e}") from e
    policy = TrustPolicy(log_keys=policy.log_keys + keys, origin=policy.origin,
                         witnesses=policy.witnesses, quorum=policy.quorum,
                         publications=policy.publications + pubs, clock=policy.clock)
    proof = _read(args.proof)
    if not isinstance(proof, dict):
        raise InvalidRequest(f"{args.proof} is not a usage proof (a JSON object)")
    at = datetime.now(UTC)
    earlier = []
    for path in args.since:
        old = _read(path)
        checked = verify_usage_proof(old, policy=policy, at=at) if isinstance(old, dict) \
            else None
        if checked is None or checked.verdict == "FAIL":
            raise InvalidRequest(f"{path} is not a usage proof that verifies on its own")
        earlier.append(old)
    result = verify_usage_proof(proof, policy=policy, at=at, earlier=earlier)
    who = f"{proof.get('subject', '?')} in {proof.get('register', '?')}"
    code = f" [{result.anchor.code}]" if result.anchor and result.anchor.code != "OK" else ""
    console.print(f"{result.verdict}{code} {who}: {result.summary()}", markup=False)
    codes = {"OK": Exit.OK, "FAIL": Exit.FAILED, "NA": Exit.INCONCLUSIVE}
    return int(codes[result.verdict])

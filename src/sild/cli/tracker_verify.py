"""``sild tracker verify PROOF.json``: a usage proof checked offline (tracker.md §3.3–§3.4).

Like ``sild verify``: no service needed. The chain check names the first missing,
altered, back-dated, inserted or withheld record; with ``--ledger-key``/``--policy``/
``--publication`` the anchor section must show the head in the ledger.

Exit codes (sild/cli/_exit.py): 0 OK, 5 FAIL, 4 NA. A proof without an anchor section
checked without a trust anchor is the chain check alone (§3.3): 0 when complete, and
the output says the head was not checked against the ledger. Once a ledger key,
publication or policy is given, or the proof carries an anchor section, the verdict is
three-valued: OK only when the head is anchored in a trusted ledger; NA when the head is
not anchored yet or no trust anchor was given.
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
    p.add_argument("proof", metavar="PROOF.json", help="from /sild/v1/usageProof[?anchor=1] "
                   "or `sild tracker proof [--anchor]`; - for standard input")
    p.add_argument("--json", action="store_true", help="the result as JSON")
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
    except IsADirectoryError as e:
        raise InvalidRequest(f"{path} is a folder, not a proof file") from e
    except OSError as e:
        raise InvalidRequest(f"cannot read {path}: {e.strerror or e}") from e
    if len(raw) > MAX_PROOF:
        raise InvalidRequest(f"{path} is larger than {MAX_PROOF} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise InvalidRequest(f"{path} is not a JSON proof") from e


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
    trusted = bool(policy.log_keys or policy.publications)
    if trusted or "anchor" in proof:  # §3.4.4: the head against the ledger, OK/FAIL/NA
        result = verify_usage_proof(proof, policy=policy, at=at, earlier=earlier)
        verdict = result.verdict
    else:  # §3.3 alone, as before the head map
        result = verify_usage_proof(proof, earlier=earlier)
        verdict = "OK" if result.ok else "FAIL"
    anchor = result.anchor
    if args.json:
        print(json.dumps({
            "verdict": verdict, "ok": result.ok, "records": result.records,
            "sealed": result.sealed, "unanchored": result.unanchored,
            "complete_from": result.complete_from,
            "findings": [{"seq": f.seq, "problem": f.problem} for f in result.findings],
            "anchor": None if anchor is None else {
                "status": anchor.status, "code": anchor.code, "message": anchor.message,
                "round": anchor.round_id,
                "anchored_at": anchor.anchored_at.isoformat() if anchor.anchored_at else None},
        }))
    else:
        code = f" [{anchor.code}]" if anchor is not None and anchor.code != "OK" else ""
        note = "" if anchor is not None or not result.ok else (
            " (chain only: the head was not checked against the ledger; ask for the proof "
            "with its anchor section and give --ledger-key)")
        console.print(f"{verdict}{code}: {proof.get('subject', '?')} in "
                      f"{proof.get('register', '?')}: {result.summary()}{note}", markup=False)
    codes = {"OK": Exit.OK, "FAIL": Exit.FAILED, "NA": Exit.INCONCLUSIVE}
    return int(codes[verdict])

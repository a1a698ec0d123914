"""``sild audit --dir GWDIR [--ledger-key VKEY] [--policy FILE]``: check a message log.

docs/spec/anchoring.md §5. Every row is checked against its stored record hash, its
local proof and its round's ledger receipt (offline, with sild.core.verification).
Prints one line per finding, then a summary. Exit codes: 0 clean, 5 findings
(sild/cli/_exit.py).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import _engines, console, read_text_arg
from sild.cli._exit import Exit
from sild.errors import ConfigurationError

if TYPE_CHECKING:
    from sild.core.note import Ed25519Verifier
    from sild.core.verification import TrustPolicy
    from sild.gateway.anchoring.audit_store import AuditReport

__all__ = ["add_parser", "run_audit"]

def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "audit", help="verify a gateway's message log against its anchoring proofs")
    p.add_argument("--dir", required=True, metavar="GWDIR", help="the gateway's folder")
    p.add_argument("--ledger-key", metavar="VKEY", action="append", default=[],
                   help="a trusted ledger verifier key, or a file holding one (repeatable)")
    p.add_argument("--policy", metavar="FILE",
                   help="a verification policy file (docs/spec/ledger.md §5.1)")
    p.set_defaults(func=run_audit)


def _vkey(text: str) -> Ed25519Verifier:
    from sild.core.ledger_errors import LedgerFormatError
    from sild.core.note import Ed25519Verifier, parse_verifier_key

    path = Path(text)
    try:
        if path.is_file():
            text = read_text_arg(path, "--ledger-key").strip()
        key = parse_verifier_key(text)
    except (OSError, LedgerFormatError, ValueError) as e:
        raise ConfigurationError(f"--ledger-key: not a verifier key ({e})") from e
    if not isinstance(key, Ed25519Verifier):
        raise ConfigurationError("--ledger-key must be an Ed25519 (type 0x01) ledger key")
    return key


def _policy(args: argparse.Namespace) -> TrustPolicy:
    from sild.core.ledger_errors import LedgerFormatError
    from sild.core.verification import TrustPolicy, parse_policy

    policy = TrustPolicy()
    if args.policy:
        try:
            policy = parse_policy(read_text_arg(Path(args.policy), "--policy"))
        except LedgerFormatError as e:
            raise ConfigurationError(f"{args.policy}: {e}") from e
    keys = tuple(_vkey(k) for k in args.ledger_key)
    if keys:
        policy = TrustPolicy(policy.log_keys + keys, policy.origin, policy.witnesses,
                             policy.quorum, policy.publications, policy.clock)
    return policy


def run_audit(args: argparse.Namespace) -> int:
    from sild.gateway.anchoring.audit_store import audit_database
    from sild.gateway.config import GatewaySettings
    from sild.store import make_engine

    settings = GatewaySettings.load(Path(args.dir))
    policy = _policy(args)
    engine = make_engine(settings.database_url)
    _engines.append(engine)  # disposed by the CLI root when the command ends
    report = audit_database(engine, policy=policy, at=datetime.now(UTC))
    for f in report.findings:
        console.print(f.line(), markup=False)
    console.print(summary(report), markup=False)
    return int(Exit.OK if report.clean else Exit.FAILED)  # FAILED: as `sild verify`'s FAIL


def summary(report: AuditReport) -> str:
    """One line: counts, and how far the receipts were trusted."""
    trust = "against the ledger key" if report.keyed else \
        "for internal consistency only (give --ledger-key to check the signature)"
    parts = [f"{report.records} records in {report.rounds} rounds",
             f"{report.anchored_rounds} rounds anchored, receipts checked {trust}"]
    if report.pending_rounds:
        parts.append(f"{report.pending_rounds} rounds await their receipt "
                     "(rows checked against the local root only)")
    if report.unanchored_records:
        parts.append(f"{report.unanchored_records} records not yet in a round")
    if report.purged_records:
        parts.append(f"{report.purged_records} archived records purged")
    if report.mapped_heads or report.unmapped_heads:  # docs/spec/tracker.md §3.4.5
        parts.append(f"{report.mapped_heads} usage heads match the anchored head map"
                     + (f", {report.unmapped_heads} not mapped yet"
                        if report.unmapped_heads else ""))
    verdict = "clean" if report.clean else f"{len(report.findings)} findings"
    return f"audit: {verdict}: " + "; ".join(parts)

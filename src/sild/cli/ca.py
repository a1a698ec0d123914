"""``sild ca``: the instance CA issues auth and sign certificates and revokes them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sild.cli._common import (
    add_dir_arg,
    add_passphrase_arg,
    console,
    instance_of,
    open_registry,
    table,
)
from sild.clock import utc_now
from sild.core.identifiers import MemberId, ServerId
from sild.crypto.kinds import CertPurpose
from sild.errors import ConfigurationError, InvalidRequest
from sild.instance import read_passphrase


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("ca", help="the instance certificate authority")
    s = p.add_subparsers(dest="ca_command", metavar="ACTION", required=True)
    issue = s.add_parser("issue", help="issue an auth (gateway) or sign (member) certificate")
    issue.add_argument("--csr", required=True, metavar="FILE")
    issue.add_argument("--purpose", required=True, choices=[c.value for c in CertPurpose])
    issue.add_argument("--id", required=True, dest="identity",
                       help="auth: server id INSTANCE/CLASS/MEMBER/SERVER; "
                            "sign: member id INSTANCE/CLASS/MEMBER")
    issue.add_argument("--address", help="auth only: the gateway's host:port (goes into SAN)")
    issue.add_argument("--days", type=int, default=730)
    issue.add_argument("--out", required=True, metavar="FILE")
    add_dir_arg(issue)
    add_passphrase_arg(issue)
    issue.set_defaults(func=run_issue)
    revoke = s.add_parser("revoke", help="revoke a certificate; flows into global configuration")
    revoke.add_argument("serial", help="certificate serial number (hex)")
    revoke.add_argument("--reason", default="")
    add_dir_arg(revoke)
    revoke.set_defaults(func=run_revoke)
    ls = s.add_parser("list", help="certificates this CA issued")
    add_dir_arg(ls)
    ls.set_defaults(func=run_list)


def run_issue(args: argparse.Namespace) -> int:
    from sild.ca import CertificateAuthority
    from sild.crypto.certs import cert_pem, fingerprint, load_csr, serial_hex

    inst = instance_of(args)
    purpose = CertPurpose(args.purpose)
    # The identity must parse as the right kind before anything is issued.
    identity = str(ServerId.parse(args.identity) if purpose is CertPurpose.AUTH
                   else MemberId.parse(args.identity))
    if not identity.startswith(inst.instance_id + "/"):
        raise InvalidRequest(f"{identity} is not in instance {inst.instance_id}")
    out = Path(args.out)
    if out.exists():
        raise ConfigurationError(f"{out} exists; refusing to overwrite")
    try:
        csr_bytes = Path(args.csr).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read CSR {args.csr}: {e.strerror}") from e
    ca = CertificateAuthority.load(inst.ca_dir, passphrase=read_passphrase(args.passphrase_file))
    cert = ca.issue(load_csr(csr_bytes), purpose=purpose, identity=identity, at=utc_now(),
                    address=args.address, days=args.days)
    out.write_text(cert_pem(cert))
    console.print(f"issued {purpose.value} certificate {serial_hex(cert)} for {identity} "
                  f"→ {out}\n  fingerprint {fingerprint(cert)}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from sild.ca import CertificateAuthority
    from sild.crypto.certs import fingerprint

    inst = instance_of(args)
    ca_cert = CertificateAuthority.load_certificate_only(inst.ca_dir)
    registry = open_registry(inst)
    registry.revoke(fingerprint(ca_cert), args.serial, reason=args.reason)
    console.print(f"revoked {args.serial.lower()}; configuration version {registry.version()}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sild.ca import CertificateAuthority

    inst = instance_of(args)
    issued = CertificateAuthority.list_issued(inst.ca_dir)
    table("Issued certificates", ["serial", "subject", "purpose", "valid until"],
          ((c.serial, c.subject, c.purpose, f"{c.not_after:%Y-%m-%d}") for c in issued))
    return 0

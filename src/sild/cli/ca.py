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
from sild.cli._out import check_out, write_out
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
    issue.add_argument("--address", help="auth only: the gateway's peer host:port "
                       "(the host goes into the SAN), e.g. 127.0.0.1:5500")
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
    if args.address is not None:
        check_address(args.address)
    out = Path(args.out)
    check_out(out, overwrite=False)  # before issuing: an issued certificate is not lost
    try:
        csr_bytes = Path(args.csr).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read CSR {args.csr}: {e.strerror}") from e
    ca = CertificateAuthority.load(inst.ca_dir, passphrase=read_passphrase(args.passphrase_file))
    cert = ca.issue(load_csr(csr_bytes), purpose=purpose, identity=identity, at=utc_now(),
                    address=args.address, days=args.days)
    write_out(out, cert_pem(cert).encode())
    console.print(f"issued {purpose.value} certificate {serial_hex(cert)} for {identity} "
                  f"→ {out}\n  fingerprint {fingerprint(cert)}")
    return 0


def check_address(text: str) -> None:
    """``--address``: the gateway's peer ``host:port`` (port 1-65535, host a name or IP)."""
    from sild.crypto.certs import san_for_address

    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidRequest(f"--address {text[:80]!r} must be host:port with a port 1-65535 "
                             "(the gateway's peer address, e.g. 127.0.0.1:5500)")
    san_for_address(text)  # the host: an IP address or a DNS name


def _issued_serials(ca_dir: Path) -> dict[int, str]:
    from sild.ca import CertificateAuthority

    return {int(c.serial, 16): c.serial for c in CertificateAuthority.list_issued(ca_dir)}


def run_revoke(args: argparse.Namespace) -> int:
    from sild.ca import CertificateAuthority
    from sild.crypto.certs import fingerprint

    inst = instance_of(args)
    ca_cert = CertificateAuthority.load_certificate_only(inst.ca_dir)
    text = args.serial.strip().lower().removeprefix("0x")
    try:
        number = int(text, 16)
    except ValueError:
        raise InvalidRequest(f"serial {args.serial[:80]!r} is not hexadecimal") from None
    if number not in _issued_serials(inst.ca_dir):
        raise InvalidRequest(f"this CA never issued a certificate with serial {text[:80]}; "
                             "`sild ca list` shows the serials it issued")
    registry = open_registry(inst)
    registry.revoke(fingerprint(ca_cert), args.serial, reason=args.reason)
    console.print(f"revoked {args.serial.lower()}; configuration version {registry.version()}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sild.ca import CertificateAuthority
    from sild.crypto.certs import fingerprint

    inst = instance_of(args)
    issued = CertificateAuthority.list_issued(inst.ca_dir)
    ca_cert = CertificateAuthority.load_certificate_only(inst.ca_dir)
    revoked = open_registry(inst).revocations(fingerprint(ca_cert))

    def status(serial: str) -> str:
        rev = revoked.get(format(int(serial, 16), "x"))
        if rev is None:
            return "valid"
        at, reason = rev
        return f"revoked {at:%Y-%m-%d %H:%M}" + (f" ({reason})" if reason else "")

    table("Issued certificates", ["serial", "subject", "purpose", "valid until", "status"],
          ((c.serial, c.subject, c.purpose, f"{c.not_after:%Y-%m-%d}", status(c.serial))
           for c in issued))
    return 0

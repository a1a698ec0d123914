"""``sild doc sign|verify|show``: signed documents, ASiC-E containers with XAdES-LT
signatures (docs/spec/documents.md; docs/guide.md "Signed documents").

Thin: parse arguments, call :mod:`sild.doc`, print. Exit codes (sild/cli/_exit.py):
``verify`` 0 every signature VALID, 5 one INVALID, 4 one INDETERMINATE (none invalid,
or no signature); 2 a container that is not well formed, a missing file, a folder, a
wrong PIN; 3 the TSA or OCSP responder cannot be reached. PINs are read from files
(``-`` = standard input), never from the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import no_logs

if TYPE_CHECKING:
    from sild.doc.verify import ContainerReport

MAX_INPUT = 1024 * 1024 * 1024


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "doc", help="signed documents: ASiC-E containers with XAdES-LT signatures")
    s = p.add_subparsers(dest="doc_command", metavar="ACTION", required=True)

    c = s.add_parser("sign", help="sign files into a new container, or add a signature to one")
    c.add_argument("container", metavar="CONTAINER", help="the .asice to write or extend")
    c.add_argument("files", nargs="*", metavar="FILE",
                   help="data files for a new container (none: add a signature to CONTAINER)")
    c.add_argument("--token", required=True, metavar="TOKEN", help="the signer's soft token")
    c.add_argument("--pin2-file", required=True, metavar="FILE",
                   help="file whose first line is PIN2 (- = standard input)")
    c.add_argument("--ca", required=True, action="append", metavar="PEM",
                   help="the signer's CA certificate(s), e.g. identity/ca/chain.pem")
    c.add_argument("--tsa-url", required=True, metavar="URL", help="the RFC 3161 TSA")
    c.add_argument("--ocsp-url", metavar="URL",
                   help="the OCSP responder (default: the certificate's AIA OCSP URL)")
    c.set_defaults(func=run_sign)

    c = s.add_parser("verify", help="validate every signature: VALID / INVALID / INDETERMINATE")
    c.add_argument("container", metavar="FILE")
    c.add_argument("--trust", action="append", default=[], metavar="PEM-or-folder",
                   help="trusted certificates: roots, issuing CAs, OCSP responders, TSAs "
                        "(repeatable)")
    c.add_argument("--ledger-key", action="append", default=[], metavar="VKEY",
                   help="check the ledger receipts Sild's timestamps carry with this key")
    c.add_argument("--ledger-policy", metavar="FILE", help="a `sild verify` policy file")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=run_verify)
    no_logs(c)

    c = s.add_parser("show", help="list the files and signatures (nothing is verified)")
    c.add_argument("container", metavar="FILE")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_show)
    no_logs(c)


def _read(path: str, what: str) -> bytes:
    from sild.errors import InvalidContainer

    p = Path(path)
    if p.is_dir():
        raise InvalidContainer(f"{what} {path} is a folder, not a file")
    try:
        with p.open("rb") as f:
            data = f.read(MAX_INPUT + 1)
    except OSError as e:
        raise InvalidContainer(f"cannot read {what} {path}: {e.strerror}") from e
    if len(data) > MAX_INPUT:
        raise InvalidContainer(f"{what} {path} is larger than {MAX_INPUT} bytes")
    return data


def _pin(path: str) -> str:
    import sys

    raw = sys.stdin.buffer.read(1024) if path == "-" else _read(path, "PIN2 file")[:1024]
    lines = raw.decode("utf-8", "replace").splitlines()
    return lines[0].strip() if lines else ""


def _ocsp_url_of(cert: Any) -> str | None:
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for d in aia:
        if d.access_method == AuthorityInformationAccessOID.OCSP and \
                isinstance(d.access_location, x509.UniformResourceIdentifier):
            return str(d.access_location.value)
    return None


def run_sign(args: argparse.Namespace) -> int:
    import mimetypes
    from datetime import UTC, datetime

    from sild.cli._common import console
    from sild.doc.container import read_container, write_container
    from sild.doc.sign import Services, add_signature, new_container
    from sild.doc.trust import load_certificates
    from sild.errors import InvalidRequest
    from sild.files import atomic_write
    from sild.identity.token import SoftToken

    out = Path(args.container)
    if args.files:
        if out.exists():
            raise InvalidRequest(f"{out} exists; give no FILE to add a signature to it")
        files: dict[str, bytes] = {}
        types: dict[str, str] = {}
        for f in args.files:
            name = Path(f).name
            if name in files:
                raise InvalidRequest(f"two data files are named {name!r}")
            files[name] = _read(f, "data file")
            types[name] = mimetypes.guess_type(name)[0] or "application/octet-stream"
        container = new_container(files, types)
    else:
        container = read_container(_read(args.container, "container"))
    token = SoftToken.open(Path(args.token))
    certificate = token.certificate("sign")
    chain = [c for p in args.ca for c in load_certificates(Path(p))]
    ocsp_url = args.ocsp_url or _ocsp_url_of(certificate)
    if not ocsp_url:
        raise InvalidRequest("the certificate names no OCSP responder; give --ocsp-url")
    pin2 = _pin(args.pin2_file)
    signed = add_signature(
        container, certificate=certificate, chain=chain,
        sign=lambda data: token.sign(pin2=pin2, data=data),
        services=Services.http(tsa_url=args.tsa_url, ocsp_url=ocsp_url),
        at=datetime.now(UTC).replace(microsecond=0))
    atomic_write(out, write_container(signed))
    name = sorted(set(signed.signatures) - set(container.signatures))[0]
    console.print(f"signed {', '.join(signed.files)} → {out} ({name}, "
                  f"{len(signed.signatures)} signature(s))", markup=False)
    return 0


def _policy(args: argparse.Namespace) -> Any:
    if not args.ledger_key and not args.ledger_policy:
        return None
    from sild.cli.identity_services import _ledger_policy

    return _ledger_policy(args.ledger_key, args.ledger_policy)


def _exit_for(report: ContainerReport) -> int:
    from sild.cli._exit import Exit
    from sild.doc.verify import Indication

    return int({Indication.VALID: Exit.OK, Indication.INVALID: Exit.FAILED,
                Indication.INDETERMINATE: Exit.INCONCLUSIVE}[report.indication])


def run_verify(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from sild.cli._common import console, table
    from sild.doc.trust import TrustList
    from sild.doc.verify import verify_container

    trust = TrustList.from_paths(Path(p) for p in args.trust)
    data = _read(args.container, "container")
    report = verify_container(data, trust=trust, policy=_policy(args), at=datetime.now(UTC))
    if args.json:
        print(json.dumps(report.as_json(), indent=1, ensure_ascii=False))
        return _exit_for(report)
    table("Files", ["name", "bytes", "media type"], report.files)
    for s in report.signatures:
        table(f"{s.name}: {s.indication.value}", ["step", "result", "detail"],
              ((st.name, st.status.value, st.message) for st in s.steps))
        for note in s.notes:
            console.print(f"  note: {note}", markup=False)
        console.print(f"{s.name}: {s.indication.value} — {s.reason}"
                      + (f" (signer {s.signer_serial or s.signer})" if s.signer else ""),
                      markup=False)
    if not report.signatures:
        console.print("INDETERMINATE — the container has no signatures", markup=False)
    else:
        console.print(f"container: {report.indication.value}", markup=False)
    return _exit_for(report)


def run_show(args: argparse.Namespace) -> int:
    import json

    from sild.cli._common import table
    from sild.doc.container import read_container
    from sild.doc.show import describe

    container = read_container(_read(args.container, "container"))
    sigs = describe(container)
    files = [{"name": n, "size": len(b),
              "mimetype": container.mimetypes.get(n, "application/octet-stream")}
             for n, b in container.files.items()]
    if args.json:
        print(json.dumps({"files": files, "signatures": sigs}, indent=1, ensure_ascii=False))
        return 0
    table("Files", ["name", "bytes", "media type"],
          ((f["name"], f["size"], f["mimetype"]) for f in files))
    table("Signatures (not verified; use sild doc verify)",
          ["file", "signer", "claimed signing time", "timestamp"],
          ((s.get("file"), s.get("signer_serial_number") or s.get("signer") or s.get("error"),
            s.get("claimed_signing_time"), s.get("timestamp")) for s in sigs))
    return 0

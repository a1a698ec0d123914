"""``sild identity ocsp …`` and ``sild identity tsa …``: the OCSP responder and the
timestamping authority (docs/spec/ocsp.md, docs/spec/tsa.md, docs/operations.md).

Wired under ``sild identity`` by :mod:`sild.cli.identity`::

    add_ocsp_parser(identity_subparsers, source_factory=None)
    add_tsa_parser(identity_subparsers)

``source_factory(args) -> StatusSource`` lets the identity store answer OCSP questions
(``ocsp serve`` then takes the instance folder as ``--dir``); without it, or with
``--index``, the responder reads an OpenSSL ``index.txt``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography import x509

    from sild.identity.status import StatusSource

__all__ = ["add_ocsp_parser", "add_tsa_parser"]

DEFAULT_OCSP_LISTEN = "127.0.0.1:8480"
DEFAULT_TSA_LISTEN = "127.0.0.1:8481"

SourceFactory = Callable[[argparse.Namespace], "StatusSource"]


def _passphrase(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="file whose first line is the key passphrase "
                        "(default: $SILD_PASSPHRASE_FILE; none = unencrypted keys)")


def add_ocsp_parser(sub: Any, *, source_factory: SourceFactory | None = None) -> None:
    """``ocsp init`` (a delegated responder certificate) and ``ocsp serve``."""
    p: argparse.ArgumentParser = sub.add_parser("ocsp", help="the OCSP responder (RFC 6960)")
    s = p.add_subparsers(dest="ocsp_command", metavar="ACTION", required=True)

    init = s.add_parser("init", help="make a delegated responder key and certificate "
                                     "(id-kp-OCSPSigning) signed by the CA")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--issuer", required=True, metavar="CA.pem", help="the CA certificate")
    init.add_argument("--issuer-key", required=True, metavar="CA.key", help="the CA key")
    init.add_argument("--days", type=int, default=365, help="lifetime (default 365)")
    _passphrase(init)
    init.set_defaults(func=run_ocsp_init)

    serve = s.add_parser("serve", help="answer OCSP over HTTP (POST and GET)")
    serve.add_argument("--responder", metavar="DIR",
                       help="a folder from `ocsp init` (issuer.pem, responder.pem/.key)")
    serve.add_argument("--issuer", metavar="CA.pem", help="the CA answered for")
    serve.add_argument("--cert", metavar="PEM",
                       help="signing certificate: a delegated responder's or the CA's own")
    serve.add_argument("--key", metavar="KEY", help="its private key")
    serve.add_argument("--index", metavar="index.txt",
                       help="OpenSSL CA database to answer from (re-read when it changes)"
                            + ("" if source_factory is None else
                               "; default: the identity store of the instance (--dir)"))
    if source_factory is not None:
        serve.add_argument("--dir", metavar="DIR",
                           help="instance folder (default: $SILD_HOME or the current folder)")
    serve.add_argument("--listen", default=DEFAULT_OCSP_LISTEN,
                       help=f"host:port (default {DEFAULT_OCSP_LISTEN})")
    serve.add_argument("--next-update", type=int, default=300, metavar="SECONDS",
                       help="nextUpdate - thisUpdate (default 300)")
    _passphrase(serve)
    serve.set_defaults(func=lambda a: run_ocsp_serve(a, source_factory))


def add_tsa_parser(sub: Any) -> None:
    """``tsa init``, ``tsa serve``, ``tsa verify`` and ``tsa extend``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "tsa", help="the timestamping authority (RFC 3161) backed by the ledger")
    s = p.add_subparsers(dest="tsa_command", metavar="ACTION", required=True)

    init = s.add_parser("init", help="make a TSA key and certificate (timeStamping) "
                                     "signed by the CA")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--issuer", required=True, metavar="CA.pem", help="the CA certificate")
    init.add_argument("--issuer-key", required=True, metavar="CA.key", help="the CA key")
    init.add_argument("--name", default="Sild TSA", help="the TSA's common name")
    init.add_argument("--days", type=int, default=730, help="lifetime (default 730)")
    _passphrase(init)
    init.set_defaults(func=run_tsa_init)

    serve = s.add_parser("serve", help="issue RFC 3161 tokens over HTTP")
    serve.add_argument("--tsa", required=True, metavar="DIR", help="a folder from `tsa init`")
    serve.add_argument("--ledger", required=True, metavar="URL", help="the ledger's URL")
    serve.add_argument("--ledger-key", metavar="VKEY", action="append", default=[],
                       help="the ledger's verifier key, or a file holding it")
    serve.add_argument("--ledger-policy", metavar="FILE",
                       help="a `sild verify` policy file (keys, witnesses, genesis)")
    serve.add_argument("--ledger-credential", metavar="FILE",
                       help="the TSA's API key for the ledger (`sild ledger key add`)")
    serve.add_argument("--listen", default=DEFAULT_TSA_LISTEN,
                       help=f"host:port (default {DEFAULT_TSA_LISTEN})")
    _passphrase(serve)
    serve.set_defaults(func=run_tsa_serve)

    verify = s.add_parser("verify", help="verify a timestamp as RFC 3161 and against the "
                                         "ledger, offline (OK / FAIL / NA)")
    verify.add_argument("token", metavar="TOKEN", help="a .tsr reply or a bare token")
    what = verify.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", metavar="F", help="the timestamped document")
    what.add_argument("--digest", metavar="HEX", help="its digest with the token's algorithm")
    verify.add_argument("--root", required=True, action="append", metavar="CA.pem",
                        help="a trusted root for the TSA certificate (repeatable)")
    verify.add_argument("--tsa-cert", action="append", default=[], metavar="PEM",
                        help="the TSA certificate, if the token does not carry it")
    verify.add_argument("--key", action="append", default=[], metavar="VKEY",
                        help="a trusted ledger verifier key, or a file holding it")
    verify.add_argument("--publication", action="append", default=[], metavar="CODE",
                        help="a publication code to check against (repeatable)")
    verify.add_argument("--policy", metavar="FILE", help="a `sild verify` policy file")
    verify.set_defaults(func=run_tsa_verify)

    ext = s.add_parser("extend", help="replace a token's receipt by one extended to a later "
                                      "checkpoint or a publication (signature unchanged)")
    ext.add_argument("token", metavar="TOKEN")
    ext.add_argument("--url", required=True, help="the ledger, or a web server with its tiles")
    ext.add_argument("--publication", metavar="CODE")
    ext.add_argument("--out", required=True, metavar="NEW")
    ext.set_defaults(func=run_tsa_extend)


# --- helpers -------------------------------------------------------------------------


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {what} {path}: {e.strerror}") from e


def _cert(path: str | Path, what: str = "certificate") -> x509.Certificate:
    from sild.crypto.certs import load_certificate

    return load_certificate(_read(path, what))


def _key(path: str | Path, args: argparse.Namespace) -> Any:
    from sild.crypto.keys import load_private_key
    from sild.instance import read_passphrase

    return load_private_key(Path(path), passphrase=read_passphrase(args.passphrase_file))


def _fresh_dir(folder: Path, *names: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"{folder} exists and is not a folder")
    for name in names:
        if (folder / name).exists():
            raise ConfigurationError(f"{folder / name} already exists; not overwritten")
    folder.mkdir(parents=True, exist_ok=True)


def _save(folder: Path, name: str, key: Any, cert: x509.Certificate, issuer: x509.Certificate,
          passphrase: bytes | None) -> None:
    from sild.crypto.certs import cert_pem
    from sild.crypto.keys import save_private_key

    save_private_key(folder / f"{name}.key", key, passphrase=passphrase)
    (folder / f"{name}.pem").write_text(cert_pem(cert))
    (folder / "issuer.pem").write_text(cert_pem(issuer))


def _listen(text: str) -> tuple[str, int]:
    from sild.instance import parse_listen

    return parse_listen(text)


def _run(coro: Any) -> int:
    from sild.cli._serve import run_until_signal

    return run_until_signal(coro)  # SIGTERM as Ctrl-C: graceful, exit 0


# --- OCSP ------------------------------------------------------------------------------


def run_ocsp_init(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.crypto.keys import generate_key
    from sild.identity.ocsp import issue_responder_certificate
    from sild.instance import read_passphrase

    folder = Path(args.dir)
    issuer = _cert(args.issuer, "CA certificate")
    ca_key = _key(args.issuer_key, args)
    if not 0 < args.days <= 3650:
        raise ConfigurationError("--days must be 1..3650")
    _fresh_dir(folder, "responder.key", "responder.pem")
    key = generate_key()
    cert = issue_responder_certificate(issuer=issuer, issuer_key=ca_key,
                                       public_key=key.public_key(), at=datetime.now(UTC),
                                       days=args.days)
    _save(folder, "responder", key, cert, issuer, read_passphrase(args.passphrase_file))
    console.print(f"OCSP responder certificate {cert.serial_number:x} for "
                  f"{issuer.subject.rfc4514_string()} in {folder}")
    return 0


def run_ocsp_serve(args: argparse.Namespace, source_factory: SourceFactory | None) -> int:
    from sild.cli._common import console
    from sild.identity.ocsp import OcspLimits
    from sild.identity.ocsp_http import serve_ocsp
    from sild.identity.ocsp_index import IndexFileSource

    folder = Path(args.responder) if args.responder else None
    issuer_path = args.issuer or (folder / "issuer.pem" if folder else None)
    cert_path = args.cert or (folder / "responder.pem" if folder else None)
    key_path = args.key or (folder / "responder.key" if folder else None)
    if issuer_path is None or cert_path is None or key_path is None:
        raise ConfigurationError("give --responder DIR, or --issuer, --cert and --key")
    if not 0 < args.next_update <= 7 * 86400:
        raise ConfigurationError("--next-update must be 1..604800 seconds")
    blocking = True  # a store may block on its database: answer in a worker thread
    if args.index:
        source: StatusSource = IndexFileSource(Path(args.index))
        blocking = False  # a table in memory and one stat() per question
    elif source_factory is not None:
        source = source_factory(args)
    else:
        raise ConfigurationError("give --index (an OpenSSL index.txt) to answer from")
    issuer, cert, key = _cert(issuer_path), _cert(cert_path), _key(key_path, args)
    host, port = _listen(args.listen)
    mode = "delegated responder" if cert != issuer else "CA key"
    return _run(serve_ocsp(
        issuer=issuer, certificate=cert, key=key, source=source, host=host, port=port,
        limits=OcspLimits(next_update=timedelta(seconds=args.next_update)),
        blocking_source=blocking, started=lambda url: console.print(
            f"OCSP responder for {issuer.subject.rfc4514_string()} on {url} ({mode})")))


# --- TSA -------------------------------------------------------------------------------


def run_tsa_init(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.crypto.keys import generate_key
    from sild.identity.tsa import issue_tsa_certificate
    from sild.instance import read_passphrase

    folder = Path(args.dir)
    issuer = _cert(args.issuer, "CA certificate")
    ca_key = _key(args.issuer_key, args)
    if not 0 < args.days <= 3650:
        raise ConfigurationError("--days must be 1..3650")
    _fresh_dir(folder, "tsa.key", "tsa.pem")
    key = generate_key()
    cert = issue_tsa_certificate(issuer=issuer, issuer_key=ca_key, public_key=key.public_key(),
                                 name=args.name, at=datetime.now(UTC), days=args.days)
    _save(folder, "tsa", key, cert, issuer, read_passphrase(args.passphrase_file))
    console.print(f"TSA certificate {cert.serial_number:x} ({args.name}) in {folder}")
    return 0


def _ledger_policy(keys: list[str], policy_file: str | None,
                   publications: list[str] | None = None) -> Any:
    from sild.cli.verify import _vkey
    from sild.core.calendar import Publication
    from sild.core.verification import TrustPolicy, parse_policy

    base = parse_policy(_read(policy_file, "policy file").decode("utf-8", "replace")) \
        if policy_file else TrustPolicy()
    return TrustPolicy(
        log_keys=base.log_keys + tuple(_vkey(k) for k in keys), origin=base.origin,
        witnesses=base.witnesses, quorum=base.quorum,
        publications=base.publications + tuple(Publication.from_code(c)
                                               for c in publications or []),
        clock=base.clock)


def run_tsa_serve(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.identity.tsa import TsaSigner
    from sild.identity.tsa_http import serve_tsa

    folder = Path(args.tsa)
    policy = _ledger_policy(args.ledger_key, args.ledger_policy)
    if not policy.log_keys:
        raise ConfigurationError("give --ledger-key (or a --ledger-policy with a log key): "
                                 "the TSA checks every receipt before it signs")
    signer = TsaSigner(certificate=_cert(folder / "tsa.pem"), key=_key(folder / "tsa.key", args))
    host, port = _listen(args.listen)
    from sild.ledger.submitters import read_credential

    credential = (read_credential(Path(args.ledger_credential)) if args.ledger_credential
                  else None)
    return _run(serve_tsa(
        signer=signer, ledger_url=args.ledger, ledger_policy=policy, host=host, port=port,
        ledger_credential=credential,
        started=lambda url: console.print(f"TSA on {url}, ledger {args.ledger}")))


def run_tsa_verify(args: argparse.Namespace) -> int:
    """Exit 0 OK, 5 FAIL, 4 NA, as ``sild verify`` (sild/cli/_exit.py)."""
    from sild.cli._common import console, table
    from sild.cli._exit import Exit
    from sild.errors import InvalidRequest
    from sild.identity.tsa_verify import verify_timestamp

    token = _read(args.token, "token")
    document = _read(args.file, "document") if args.file else None
    digest = None
    if args.digest:
        try:
            digest = bytes.fromhex(args.digest)
        except ValueError as e:
            raise InvalidRequest("--digest must be hexadecimal") from e
    v = verify_timestamp(
        token, document=document, document_digest=digest,
        roots=[_cert(r, "root certificate") for r in args.root],
        tsa_certificates=[_cert(c, "TSA certificate") for c in args.tsa_cert],
        policy=_ledger_policy(args.key, args.policy, args.publication), at=datetime.now(UTC))
    table("Timestamp", ["step", "result", "code", "detail"],
          ((s.step, s.status.value, s.code, s.message) for s in v.steps))
    if v.receipt is not None and v.status.value == "OK":
        console.print(f"the document existed at {v.receipt.time.isoformat()} "
                      f"(ledger round {v.receipt.round_index})")
    console.print(f"{v.status.value} {v.code}: {v.message}")
    codes = {"OK": Exit.OK, "FAIL": Exit.FAILED, "NA": Exit.INCONCLUSIVE}
    return int(codes[v.status.value])


def run_tsa_extend(args: argparse.Namespace) -> int:
    from sild.cli._common import console
    from sild.core.calendar import Publication
    from sild.core.ledger_errors import ProofError
    from sild.errors import InvalidRequest
    from sild.identity.tsa import receipt_of, replace_receipt
    from sild.ledger.client import LedgerClient

    token = _read(args.token, "token")
    receipt = receipt_of(token)
    if receipt is None:
        raise InvalidRequest(f"{args.token} carries no ledger receipt")
    pub = Publication.from_code(args.publication) if args.publication else None

    async def go() -> bytes:
        async with LedgerClient(args.url) as client:
            return await client.extend(receipt, publication=pub)

    try:
        import asyncio

        new = asyncio.run(go())
    except ProofError as e:
        console.print(f"FAIL {e.xroad_code}: cannot extend: {e.message}")
        from sild.cli._exit import Exit

        return int(Exit.FAILED)  # as `sild ledger extend` (sild/cli/_exit.py)
    Path(args.out).write_bytes(replace_receipt(token, new))
    console.print(f"timestamp with extended receipt written to {args.out}")
    return 0

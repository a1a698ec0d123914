"""``sild identity ocsp init|serve`` (docs/operations.md, docs/spec/ocsp.md §5): the
commands as an operator runs them, against the real ``openssl ocsp``."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.ca import CertificateAuthority
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key
from sild.embedded import free_port
from sild.errors import SildError
from sild.testing.cli import running as serving
from sild.testing.cli import sild


def sild_identity(*argv: str) -> int:
    """``sild identity ARGV…`` as an operator runs it (one-line errors, exit codes)."""
    return sild("identity", *argv)


@contextlib.contextmanager
def running(*argv: str, port: int) -> Iterator[dict[str, object]]:
    """``sild identity …serve`` in a child process until Ctrl-C (sild.testing.cli)."""
    with serving("identity", *argv, port=port) as done:
        yield done


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    now = datetime.now(UTC)
    ca = CertificateAuthority.create(tmp_path / "ca", name="Person CA", at=now)
    key = generate_key(KeyType.P256)
    person = ca.issue(build_csr(key, "PNOEE-38001085718"), purpose=CertPurpose.SIGN,
                      identity="PNOEE-38001085718", at=now)
    (tmp_path / "person.pem").write_text(cert_pem(person))
    (tmp_path / "index.txt").write_text(
        f"V\t301206120000Z\t\t{person.serial_number:X}\tunknown\t/CN=x\n")
    return ca


def _init(tmp_path: Path) -> int:
    return sild_identity("ocsp", "init", str(tmp_path / "ocsp"),
                         "--issuer", str(tmp_path / "ca" / "ca.pem"),
                         "--issuer-key", str(tmp_path / "ca" / "ca.key"))


def test_init_makes_a_delegated_responder(ca: CertificateAuthority, tmp_path: Path) -> None:
    """`ocsp init` writes responder.key (0600), responder.pem and issuer.pem."""
    assert _init(tmp_path) == 0
    folder = tmp_path / "ocsp"
    assert {p.name for p in folder.iterdir()} >= {"responder.key", "responder.pem",
                                                  "issuer.pem"}
    assert os.stat(folder / "responder.key").st_mode & 0o777 == 0o600


def test_init_does_not_overwrite(ca: CertificateAuthority, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A second init into the same folder is refused in one line."""
    assert _init(tmp_path) == 0
    assert _init(tmp_path) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(("issuer", "code", "message"), [
    ("missing.pem", 1, "cannot read"),
    ("ca", 1, "cannot read"),            # a folder
    ("binary.pem", 2, "not a valid"),    # not a certificate
])
def test_init_bad_issuer(ca: CertificateAuthority, tmp_path: Path, issuer: str, code: int,
                         message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing, folder or binary CA certificate is a one-line error, no traceback."""
    (tmp_path / "binary.pem").write_bytes(b"\x00\xff" * 10)
    assert sild_identity("ocsp", "init", str(tmp_path / "o"), "--issuer",
                         str(tmp_path / issuer), "--issuer-key",
                         str(tmp_path / "ca" / "ca.key")) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_serve_without_index_is_refused(ca: CertificateAuthority, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Serving needs somewhere to answer from: without --index, the identity store of the
    instance in --dir (here: none, so a one-line error naming it)."""
    assert _init(tmp_path) == 0
    assert sild_identity("ocsp", "serve", "--responder", str(tmp_path / "ocsp"), "--dir",
                         str(tmp_path / "no-instance")) == 1
    assert "not a Sild instance" in capsys.readouterr().err


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999"])
def test_serve_bad_listen(ca: CertificateAuthority, tmp_path: Path, listen: str) -> None:
    """A malformed --listen is a one-line error."""
    assert _init(tmp_path) == 0
    assert sild_identity("ocsp", "serve", "--responder", str(tmp_path / "ocsp"), "--index",
                         str(tmp_path / "index.txt"), "--listen", listen) == 1


def test_serve_answers_openssl(ca: CertificateAuthority, tmp_path: Path) -> None:
    """`ocsp serve --responder --index` answers openssl (delegated responder, the default)."""
    assert _init(tmp_path) == 0
    port = free_port()
    with running("ocsp", "serve", "--responder", str(tmp_path / "ocsp"), "--index",
                 str(tmp_path / "index.txt"), "--listen", f"127.0.0.1:{port}", port=port) as p:
        out = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(tmp_path / "ca" / "ca.pem"),
             "-cert", str(tmp_path / "person.pem"), "-url", f"http://127.0.0.1:{port}/",
             "-CAfile", str(tmp_path / "ca" / "ca.pem")],
            capture_output=True, text=True, timeout=30, check=False)
    assert "Response verify OK" in out.stderr
    assert "person.pem: good" in out.stdout
    assert p["code"] == 0  # Ctrl-C stops a server gracefully (docs/operations.md)
    assert "(delegated responder)" in str(p["out"])
    assert "Traceback" not in str(p["err"])


def test_serve_with_the_ca_key(ca: CertificateAuthority, tmp_path: Path) -> None:
    """`--cert CA.pem --key CA.key` signs with the CA itself; openssl accepts that too."""
    port = free_port()
    with running("ocsp", "serve", "--issuer", str(tmp_path / "ca" / "ca.pem"),
                 "--cert", str(tmp_path / "ca" / "ca.pem"),
                 "--key", str(tmp_path / "ca" / "ca.key"),
                 "--index", str(tmp_path / "index.txt"), "--listen", f"127.0.0.1:{port}",
                 port=port):
        out = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(tmp_path / "ca" / "ca.pem"),
             "-cert", str(tmp_path / "person.pem"), "-url", f"http://127.0.0.1:{port}/",
             "-CAfile", str(tmp_path / "ca" / "ca.pem")],
            capture_output=True, text=True, timeout=30, check=False)
    assert "Response verify OK" in out.stderr
    assert "person.pem: good" in out.stdout


def test_source_factory_gets_the_instance_folder(ca: CertificateAuthority,
                                                 tmp_path: Path) -> None:
    """With a source factory (the identity store), `serve --dir` names the instance and
    the factory builds the source from it; --index is then optional."""
    from sild.cli.identity_services import add_ocsp_parser
    from sild.identity.status import StatusAnswer

    seen: list[str] = []

    class Store:
        def status(self, serial: int) -> StatusAnswer:
            return StatusAnswer.good()

    def factory(args: argparse.Namespace) -> Store:
        seen.append(args.dir)
        return Store()

    assert _init(tmp_path) == 0
    p = argparse.ArgumentParser()
    add_ocsp_parser(p.add_subparsers(required=True), source_factory=factory)
    args = p.parse_args(["ocsp", "serve", "--responder", str(tmp_path / "ocsp"),
                         "--dir", "INSTANCE", "--listen", "bad"])
    with pytest.raises(SildError, match="listen"):  # stops right after building the source
        args.func(args)
    assert seen == ["INSTANCE"]

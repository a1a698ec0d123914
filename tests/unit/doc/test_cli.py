"""`sild doc verify|show` exit codes and bad input (sild/cli/_exit.py): 0 VALID, 5 INVALID,
4 INDETERMINATE, 2 a container that is not one; one line on stderr, no traceback."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from sild.doc.container import MIMETYPE, build_manifest
from sild.testing.cli import sild
from sild.testing.documents import DocWorld

DATA = Path(__file__).resolve().parents[2] / "data" / "doc"
TRUST = str(DATA / "trust")


@pytest.mark.parametrize(("name", "code"), [("valid-asice.asice", 0),
                                            ("forged_lt.asice", 5),
                                            ("valid-bdoc-tm.bdoc", 4)])
def test_verify_exit_codes(name: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    """VALID 0, INVALID 5, INDETERMINATE 4, on real DigiDoc containers."""
    assert sild("doc", "verify", str(DATA / name), "--trust", TRUST) == code
    out = capsys.readouterr().out
    assert {0: "container: VALID", 5: "container: INVALID",
            4: "container: INDETERMINATE"}[code] in out


def test_verify_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the report: indication, files, per-signature steps."""
    assert sild("doc", "verify", str(DATA / "valid-asice.asice"), "--trust", TRUST,
                "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indication"] == "VALID"
    assert report["files"] == [{"name": "test.txt", "size": 15, "mimetype": "text/plain"}]
    assert report["signatures"][0]["claimed_signing_time"] == "2018-11-23T12:24:04Z"


def _compressed_mimetype(tmp_path: Path) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", MIMETYPE, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", build_manifest({}))
    (tmp_path / "c.asice").write_bytes(out.getvalue())
    return tmp_path / "c.asice"


def _traversal(tmp_path: Path) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", MIMETYPE)
        zf.writestr("META-INF/manifest.xml", build_manifest({"../../etc/x": "text/plain"}))
        zf.writestr("../../etc/x", b"x")
    (tmp_path / "t.asice").write_bytes(out.getvalue())
    return tmp_path / "t.asice"


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p / "missing.asice", "cannot read container"),
    (lambda p: p, "is a folder"),
    (lambda p: (p / "x.asice").write_bytes(b"plain text") and p / "x.asice", "not a zip"),
    (_compressed_mimetype, "'mimetype' is compressed"),
    (_traversal, "path traversal"),
    (lambda p: DATA / "zip-bomb.asice", "first entry is not 'mimetype'"),
])
@pytest.mark.parametrize("command", ["verify", "show"])
def test_bad_input_is_one_line_exit_2(make: object, message: str, command: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Missing file, folder, not a zip, compressed mimetype, traversal, zip bomb → 2."""
    path = make(tmp_path)  # type: ignore[operator]
    assert sild("doc", command, str(path)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_trust_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--trust naming a file without certificates → one line, exit 2."""
    (tmp_path / "junk.pem").write_text("no certificates here")
    assert sild("doc", "verify", str(DATA / "valid-asice.asice"), "--trust",
                str(tmp_path / "junk.pem")) == 2
    assert "holds no readable certificate" in capsys.readouterr().err


def test_show_lists_signers(capsys: pytest.CaptureFixture[str]) -> None:
    """show: files and each signature's signer and times, without verifying."""
    assert sild("doc", "show", str(DATA / "valid-asice.asice"), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["signatures"][0]["signer_serial_number"] == "11404176865"
    assert shown["signatures"][0]["timestamp"] == "2018-11-23T12:24:04+00:00"


def test_sign_refuses_ed25519_token(tmp_path: Path) -> None:
    """Sild's tokens make XAdES signatures with P-256 only: Ed25519 is refused by name."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from sild.core.personal_code import parse
    from sild.doc.xades import signature_method
    from sild.errors import InvalidRequest
    from sild.identity.profiles import CertRole, PersonName

    w = DocWorld(tmp_path)
    key = ed25519.Ed25519PrivateKey.generate()
    cert = w.person_ca.issue(role=CertRole.SIGN, code=parse("EE", "38001085718"),
                             name=PersonName.parse("A", "B"), public_key=key.public_key(),
                             at=w.at)
    with pytest.raises(InvalidRequest, match="ECDSA P-256"):
        signature_method(cert)


def test_show_survives_a_garbage_signature_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """show reports an unreadable signature file as an error entry, exit 0, no traceback."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", MIMETYPE)
        zf.writestr("META-INF/manifest.xml", build_manifest({"a.txt": "text/plain"}))
        zf.writestr("a.txt", b"a")
        zf.writestr("META-INF/signatures0.xml", b"<<<not xml")
    (tmp_path / "g.asice").write_bytes(out.getvalue())
    assert sild("doc", "show", str(tmp_path / "g.asice"), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["signatures"][0]["file"] == "META-INF/signatures0.xml"
    assert "error" in shown["signatures"][0]
    assert sild("doc", "verify", str(tmp_path / "g.asice")) == 5

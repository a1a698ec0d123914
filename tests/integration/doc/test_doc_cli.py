"""Issue 9's signed documents as an operator and a signer run them: `sild doc sign`
against the real TSA (`sild identity tsa serve`, backed by a real ledger) and OCSP
responder (`sild identity ocsp serve --dir`, answering from the identity store on
SQLite and PostgreSQL) over loopback HTTP; `sild doc verify` VALID, a second signer,
revocation refuses a new signature, bad input exits 2 (docs/guide.md §8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sild.embedded import free_port
from sild.ledger.api import create_app
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.testing import serve_ledger
from sild.testing.cli import running, sild


@dataclass
class Setup:
    tmp: Path
    tsa_url: str
    ocsp_url: str

    @property
    def ee(self) -> str:
        return str(self.tmp / "ee")

    def path(self, name: str) -> str:
        return str(self.tmp / name)

    def sign(self, container: str, *files: str, token: str = "jaak.token",  # noqa: S107
             pin2: str = "pin2.txt", tsa_url: str | None = None) -> int:
        return sild("doc", "sign", self.path(container), *(self.path(f) for f in files),
                    "--token", self.path(token), "--pin2-file", self.path(pin2),
                    "--ca", f"{self.ee}/identity/ca/chain.pem",
                    "--tsa-url", tsa_url or self.tsa_url)

    def verify(self, container: str, *extra: str) -> int:
        return sild("doc", "verify", self.path(container), "--trust", f"{self.ee}/ca/ca.pem",
                    *extra)


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> Iterator[Setup]:
    """An instance with a person CA and two citizens (store: SQLite or PostgreSQL), a
    TSA under the instance root with a ledger behind it, an OCSP responder on the store."""
    ee = str(tmp_path / "ee")
    ocsp_port, tsa_port = free_port(), free_port()
    assert sild("init", ee, "--instance", "EE") == 0
    assert sild("identity", "init", "--dir", ee, "--database", db_url,
                "--ocsp-url", f"http://127.0.0.1:{ocsp_port}/ocsp") == 0
    (tmp_path / "pins.txt").write_text("1234\n12345\n12345678\n")
    (tmp_path / "pin2.txt").write_text("12345\n")
    (tmp_path / "wrong.txt").write_text("54321\n")
    for code, given, surname in (("38001085718", "Jaak", "Jõeorg"),
                                 ("49403136526", "Mari", "Maasikas")):
        assert sild("identity", "citizen", "add", "--dir", ee, "--code", code, "--given", given,
                    "--surname", surname, "--pins-file", str(tmp_path / "pins.txt")) == 0
    assert sild("identity", "pickup", "1", "--dir", ee, "--out", str(tmp_path / "jaak.token")) == 0
    assert sild("identity", "pickup", "2", "--dir", ee, "--out", str(tmp_path / "mari.token")) == 0
    assert sild("identity", "tsa", "init", str(tmp_path / "tsa"), "--issuer", f"{ee}/ca/ca.pem",
                "--issuer-key", f"{ee}/ca/ca.key", "--name", "Sild TSA") == 0
    assert sild("identity", "ocsp", "init", str(tmp_path / "ocsp"), "--issuer",
                f"{ee}/identity/ca/person-ca.pem", "--issuer-key",
                f"{ee}/identity/ca/person-ca.key") == 0
    (tmp_path / "leping.txt").write_text("Müügileping: the parties agree.\n")
    (tmp_path / "lisa 1.csv").write_text("item,price\nbike,100\n")
    init_ledger(tmp_path / "ledger", origin="ledger.test/doc", period_ms=100,
                database_url=f"sqlite:///{tmp_path}/l.db", publication_every=4)
    ledger = open_ledger(tmp_path / "ledger")
    vkey = str(tmp_path / "ledger" / "ledger.vkey")
    try:
        with serve_ledger(create_app(ledger)) as ledger_url, \
                running("identity", "tsa", "serve", "--tsa", str(tmp_path / "tsa"), "--ledger",
                        ledger_url, "--ledger-key", vkey, "--listen", f"127.0.0.1:{tsa_port}",
                        port=tsa_port), \
                running("identity", "ocsp", "serve", "--dir", ee, "--responder",
                        str(tmp_path / "ocsp"), "--listen", f"127.0.0.1:{ocsp_port}",
                        port=ocsp_port):
            yield Setup(tmp_path, f"http://127.0.0.1:{tsa_port}",
                        f"http://127.0.0.1:{ocsp_port}/ocsp")
    finally:
        ledger.close()


def _report(setup: Setup, container: str, capsys: pytest.CaptureFixture[str],
            *extra: str) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = setup.verify(container, "--json", *extra)
    return code, json.loads(capsys.readouterr().out)


def test_sign_verify_cosign_revoke(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """Sign (AIA OCSP URL), VALID with the ledger receipt checked; a second signer adds
    signatures1.xml; after revocation a new signature is refused, the old ones stay VALID;
    a changed file is INVALID (exit 5)."""
    assert setup.sign("doc.asice", "leping.txt", "lisa 1.csv") == 0
    code, report = _report(setup, "doc.asice", capsys, "--ledger-key",
                           setup.path("ledger/ledger.vkey"))
    assert code == 0, report
    sig = report["signatures"][0]  # type: ignore[index]
    assert sig["indication"] == "VALID"
    assert sig["signer_serial_number"] == "PNOEE-38001085718"
    assert any(n.startswith("ledger receipt: OK") for n in sig["notes"]), sig["notes"]
    # Without the ledger key the receipt is said to be unchecked; still VALID (XAdES).
    code, report = _report(setup, "doc.asice", capsys)
    assert code == 0
    # Second signer, on the same container.
    assert setup.sign("doc.asice", token="mari.token") == 0
    code, report = _report(setup, "doc.asice", capsys)
    assert code == 0
    assert [s["file"] for s in report["signatures"]] == [  # type: ignore[union-attr]
        "META-INF/signatures0.xml", "META-INF/signatures1.xml"]
    # Revoke Jaak: a new signature is refused, nothing written; old signatures stay VALID.
    before = (setup.tmp / "doc.asice").read_bytes()
    assert sild("identity", "revoke", "1", "--dir", setup.ee, "--reason", "keyCompromise") == 0
    capsys.readouterr()
    assert setup.sign("doc.asice") == 2
    assert "revoked" in capsys.readouterr().err
    assert (setup.tmp / "doc.asice").read_bytes() == before
    assert setup.sign("new.asice", "leping.txt") == 2
    assert not (setup.tmp / "new.asice").exists()
    assert setup.verify("doc.asice") == 0
    # show lists both signers.
    capsys.readouterr()
    assert sild("doc", "show", setup.path("doc.asice"), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["signer_serial_number"] for s in shown["signatures"]] == [
        "PNOEE-38001085718", "PNOEE-49403136526"]
    assert [f["name"] for f in shown["files"]] == ["leping.txt", "lisa 1.csv"]


def test_tampered_container_is_invalid(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """A data file changed inside the zip → INVALID, exit 5, the reason names the file."""
    import zipfile

    assert setup.sign("doc.asice", "leping.txt") == 0
    src = zipfile.ZipFile(setup.tmp / "doc.asice")
    with zipfile.ZipFile(setup.tmp / "bad.asice", "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "leping.txt":
                data = data.replace(b"agree", b"argue")
            out.writestr(info, data)
    code, report = _report(setup, "bad.asice", capsys)
    assert code == 5
    assert report["signatures"][0]["reason"] == (  # type: ignore[index]
        "data: data file leping.txt does not match its digest (changed after signing)")


def test_signing_errors(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """Wrong PIN2 → exit 2 with the tries left; existing CONTAINER with files → 2;
    TSA unreachable → 3; each one line, nothing written."""
    capsys.readouterr()
    assert setup.sign("a.asice", "leping.txt", pin2="wrong.txt") == 2
    assert "wrong PIN2; 2 tries left" in capsys.readouterr().err
    assert not (setup.tmp / "a.asice").exists()
    assert setup.sign("a.asice", "leping.txt", tsa_url=f"http://127.0.0.1:{free_port()}") == 3
    assert not (setup.tmp / "a.asice").exists()
    assert setup.sign("a.asice", "leping.txt") == 0
    assert setup.sign("a.asice", "leping.txt") == 2
    err = capsys.readouterr().err
    assert "exists" in err
    assert "Traceback" not in err

"""`sild identity …` as an operator runs it: real instance folder, real SQLite (and
PostgreSQL), real tokens; every bad input is one line and exit 2 (docs/guide.md)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from sild.cli import main
from sild.identity.token import Secret, SoftToken
from sild.store import make_engine
from sild.store.identity_tables import identities, persons
from sild.testing.cli import own_lines
from sild.testing.clock import FIXED_NOW

PINS = "1234\n12345\n12345678\n"


def sild(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    root = tmp_path / "inst"
    assert sild("init", str(root), "--instance", "EE") == 0
    assert sild("identity", "init", "--dir", str(root),
                "--ocsp-url", "http://127.0.0.1:4100/ocsp") == 0
    (tmp_path / "pins").write_text(PINS)
    return root


def d(inst: Path) -> tuple[str, str]:
    return ("--dir", str(inst))


def add_jaak(inst: Path) -> None:
    assert sild("identity", "citizen", "add", *d(inst), "--code", "38001085718", "--given",
                "Jaak", "--surname", "Jõeorg", "--pins-file", str(inst.parent / "pins")) == 0


def count(inst: Path, table: sa.Table) -> int:
    engine = make_engine(f"sqlite:///{inst}/identity/identity.db")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def bad(capsys: pytest.CaptureFixture[str], *args: str, match: str) -> None:
    """The command fails with exit 2 and one stderr line matching ``match``."""
    capsys.readouterr()
    assert sild(*args) == 2
    err = own_lines(capsys.readouterr().err)
    assert len(err.splitlines()) == 1, err
    assert re.search(match, err), err
    assert "Traceback" not in err


def test_citizen_token_signs_and_chain_verifies(inst: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """citizen add → pickup → token sign; openssl verifies the certificate chain (§2, §5.1)."""
    add_jaak(inst)
    assert sild("identity", "pickup", "1", *d(inst), "--out", str(tmp_path / "jaak.token")) == 0
    (tmp_path / "pin2").write_text("12345\n")
    (tmp_path / "doc.txt").write_text("hello")
    capsys.readouterr()
    assert sild("identity", "token", "sign", str(tmp_path / "jaak.token"),
                str(tmp_path / "doc.txt"), "--pin2-file", str(tmp_path / "pin2")) == 0
    assert len(capsys.readouterr().out.strip()) > 60
    assert sild("identity", "show", "1", *d(inst), "--pem", "auth") == 0
    (tmp_path / "auth.pem").write_text(capsys.readouterr().out)
    out = subprocess.run(
        ["openssl", "verify", "-purpose", "sslclient", "-CAfile", str(inst / "ca" / "ca.pem"),
         "-untrusted", str(inst / "identity" / "ca" / "person-ca.pem"),
         str(tmp_path / "auth.pem")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_random_pin_envelope_is_printed_once_and_not_stored(
        inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --pins-file the PINs are printed once and appear in no file we keep (§3)."""
    capsys.readouterr()
    assert sild("identity", "citizen", "add", *d(inst), "--code", "49403136526", "--given",
                "Mari", "--surname", "Maasikas") == 0
    out = capsys.readouterr().out
    m = re.search(r"PIN1 (\d{4})  PIN2 (\d{5})  PUK (\d{8})", out)
    assert m is not None
    tok = SoftToken.open(inst / "identity" / "tokens" / "1.token")
    assert tok.sign(pin2=m.group(2), data=b"x")
    for f in (inst / "identity").rglob("*"):
        if f.is_file():
            assert m.group(3).encode() not in f.read_bytes(), f


def test_eresidency_flow(inst: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """apply → check → decide → issue → pickup from the command line (§5.2)."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 passport photo")
    assert sild("identity", "officer", "add", "Peeter", "--role", "police", *d(inst)) == 0
    assert sild("identity", "officer", "add", "Rita", "--role", "registrar", *d(inst)) == 0
    assert sild("identity", "eresidency", "apply", *d(inst), "--citizenship", "JP", "--given",
                "Haruki", "--surname", "Tanaka", "--birth-date", "1985-04-02", "--sex", "M",
                "--document-photo", str(photo), "--reason", "EU company") == 0
    assert sild("identity", "eresidency", "check", "1", *d(inst), "--by", "Peeter",
                "--result", "clear", "--note", "no records") == 0
    assert sild("identity", "eresidency", "decide", "1", *d(inst), "--by", "Rita",
                "--approve", "--reason", "plan ok") == 0
    assert sild("identity", "eresidency", "issue", "1", *d(inst), "--pins-file",
                str(tmp_path / "pins")) == 0
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert sild("identity", "eresidency", "pickup", "1", *d(inst), "--document-sha256", sha,
                "--out", str(tmp_path / "haruki.token")) == 0
    tok = SoftToken.open(tmp_path / "haruki.token")
    assert tok.tries_left(Secret.PIN1) == 3
    capsys.readouterr()
    assert sild("identity", "eresidency", "list", *d(inst)) == 0
    assert "picked-up" in capsys.readouterr().out
    assert sild("identity", "list", *d(inst), "--state", "active") == 0
    assert "e-resident" in capsys.readouterr().out


def test_suspend_revoke_renew(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """suspend → resume → revoke; renew makes identity 2 replacing 1 (§5.4-§5.6)."""
    add_jaak(inst)
    assert sild("identity", "suspend", "1", *d(inst), "--reason", "lost card") == 0
    assert sild("identity", "resume", "1", *d(inst), "--reason", "found") == 0
    assert sild("identity", "renew", "1", *d(inst), "--pins-file",
                str(inst.parent / "pins")) == 0
    assert sild("identity", "revoke", "2", *d(inst), "--reason", "keyCompromise",
                "--note", "stolen") == 0
    capsys.readouterr()
    assert sild("identity", "show", "1", *d(inst)) == 0
    out = capsys.readouterr().out
    assert "revoked" in out
    assert "superseded" in out
    bad(capsys, "identity", "suspend", "2", *d(inst), "--reason", "x",
        match="identity 2 is revoked; cannot suspend")


def test_drill_from_the_cli(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """identity drill suspends matching identities and, with --reissue, renews them (§6)."""
    add_jaak(inst)
    capsys.readouterr()
    assert sild("identity", "drill", *d(inst), "--key-type", "p256", "--reason", "ROCA-like",
                "--reissue", "--pins-file", str(inst.parent / "pins")) == 0
    out = capsys.readouterr().out
    assert "suspended 1" in out
    assert "issued identity 2" in out
    bad(capsys, "identity", "drill", *d(inst), "--reason", "x", match="needs a predicate")
    bad(capsys, "identity", "drill", *d(inst), "--fingerprint-prefix", "zz", "--reason", "x",
        match="hex")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("citizen", "add", "--code", "38001085719", "--given", "A", "--surname", "B"),
         "check digit is wrong"),
        (("citizen", "add", "--code", "3800108571", "--given", "A", "--surname", "B"),
         "exactly 11 digits"),
        (("citizen", "add", "--country", "FI", "--code", "1", "--given", "A", "--surname", "B"),
         "no personal-code scheme"),
        (("citizen", "add", "--code", "38001085718"), "missing --given, --surname"),
        (("suspend", "42", "--reason", "x"), "no identity 42"),
        (("show", "42"), "no identity 42"),
        (("eresidency", "check", "7", "--by", "X", "--result", "clear", "--note", "n"),
         "no officer|no e-Residency application 7"),
        (("citizen", "add", "--csv", "/nonexistent.csv"), "cannot read CSV file"),
        (("citizen", "add", "--csv", "/"), "is a folder"),
        (("list", "--code", "EE:123"), "exactly 11 digits"),
        (("pickup", "1", "--out", "/tmp/x"), "no identity 1"),
        (("eresidency", "apply", "--citizenship", "JP", "--given", "A", "--surname", "B",
          "--birth-date", "1985-04-02", "--sex", "M", "--document-photo", "/nonexistent.jpg",
          "--reason", "r"), "cannot read document photo"),
        (("eresidency", "apply", "--citizenship", "JP", "--given", "A", "--surname", "B",
          "--birth-date", "1985-02-30", "--sex", "M", "--document-sha256", "0" * 64,
          "--reason", "r"), "not YYYY-MM-DD"),
        (("eresidency", "apply", "--citizenship", "JP", "--given", "A", "--surname", "B",
          "--birth-date", "1985-02-03", "--sex", "M", "--document-sha256", "xyz",
          "--reason", "r"), "64 hex digits"),
        (("eresidency", "issue", "5"), "no e-Residency application 5"),
        (("revoke", "3", "--reason", "keyCompromise"), "no identity 3"),
        (("renew", "3"), "no identity 3"),
    ],
)
def test_bad_input_is_one_line_exit_2(inst: Path, capsys: pytest.CaptureFixture[str],
                                      args: tuple[str, ...], match: str) -> None:
    """Malformed codes, unknown ids, missing files and folders: one line, exit 2."""
    bad(capsys, "identity", *args, *d(inst), match=match)
    assert count(inst, identities) == 0


def test_binary_csv(inst: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A binary file given as the CSV is refused before anything is issued."""
    f = tmp_path / "bin.csv"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    bad(capsys, "identity", "citizen", "add", *d(inst), "--csv", str(f), match="not UTF-8")


def test_csv_with_one_bad_row_issues_nothing(inst: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A register CSV with a bad third row issues nobody; the error names the line (§5.1)."""
    f = tmp_path / "pop.csv"
    f.write_text("country,code,given_name,surname\nEE,38001085718,Jaak,Joeorg\n"
                 "EE,49403136526,Mari,Maasikas\nEE,49403136527,Bad,Code\n")
    bad(capsys, "identity", "citizen", "add", *d(inst), "--csv", str(f),
        "--pins-file", str(tmp_path / "pins"), match="CSV line 4")
    assert count(inst, persons) == 0
    assert list((inst / "identity" / "tokens").iterdir()) == []


def test_csv_issues_everyone(inst: Path, tmp_path: Path) -> None:
    """A good register CSV issues one identity per row."""
    f = tmp_path / "pop.csv"
    f.write_text("country,code,given_name,surname\nEE,38001085718,Jaak,Joeorg\n"
                 "JP,123456789018,Yui,Sato\n")
    assert sild("identity", "citizen", "add", *d(inst), "--csv", str(f),
                "--pins-file", str(tmp_path / "pins")) == 0
    assert count(inst, identities) == 2


def test_wrong_pin_counts_and_blocks(inst: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong PIN2 is one line with tries left; the third blocks; the PUK unblocks (§3)."""
    add_jaak(inst)
    tok = str(inst / "identity" / "tokens" / "1.token")
    (tmp_path / "wrong").write_text("99999\n")
    (tmp_path / "doc").write_text("x")
    (tmp_path / "puk").write_text("12345678\n")
    (tmp_path / "new").write_text("24680\n")
    sign = ("identity", "token", "sign", tok, str(tmp_path / "doc"), "--pin2-file")
    bad(capsys, *sign, str(tmp_path / "wrong"), match="wrong PIN2; 2 tries left")
    bad(capsys, *sign, str(tmp_path / "wrong"), match="1 tries left")
    bad(capsys, *sign, str(tmp_path / "wrong"), match="now blocked")
    (tmp_path / "right").write_text("12345\n")
    bad(capsys, *sign, str(tmp_path / "right"), match="blocked.*PUK")
    assert sild("identity", "token", "unblock", tok, "--pin", "pin2", "--puk-file",
                str(tmp_path / "puk"), "--new-pin-file", str(tmp_path / "new")) == 0
    assert sild(*sign, str(tmp_path / "new")) == 0


@pytest.mark.parametrize("content", [b"", b"\x00\x01\xff", b"not json"])
def test_bad_token_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        content: bytes) -> None:
    """An empty, binary or non-token file given as TOKEN is one line, exit 2."""
    f = tmp_path / "t.token"
    f.write_bytes(content)
    bad(capsys, "identity", "token", "status", str(f), match="not a Sild soft token")


def test_missing_token_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing token or a folder is one line, exit 2."""
    bad(capsys, "identity", "token", "status", str(tmp_path / "none"), match="cannot read")
    bad(capsys, "identity", "token", "status", str(tmp_path), match="folder")


def test_identity_before_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Commands in an instance without identity init say to run it."""
    assert sild("init", str(tmp_path / "i"), "--instance", "EE") == 0
    bad(capsys, "identity", "list", "--dir", str(tmp_path / "i"), match="identity init")


def test_init_twice(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A second identity init is refused and changes nothing."""
    before = (inst / "identity" / "ca" / "person-ca.pem").read_bytes()
    bad(capsys, "identity", "init", *d(inst), match="already set up")
    assert (inst / "identity" / "ca" / "person-ca.pem").read_bytes() == before


def test_init_with_a_bad_ocsp_url_leaves_nothing(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A failed init leaves no identity folder behind."""
    assert sild("init", str(tmp_path / "i"), "--instance", "EE") == 0
    bad(capsys, "identity", "init", "--dir", str(tmp_path / "i"), "--ocsp-url", "ftp://x",
        match="http")
    assert not (tmp_path / "i" / "identity").exists()


def test_ctrl_c_during_issuance_leaves_nothing(inst: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while the token is written: exit 130, no person, identity or token left."""

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SoftToken, "create", interrupted)
    assert sild("identity", "citizen", "add", *d(inst), "--code", "38001085718", "--given",
                "Jaak", "--surname", "J", "--pins-file", str(inst.parent / "pins")) == 130
    assert count(inst, persons) == 0
    assert count(inst, identities) == 0
    assert list((inst / "identity" / "tokens").iterdir()) == []


def test_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """identity init --database postgresql://… and a citizen round trip on PostgreSQL."""
    root = tmp_path / "inst"
    assert sild("init", str(root), "--instance", "EE") == 0
    assert sild("identity", "init", "--dir", str(root), "--database", pg_url) == 0
    (tmp_path / "pins").write_text(PINS)
    add_jaak(root)
    assert sild("identity", "suspend", "1", "--dir", str(root), "--reason", "x") == 0
    from sild.identity.home import IdentityHome
    from sild.instance import Instance

    home = IdentityHome.load(Instance.load(root))
    engine = home.engine()
    try:
        serial = int(home.service(engine).get(1).auth_serial, 16)
        answer = home.status_source(engine).status(serial)
    finally:
        engine.dispose()
    assert answer.reason == "certificateHold"
    assert answer.revoked_at is not None
    assert answer.revoked_at > FIXED_NOW


@pytest.mark.parametrize("bad_id", ["99999999999999999999", "0", "x1"])
def test_ids_out_of_range_on_the_cli(inst: Path, capsys: pytest.CaptureFixture[str],
                                     bad_id: str) -> None:
    """An id that is no positive 32-bit integer is a usage error, exit 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        sild("identity", "show", bad_id, *d(inst))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "is not an id" in err


@pytest.mark.parametrize("content", [b"\x00\xff\xfe", b"[identity]\n", b"not = [toml"])
def test_damaged_identity_settings(inst: Path, capsys: pytest.CaptureFixture[str],
                                   content: bytes) -> None:
    """A binary, incomplete or malformed identity.toml is one line, exit 2."""
    (inst / "identity" / "identity.toml").write_bytes(content)
    bad(capsys, "identity", "list", *d(inst), match="identity.toml")


def test_missing_person_ca_key(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issuing without the person CA key is one line naming the key file."""
    (inst / "identity" / "ca" / "person-ca.key").unlink()
    bad(capsys, "identity", "citizen", "add", *d(inst), "--code", "38001085718", "--given",
        "A", "--surname", "B", "--pins-file", str(inst.parent / "pins"), match="person-ca.key")
    assert count(inst, persons) == 0


def test_passphrase_protected_instance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With an encrypted root key, identity init and issuing need the passphrase file."""
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    root = tmp_path / "inst"
    assert sild("init", str(root), "--instance", "EE", "--passphrase-file", str(pw)) == 0
    bad(capsys, "identity", "init", "--dir", str(root), match="encrypted; give its passphrase")
    assert not (root / "identity").exists()
    assert sild("identity", "init", "--dir", str(root), "--passphrase-file", str(pw)) == 0
    assert b"ENCRYPTED" in (root / "identity" / "ca" / "person-ca.key").read_bytes()
    (tmp_path / "pins").write_text(PINS)
    args = ("identity", "citizen", "add", "--dir", str(root), "--code", "38001085718",
            "--given", "A", "--surname", "B", "--pins-file", str(tmp_path / "pins"))
    bad(capsys, *args, match="person-ca.key is encrypted")
    assert sild(*args, "--passphrase-file", str(pw)) == 0


def test_list_limit(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """list --limit shows at most that many rows and says so."""
    add_jaak(inst)
    assert sild("identity", "citizen", "add", *d(inst), "--code", "49403136526", "--given",
                "Mari", "--surname", "Maasikas", "--pins-file", str(inst.parent / "pins")) == 0
    capsys.readouterr()
    assert sild("identity", "list", *d(inst), "--limit", "1") == 0
    out = capsys.readouterr().out
    assert "JAAK" in out
    assert "MARI" not in out
    assert "first 1 shown" in out

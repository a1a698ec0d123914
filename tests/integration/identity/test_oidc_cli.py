"""`sild identity oidc …` as an operator runs it: a real instance, a real provider process,
a login with Authlib's client; bad input is one line and exit 2 (docs/guide.md §8).

Every command runs through the real ``sild`` command.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import KeySet

from sild.cli import main
from sild.embedded import free_port
from sild.identity.oidc.webeid import challenge_data
from sild.identity.token import SoftToken
from sild.testing.cli import own_lines

PINS = "1234\n12345\n12345678\n"
REDIRECT = "http://127.0.0.1:9/cb"
def oidc(*args: str) -> int:
    """``sild identity oidc ARGS…`` through the real command (one-line errors, exit codes)."""
    return main(["identity", "oidc", *args])


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    root = tmp_path / "inst"
    assert main(["init", str(root), "--instance", "EE"]) == 0
    assert main(["identity", "init", "--dir", str(root)]) == 0
    return root


def test_init_makes_a_private_key_and_refuses_twice(inst: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`oidc init` writes a 0600 signing key with a kid; a second init is one line, exit 2."""
    assert oidc("init", "--dir", str(inst), "--issuer", "http://127.0.0.1:8482") == 0
    assert "kid" in capsys.readouterr().out
    assert (inst / "identity" / "oidc" / "signing.key").stat().st_mode & 0o777 == 0o600
    assert oidc("init", "--dir", str(inst)) == 2
    assert "exists" in capsys.readouterr().err


def test_init_refuses_a_bad_issuer_and_writes_nothing(
        inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An issuer that is not an http(s) URL is refused; no folder is left behind."""
    assert oidc("init", "--dir", str(inst), "--issuer", "ftp://x") == 2
    assert len(own_lines(capsys.readouterr().err).splitlines()) == 1
    assert not (inst / "identity" / "oidc").exists()


def test_commands_before_init_say_so(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without `oidc init`, client commands say what to run, in one line."""
    assert oidc("client", "list", "--dir", str(inst)) == 2
    assert "sild identity oidc init" in capsys.readouterr().err


def test_client_add_list_remove(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Register, list and remove a relying party (the secret is printed once only); sweep."""
    assert oidc("init", "--dir", str(inst)) == 0
    assert oidc("client", "add", "portal", "--name", "Portal", "--redirect-uri", REDIRECT,
                "--dir", str(inst)) == 0
    secret = re.search(r"client secret .*: (\S+)", capsys.readouterr().out)
    assert secret is not None
    assert oidc("client", "list", "--dir", str(inst)) == 0
    out = capsys.readouterr().out
    assert "portal" in out
    assert secret.group(1) not in out
    assert oidc("sweep", "--dir", str(inst)) == 0
    assert "0 expired" in capsys.readouterr().out
    assert oidc("client", "remove", "portal", "--dir", str(inst)) == 0
    assert oidc("client", "remove", "portal", "--dir", str(inst)) == 2
    assert "no client" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "match"), [
    (("bad id!", "--name", "P", "--redirect-uri", REDIRECT), "client id"),
    (("portal", "--name", "P", "--redirect-uri", "not-a-uri"), "redirect URI"),
    (("portal", "--name", "P", "--redirect-uri", "http://h/cb#frag"), "fragment"),
    (("portal", "--name", "\x07", "--redirect-uri", REDIRECT), "client name"),
])
def test_client_add_refuses_bad_input(inst: Path, capsys: pytest.CaptureFixture[str],
                                      args: tuple[str, ...], match: str) -> None:
    """Malformed client ids, redirect URIs (RFC 6749 §3.1.2) and names: one line, exit 2."""
    assert oidc("init", "--dir", str(inst)) == 0
    capsys.readouterr()
    assert oidc("client", "add", *args, "--dir", str(inst)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert match in err


def test_duplicate_client_is_refused(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A client id registered twice is one line, exit 2."""
    assert oidc("init", "--dir", str(inst)) == 0
    add = ("client", "add", "portal", "--name", "P", "--redirect-uri", REDIRECT,
           "--dir", str(inst))
    assert oidc(*add) == 0
    assert oidc(*add) == 2
    assert "exists" in capsys.readouterr().err


def _wait(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "exited")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("provider did not start")


def _serve(inst: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "sild.cli", "identity", "oidc", "serve",
                             "--dir", str(inst),
                             "--listen", f"127.0.0.1:{port}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_serve_and_log_in_as_an_operator_would(inst: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Issue, pick up, register a client, serve; the person signs the challenge with
    `oidc challenge` + `token authenticate`, Authlib's client completes the code flow
    (OIDC Core §3.1) and the ID token verifies against the served JWKS."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (tmp_path / "pins").write_text(PINS)
    assert main(["identity", "citizen", "add", "--dir", str(inst), "--code", "38001085718",
                 "--given", "Jaak", "--surname", "Jõeorg",
                 "--pins-file", str(tmp_path / "pins")]) == 0
    assert main(["identity", "pickup", "1", "--dir", str(inst),
                 "--out", str(tmp_path / "jaak.token")]) == 0
    assert oidc("init", "--dir", str(inst), "--issuer", url) == 0
    assert oidc("client", "add", "portal", "--name", "Portal", "--redirect-uri", REDIRECT,
                "--dir", str(inst)) == 0
    found = re.search(r"client secret .*: (\S+)", capsys.readouterr().out)
    assert found is not None
    proc = _serve(inst, port)
    try:
        _wait(f"{url}/jwks", proc)
        client = OAuth2Session("portal", found.group(1), redirect_uri=REDIRECT,
                               scope="openid", code_challenge_method="S256")
        verifier = generate_token(48)
        uri, _ = client.create_authorization_url(f"{url}/authorize", code_verifier=verifier,
                                                 nonce="n-1")
        ch = requests.get(uri, headers={"Accept": "application/json"}, timeout=10).json()
        capsys.readouterr()
        # --nonce=…: a base64url nonce may start with "-" (argparse would take it for an option)
        assert oidc("challenge", "--origin", ch["origin"], f"--nonce={ch['nonce']}") == 0
        hex_challenge = capsys.readouterr().out.strip()
        assert bytes.fromhex(hex_challenge) == challenge_data(ch["origin"], ch["nonce"])
        (tmp_path / "pin1").write_text("1234\n")
        assert main(["identity", "token", "authenticate", str(tmp_path / "jaak.token"),
                     "--challenge", hex_challenge, "--pin1-file", str(tmp_path / "pin1")]) == 0
        sig = capsys.readouterr().out.strip()
        # An empty challenge (what "$(oidc challenge …)" gives when that command failed)
        # is refused in one line, not signed.
        assert main(["identity", "token", "authenticate", str(tmp_path / "jaak.token"),
                     "--challenge", "", "--pin1-file", str(tmp_path / "pin1")]) == 2
        err = capsys.readouterr().err
        assert "--challenge is empty" in err
        assert "Traceback" not in err
        tok = SoftToken.open(tmp_path / "jaak.token")
        der = tok.certificate("auth").public_bytes(serialization.Encoding.DER)
        r = requests.post(f"{url}/login/certificate", allow_redirects=False, timeout=10,
                          data={"nonce": ch["nonce"], "certificate": base64.b64encode(der),
                                "signature": sig})
        assert r.status_code == 303
        token = client.fetch_token(f"{url}/token", authorization_response=r.headers["location"],
                                   code_verifier=verifier)
        keys = KeySet.import_key_set(requests.get(f"{url}/jwks", timeout=10).json())
        claims = jwt.decode(token["id_token"], keys).claims
        assert (claims["iss"], claims["sub"], claims["nonce"]) == (url, "EE38001085718", "n-1")
        client.close()
    finally:
        err = _stop(proc)
    # Ctrl-C (SIGINT) ends `serve` cleanly: no traceback, exit 0 or 130.
    assert proc.returncode in (0, 130)
    assert "Traceback" not in err


def test_demo_mode_warns_at_start_and_at_every_login(inst: Path) -> None:
    """`serve --demo` warns when it starts and logs a WARNING line for each demo login."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    assert oidc("init", "--dir", str(inst), "--issuer", url) == 0
    assert oidc("client", "add", "portal", "--name", "Portal", "--redirect-uri", REDIRECT,
                "--dir", str(inst)) == 0
    proc = _serve(inst, port, "--demo")
    try:
        _wait(f"{url}/jwks", proc)
        for _ in range(2):
            client = OAuth2Session("portal", redirect_uri=REDIRECT, scope="openid",
                                   code_challenge_method="S256")
            uri, _ = client.create_authorization_url(f"{url}/authorize",
                                                     code_verifier=generate_token(48))
            ch = requests.get(uri, headers={"Accept": "application/json"}, timeout=10).json()
            r = requests.post(f"{url}/login/demo", allow_redirects=False, timeout=10,
                              data={"nonce": ch["nonce"], "personal_code": "EE38001085718"})
            assert r.status_code == 303
            client.close()
    finally:
        err = _stop(proc)
    assert "DEMO MODE" in err
    assert err.count("DEMO LOGIN as EE38001085718") == 2


@pytest.mark.parametrize("damage", ["garbage", "folder", "missing"])
def test_serve_with_a_damaged_key_is_one_line(inst: Path, capsys: pytest.CaptureFixture[str],
                                              damage: str) -> None:
    """A signing key that is garbage, a folder or missing stops `serve` with one line."""
    assert oidc("init", "--dir", str(inst)) == 0
    key = inst / "identity" / "oidc" / "signing.key"
    key.unlink()
    if damage == "garbage":
        key.write_bytes(b"\x00\xffnot a key")
    elif damage == "folder":
        key.mkdir()
    capsys.readouterr()
    assert oidc("serve", "--dir", str(inst), "--listen", f"127.0.0.1:{free_port()}") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "signing.key" in err

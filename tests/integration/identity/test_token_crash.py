"""A process killed (SIGKILL) while a PIN is being tried still has the try counted
(docs/spec/identity.md §3.2): the counter reaches the disk before the PIN is tested."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sild.core import personal_code as pc
from sild.crypto.keys import generate_key
from sild.identity.person_ca import PersonCA
from sild.identity.profiles import CertRole, PersonName
from sild.identity.token import KdfParams, Pins, Secret, SoftToken
from sild.testing.clock import FIXED_NOW

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sild.identity.token import KdfParams, SoftToken

    def slow(self, secret, salt):
        print("deriving", flush=True)
        time.sleep(60)
        raise AssertionError("not killed")

    KdfParams.derive = slow
    SoftToken.open(Path(sys.argv[1])).authenticate(pin1="0000", data=b"x")
""")


def make_token(path: Path, ca: PersonCA) -> SoftToken:
    code, name = pc.parse("EE", "38001085718"), PersonName.parse("Mari", "Tamm")
    auth, sig = generate_key(), generate_key()
    return SoftToken.create(
        path, token_id="t1", auth_key=auth, sign_key=sig,
        pins=Pins("1234", "12345", "12345678"), kdf=KdfParams(n=2**10),
        auth_certificate=ca.issue(role=CertRole.AUTH, code=code, name=name,
                                  public_key=auth.public_key(), at=FIXED_NOW),
        sign_certificate=ca.issue(role=CertRole.SIGN, code=code, name=name,
                                  public_key=sig.public_key(), at=FIXED_NOW))


def test_sigkill_mid_try_keeps_the_try_counted(tmp_path: Path, person_ca: PersonCA) -> None:
    """kill -9 during the PIN check: reopening shows 2 tries left, not 3."""
    tok = make_token(tmp_path / "card.token", person_ca)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tok.path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "deriving"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert SoftToken.open(tok.path).tries_left(Secret.PIN1) == 2

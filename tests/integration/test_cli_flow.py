"""The trust fabric as a user runs it: `sild init` → `sild registry serve` → register
a member, a gateway and a subsystem from the CLI → fetch the global configuration over
HTTP and verify it with the configuration client. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sild.cli import main
from sild.testing.servers import free_port


def sild(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def instance(tmp_path: Path, db_url: str) -> Iterator[tuple[Path, str]]:
    """An initialised instance with its registry running as a real process."""
    root = tmp_path / "inst"
    port = free_port()
    extra = [] if db_url.startswith("sqlite") else ["--database", db_url]
    assert sild("init", str(root), "--instance", "EE", "--listen", f"127.0.0.1:{port}",
                *extra) == 0
    log_path = tmp_path / "registry.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sild.cli", "registry", "serve", "--dir", str(root)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                r.read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                log.close()
                raise RuntimeError(f"registry did not start: {log_path.read_text()}") from None
            time.sleep(0.1)
    try:
        yield root, url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_register_member_gateway_subsystem_and_verify(
    instance: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's 'done when' path, end to end through the CLI and real HTTP."""
    root, url = instance
    d = ["--dir", str(root)]
    f = tmp_path
    assert sild("registry", "member", "add", "EE/GOV/70000001", "--name", "Ministry", *d) == 0
    assert sild("keys", "new", "--out", str(f / "auth.key")) == 0
    assert sild("keys", "csr", "--key", str(f / "auth.key"), "--out", str(f / "auth.csr")) == 0
    assert sild("ca", "issue", "--csr", str(f / "auth.csr"), "--purpose", "auth",
                "--id", "EE/GOV/70000001/gw1", "--address", "127.0.0.1:5500",
                "--out", str(f / "auth.pem"), *d) == 0
    assert sild("keys", "new", "--type", "ed25519", "--out", str(f / "sign.key")) == 0
    assert sild("keys", "csr", "--key", str(f / "sign.key"), "--out", str(f / "sign.csr")) == 0
    assert sild("ca", "issue", "--csr", str(f / "sign.csr"), "--purpose", "sign",
                "--id", "EE/GOV/70000001", "--out", str(f / "sign.pem"), *d) == 0
    owner = ["--sign-key", str(f / "sign.key"), "--sign-cert", str(f / "sign.pem"),
             "--registry", url]
    assert sild("gateway", "register", "--server", "EE/GOV/70000001/gw1",
                "--address", "127.0.0.1:5500", "--auth-key", str(f / "auth.key"),
                "--auth-cert", str(f / "auth.pem"), *owner) == 0
    assert sild("registry", "approve", "1", *d) == 0
    assert sild("gateway", "add-client", "--server", "EE/GOV/70000001/gw1",
                "--client", "EE/GOV/70000001/rr", *owner) == 0
    assert sild("registry", "approve", "2", *d) == 0
    # curl the global configuration, then verify it with the configuration client.
    with urllib.request.urlopen(url + "/globalconf", timeout=5) as r:
        body = r.read()
    (f / "gc.json").write_bytes(body)
    capsys.readouterr()
    assert sild("conf", "verify", "--anchor", str(root / "anchor.json"), str(f / "gc.json")) == 0
    assert sild("conf", "fetch", "--anchor", str(root / "anchor.json"),
                "--cache", str(f / "cache")) == 0
    assert sild("conf", "show", "--cache", str(f / "cache")) == 0
    out = capsys.readouterr().out
    assert "EE/GOV/70000001/gw1" in out
    assert "EE/GOV/70000001/rr" in out
    # A second registration of the same server code is refused by the registry over HTTP.
    assert sild("gateway", "register", "--server", "EE/GOV/70000001/gw1",
                "--address", "127.0.0.1:5501", "--auth-key", str(f / "auth.key"),
                "--auth-cert", str(f / "auth.pem"), *owner) == 2
    assert "Client.Duplicate" in capsys.readouterr().err


def test_revocation_from_cli_reaches_served_configuration(
    instance: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sild ca revoke` shows in the next served document."""
    root, url = instance
    d = ["--dir", str(root)]
    assert sild("keys", "new", "--out", str(tmp_path / "k")) == 0
    assert sild("keys", "csr", "--key", str(tmp_path / "k"), "--out", str(tmp_path / "c")) == 0
    assert sild("ca", "issue", "--csr", str(tmp_path / "c"), "--purpose", "sign",
                "--id", "EE/GOV/1", "--out", str(tmp_path / "p"), *d) == 0
    serial = capsys.readouterr().out.split("certificate ")[1].split()[0]
    assert sild("ca", "revoke", serial, *d) == 0
    with urllib.request.urlopen(url + "/globalconf", timeout=5) as r:
        body = r.read()
    (tmp_path / "gc.json").write_bytes(body)
    from sild.clock import utc_now
    from sild.core.anchor import parse_anchor
    from sild.core.globalconf import verify_globalconf

    anchor = parse_anchor((root / "anchor.json").read_bytes())
    conf = verify_globalconf(body, trusted_keys=anchor.trusted_keys, instance="EE",
                             at=utc_now(), last=None).conf
    assert conf.is_revoked(conf.cas[0].fingerprint, serial)


def test_key_rotation_end_to_end(instance: tuple[Path, str], tmp_path: Path) -> None:
    """Add a key, a client learns it, retire the old key, the client still verifies."""
    import asyncio

    from sild.confclient import ConfClient
    from sild.core.anchor import parse_anchor

    root, _ = instance
    d = ["--dir", str(root)]
    old_anchor = parse_anchor((root / "anchor.json").read_bytes())
    client = ConfClient(old_anchor, tmp_path / "cache")
    asyncio.run(client.refresh())
    assert sild("registry", "keys", "add", *d) == 0
    v1 = asyncio.run(client.refresh())
    assert len(v1.conf.signing_keys) == 2
    old_kid = old_anchor.keys[0].key_id
    assert sild("registry", "keys", "retire", old_kid, *d) == 0
    v2 = asyncio.run(client.refresh())
    assert old_kid not in v2.key_ids
    # A client that only knows the old anchor key can no longer be fooled or served.
    stale = ConfClient(old_anchor, tmp_path / "cache2")
    with pytest.raises(Exception, match="unknown key"):
        asyncio.run(stale.refresh())


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["registry", "member", "add", "EE/GO V/1", "--name", "x"], 2, "may only use"),
        (["registry", "member", "add", "EE/GOV", "--name", "x"], 2, "has 2 parts"),
        (["registry", "approve", "99"], 1, "no registration request 99"),
        (["registry", "approve", "abc"], 2, "invalid int value"),
        (["ca", "issue", "--csr", "/nonexistent", "--purpose", "sign", "--id", "EE/GOV/1",
          "--out", "/tmp/never.pem"], 1, "cannot read CSR"),
        (["ca", "issue", "--csr", "/dev/null", "--purpose", "auth", "--id", "EE/GOV/1",
          "--out", "/tmp/never.pem"], 2, "server identifier"),
        (["ca", "revoke", "zz"], 2, "not hexadecimal"),
        (["registry", "keys", "retire", "nope"], 1, "no active configuration key"),
    ],
)
def test_bad_cli_input_is_one_line(
    instance: tuple[Path, str], capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
    message: str,
) -> None:
    """Bad arguments give a one-line error and a non-zero exit, never a traceback."""
    root, _ = instance
    capsys.readouterr()
    try:
        got = sild(*argv, "--dir", str(root))
    except SystemExit as e:  # argparse usage errors
        got = int(e.code or 0)
    err = capsys.readouterr().err
    assert got == code
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # argparse adds a usage line


def test_init_refuses_existing_and_leaves_nothing_half_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """init into a non-empty folder fails clearly; a failed init leaves no folder."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    assert sild("init", str(tmp_path / "busy")) == 1
    assert "not empty" in capsys.readouterr().err
    assert sild("init", str(tmp_path / "bad"), "--instance", "E E") == 2
    assert not (tmp_path / "bad").exists()
    assert sild("init", str(tmp_path / "bad2"), "--database", "mysql://x") == 1
    assert not (tmp_path / "bad2").exists()


def test_commands_outside_an_instance_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command run outside an instance folder explains how to make one."""
    assert sild("registry", "status", "--dir", str(tmp_path)) == 1
    assert "run `sild init` first" in capsys.readouterr().err


def test_demo_sets_up_and_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sild demo --no-wait` builds the network, makes a real exchange, prints the tour, stops."""
    port = free_port()
    assert sild("demo", "--dir", str(tmp_path / "demo"), "--port", str(port), "--no-wait") == 0
    out = capsys.readouterr().out
    assert "First exchange DEMO/COM/10000001/his → DEMO/GOV/70000001/rr/persons" in out
    assert "GET /echo/persons/38001085718" in out
    assert "ledger              http://127.0.0.1:8470" in out
    assert f"curl -s http://127.0.0.1:{port}/globalconf" in out
    assert sild("registry", "gateways", "--dir", str(tmp_path / "demo" / "registry")) == 0
    assert "DEMO/COM/10000001/gw2" in capsys.readouterr().out
    gw1 = tmp_path / "demo" / "gateways" / "gw1"
    assert sild("gateway", "log", "stats", "--dir", str(gw1)) == 0
    assert sild("audit", "--dir", str(gw1)) in (0, 5)  # runs offline against the folder
    # A second run recreates the demo folder; a foreign folder is never deleted.
    assert sild("demo", "--dir", str(tmp_path / "demo"), "--port", str(port), "--no-wait") == 0
    (tmp_path / "mine").mkdir()
    assert sild("demo", "--dir", str(tmp_path / "mine"), "--no-wait") == 1
    assert (tmp_path / "mine").exists()


def test_busy_ports_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A registry or demo whose port is taken says so in one line, no traceback."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert sild("init", str(tmp_path / "i"), "--listen", f"127.0.0.1:{port}") == 0
        capsys.readouterr()
        assert sild("registry", "serve", "--dir", str(tmp_path / "i")) == 1
        err = capsys.readouterr().err
        assert f"cannot listen on 127.0.0.1:{port}" in err
        assert "Traceback" not in err
        assert sild("demo", "--dir", str(tmp_path / "d"), "--port", str(port), "--no-wait") == 1
        err = capsys.readouterr().err
        assert "is another `sild demo` running?" in err
        assert "Traceback" not in err

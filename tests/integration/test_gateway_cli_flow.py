"""Two gateways set up and run the way the guide tells a user to: `sild init`, keys and
certificates from the CA, `sild gateway register|add-client`, `sild gateway init`,
`sild gateway service add|grant`, `sild gateway serve` — then an unmodified REST call."""

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
from sild.embedded import free_port
from sild.testing.exchange import call, error_type


def sild(*args: str) -> int:
    return main(list(args))


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(15)


def _spawn(procs: list[subprocess.Popen[bytes]], log: Path, *args: str,
           module: str = "sild.cli") -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        p = subprocess.Popen([sys.executable, "-m", module, *args], env={**os.environ},
                             stdout=out, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def _member_gateway(f: Path, inst: Path, registry: str, member: str, code: str, sub: str,
                    peer: str, first_request: int) -> None:
    d = ["--dir", str(inst)]
    assert sild("registry", "member", "add", member, "--name", member, *d) == 0
    for kind in ("auth", "sign"):
        assert sild("keys", "new", "--out", str(f / f"{code}-{kind}.key")) == 0
        assert sild("keys", "csr", "--key", str(f / f"{code}-{kind}.key"),
                    "--out", str(f / f"{code}-{kind}.csr")) == 0
    assert sild("ca", "issue", "--csr", str(f / f"{code}-auth.csr"), "--purpose", "auth",
                "--id", f"{member}/{code}", "--address", peer,
                "--out", str(f / f"{code}-auth.pem"), *d) == 0
    assert sild("ca", "issue", "--csr", str(f / f"{code}-sign.csr"), "--purpose", "sign",
                "--id", member, "--out", str(f / f"{code}-sign.pem"), *d) == 0
    owner = ["--sign-key", str(f / f"{code}-sign.key"), "--sign-cert", str(f / f"{code}-sign.pem"),
             "--registry", registry]
    assert sild("gateway", "register", "--server", f"{member}/{code}", "--address", peer,
                "--auth-key", str(f / f"{code}-auth.key"), "--auth-cert",
                str(f / f"{code}-auth.pem"), *owner) == 0
    assert sild("registry", "approve", str(first_request), *d) == 0
    assert sild("gateway", "add-client", "--server", f"{member}/{code}",
                "--client", f"{member}/{sub}", *owner) == 0
    assert sild("registry", "approve", str(first_request + 1), *d) == 0


def test_two_gateways_from_the_cli(tmp_path: Path,
                                   processes: list[subprocess.Popen[bytes]]) -> None:
    """The guide's path works end to end with real processes."""
    f = tmp_path
    log = f / "processes.log"
    reg_port = free_port()
    inst = f / "inst"
    assert sild("init", str(inst), "--instance", "EE", "--listen", f"127.0.0.1:{reg_port}") == 0
    registry = f"http://127.0.0.1:{reg_port}"
    _wait(registry + "/healthz", _spawn(processes, log, "registry", "serve", "--dir", str(inst)),
          log)
    ports = {name: (free_port(), free_port(), free_port()) for name in ("gw1", "gw2")}
    _member_gateway(f, inst, registry, "EE/GOV/70000001", "gw1", "rr",
                    f"127.0.0.1:{ports['gw1'][1]}", 1)
    _member_gateway(f, inst, registry, "EE/COM/10000001", "gw2", "his",
                    f"127.0.0.1:{ports['gw2'][1]}", 3)
    is_port = free_port()
    _spawn(processes, log, str(is_port), module="sild.sample_is")
    for name, member, code in (("gw1", "EE/GOV/70000001", "gw1"),
                               ("gw2", "EE/COM/10000001", "gw2")):
        is_p, peer_p, admin_p = ports[name]
        assert sild("gateway", "init", str(f / name), "--server", f"{member}/{code}",
                    "--anchor", str(inst / "anchor.json"),
                    "--auth-key", str(f / f"{code}-auth.key"),
                    "--auth-cert", str(f / f"{code}-auth.pem"),
                    "--sign-key", str(f / f"{code}-sign.key"),
                    "--sign-cert", str(f / f"{code}-sign.pem"),
                    "--is-listen", f"127.0.0.1:{is_p}", "--peer-listen", f"127.0.0.1:{peer_p}",
                    "--admin-listen", f"127.0.0.1:{admin_p}") == 0
    gw1 = ["--dir", str(f / "gw1")]
    assert sild("gateway", "service", "add", "EE/GOV/70000001/rr", "echo",
                f"http://127.0.0.1:{is_port}/echo", *gw1) == 0
    assert sild("gateway", "service", "grant", "EE/GOV/70000001/rr/echo",
                "EE/COM/10000001/his", *gw1) == 0
    for name in ("gw1", "gw2"):
        p = _spawn(processes, log, "gateway", "serve", "--dir", str(f / name))
        _wait(f"http://127.0.0.1:{ports[name][2]}/health", p, log)
    url = f"http://127.0.0.1:{ports['gw2'][0]}/r1/EE/GOV/70000001/rr/echo/hi?a=1"
    status, headers, body = call(url, method="POST", body=b"hello",
                                 headers={"X-Road-Client": "EE/COM/10000001/his"})
    assert status == 200, body
    assert b'"body": "hello"' in body
    assert headers["x-road-request-hash"]
    status, _, body = call(url, headers={"X-Road-Client": "EE/COM/10000001/nobody"})
    assert (status, error_type(body)) == (500, "Server.ClientProxy.UnknownMember")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server", "EE/GOV/1"], "has 3 parts"),
        (["--server", "EE/GOV/1/gw1", "--anchor", "/nonexistent"], "cannot read"),
    ],
)
def test_gateway_init_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                argv: list[str], message: str) -> None:
    """Bad gateway init arguments give one line and create nothing."""
    base = {"--server": "EE/GOV/1/gw1", "--anchor": "/dev/null", "--auth-key": "/dev/null",
            "--auth-cert": "/dev/null", "--sign-key": "/dev/null", "--sign-cert": "/dev/null"}
    for i in range(0, len(argv), 2):
        base[argv[i]] = argv[i + 1]
    args = [x for kv in base.items() for x in kv]
    assert sild("gateway", "init", str(tmp_path / "gw"), *args) in (1, 2)
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "gw").exists()

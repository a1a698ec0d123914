"""``sild demo``: a local network a newcomer can explore, on SQLite, nothing to install.

First version (trust fabric): an instance with its CA, the registry serving the
signed global configuration, one member with a registered gateway and subsystem —
all registered the real way (CSR → CA → signed request over HTTP → approval).
The exchange layer adds gateways and a provider information system to it.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn

from sild.bootstrap import create_instance
from sild.ca import CertificateAuthority
from sild.core.identifiers import MemberId, ServerId, SubsystemId
from sild.core.timefmt import utc_now
from sild.crypto.certs import CertPurpose, build_csr, cert_pem
from sild.crypto.keys import KeyType, generate_key, save_private_key
from sild.errors import ConfigurationError
from sild.instance import Instance
from sild.registry.api import create_app
from sild.registry.publisher import Publisher
from sild.registry.requests import build_client_request, build_gateway_request
from sild.registry.service import Registry
from sild.registry.workflow import Action
from sild.store import make_engine, migrate

__all__ = ["DemoNetwork", "run_demo"]

MARKER = ".sild-demo"
INSTANCE = "DEMO"
MEMBERS = [
    (MemberId(INSTANCE, "GOV", "70000001"), "Population Register", "gw1", "rr"),
    (MemberId(INSTANCE, "COM", "10000001"), "Clinic Ltd", "gw2", "his"),
]


@dataclass
class DemoNetwork:
    instance: Instance
    registry_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _prepare_folder(root: Path) -> None:
    if root.exists():
        if not (root / MARKER).exists():
            raise ConfigurationError(
                f"{root} exists and is not a demo folder; choose another with --dir")
        shutil.rmtree(root)


def _post(url: str, body: bytes) -> int:
    # Our own registry on loopback: the URL is built here, never taken from input.
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
        rid: int = json.loads(r.read())["id"]
        return rid


def start_demo(root: Path, *, port: int, say: Callable[[str], None]) -> DemoNetwork:
    _prepare_folder(root)
    at = utc_now()
    instance = create_instance(root, instance_id=INSTANCE, at=at, listen=f"127.0.0.1:{port}")
    (root / MARKER).write_text("created by `sild demo`; safe to delete\n")
    say(f"instance {INSTANCE} created in {root}")
    engine = make_engine(instance.database_url)
    migrate(engine)
    registry = Registry(engine, INSTANCE)
    publisher = Publisher(registry, instance.config_keys_dir,
                          expire_after=timedelta(seconds=instance.expire_seconds),
                          refresh_interval=instance.refresh_interval)
    app = create_app(registry, publisher, instance.admin_token())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigurationError(f"the registry could not listen on 127.0.0.1:{port}")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    say(f"registry listening on {url}")
    ca = CertificateAuthority.load(instance.ca_dir)
    creds = root / "members"
    for i, (member, name, server_code, subsystem) in enumerate(MEMBERS):
        registry.add_member(member, name)
        server_id = ServerId(member, server_code)
        address = f"127.0.0.1:{5500 + i}"
        auth_key, sign_key = generate_key(KeyType.P256), generate_key(KeyType.ED25519)
        auth = ca.issue(build_csr(auth_key, str(server_id)), purpose=CertPurpose.AUTH,
                        identity=str(server_id), address=address, at=at)
        sign = ca.issue(build_csr(sign_key, str(member)), purpose=CertPurpose.SIGN,
                        identity=str(member), at=at)
        folder = creds / member.member_code
        save_private_key(folder / "auth.key", auth_key)
        save_private_key(folder / "sign.key", sign_key)
        (folder / "auth.pem").write_text(cert_pem(auth))
        (folder / "sign.pem").write_text(cert_pem(sign))
        rid = _post(url + "/requests", build_gateway_request(
            server=server_id, address=address, auth_certificate=auth, auth_key=auth_key,
            owner_certificate=sign, owner_key=sign_key, at=at))
        registry.decide(rid, Action.APPROVE)
        rid = _post(url + "/requests", build_client_request(
            server=server_id, client=SubsystemId(member, subsystem),
            owner_certificate=sign, owner_key=sign_key, at=at))
        registry.decide(rid, Action.APPROVE)
        say(f"member {member} ({name}): gateway {server_code} at {address}, "
            f"subsystem {subsystem} — registered and approved")
    return DemoNetwork(instance, url, server, thread)


def run_demo(root: Path, *, port: int, wait: bool, say: Callable[[str], None]) -> int:
    net = start_demo(root, port=port, say=say)
    d = net.instance.root
    say("")
    say("Try these:")
    say(f"  curl -s {net.registry_url}/globalconf -o globalconf.json")
    say(f"  sild conf verify --anchor {d}/anchor.json globalconf.json")
    say(f"  sild registry member list --dir {d}")
    say(f"  sild registry gateways --dir {d}")
    say(f"  curl -s -H \"Authorization: Bearer $(cat {d}/registry/admin-token)\" "
        f"{net.registry_url}/api/members")
    say(f"  open {net.registry_url}/docs for the management API")
    if not wait:
        net.stop()
        return 0
    say("\nPress Ctrl-C to stop.")
    try:
        while net.thread.is_alive():
            net.thread.join(0.5)
    except KeyboardInterrupt:
        say("stopping…")
    finally:
        net.stop()
    return 0

"""``sild demo``: a local network a newcomer can explore, on SQLite, nothing to install.

The registry (signed global configuration), six organisations' gateways — the
Population Register and the Health Board (providers), a clinic, the police and a bank
(consumers), the Information System Authority (the national data tracker and the
consent service) — a ledger that anchors the gateways' message logs, and the
registers' information systems, all on loopback with X-Road's default ports,
registered the real way (CSR → CA → signed request → approval). The data tracker part
(:mod:`sild.demo_tracker`) adds generated persons, a lock and background traffic. A
first exchange is made, then a tour of copy-paste shell lines is printed. Ctrl-C
stops everything.

Every line of the tour runs as printed in another shell opened in the same folder,
without activating a virtual environment: ``sild`` is named by the path the demo was
started with (:func:`sild.cli._common.sild_command`), files are given by paths that
exist, and what a line writes goes into the demo folder
(tests/integration/test_demo_tour.py runs every line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp

from sild.core.access import Endpoint, parse_subject
from sild.core.identifiers import MemberId
from sild.crypto.keys import write_private_file
from sild.demo_tracker import SPECS, TrackerDemo
from sild.errors import ConfigurationError
from sild.ledger.submitters import add_key
from sild.localnet import GatewaySpec, LocalNet

__all__ = ["run_demo"]

MARKER = ".sild-demo"
INSTANCE = "DEMO"
REGISTER = GatewaySpec(MemberId(INSTANCE, "GOV", "70000001"), "Population Register", "gw1",
                       ("rr",))
CLINIC = GatewaySpec(MemberId(INSTANCE, "COM", "10000001"), "Clinic Ltd", "gw2",
                     ("his", "billing"))
PERSONS = REGISTER.member.subsystem("rr").service("persons")
CLIENT = CLINIC.member.subsystem("his")
OTHER = CLINIC.member.subsystem("billing")


def _prepare_folder(root: Path) -> None:
    if root.exists():
        if not (root / MARKER).exists():
            raise ConfigurationError(
                f"{root} exists and is not a demo folder; choose another with --dir")
        shutil.rmtree(root)


def _shown(path: Path) -> str:
    """A path for the tour: relative to the current folder when under it, shell-quoted."""
    full = path.resolve()
    try:
        return shlex.quote(str(full.relative_to(Path.cwd().resolve())))
    except ValueError:
        return shlex.quote(str(full))


async def _first_exchange(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(
            url, headers={"X-Road-Client": str(CLIENT)}) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise ConfigurationError(f"the demo exchange failed: {resp.status} {body[:200]!r}")
        data: dict[str, object] = json.loads(body)
        return data


class _Interrupted(Exception):
    """Ctrl-C (or SIGTERM) while the network was starting: it was stopped cleanly."""


class _Signals:
    """Ctrl-C from the very start. During start-up it cancels the start-up task, whose
    ``finally`` stops what already runs, instead of KeyboardInterrupt tearing through
    every server's task at once (issue 12: tracebacks); once up, it sets ``stop``."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.started = False
        self._main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()
        if not self.started and self._main is not None:
            self._main.cancel()


async def _run(root: Path, port: int, wait: bool, say: Callable[[str], None], *,
               fixed_ports: bool, sild: str) -> None:
    signals = _Signals()
    try:
        await _start_and_wait(root, port, wait, say, fixed_ports=fixed_ports, sild=sild,
                              signals=signals)
    except asyncio.CancelledError:
        if signals.stop.is_set() and not signals.started:
            raise _Interrupted from None
        raise


async def _start_and_wait(root: Path, port: int, wait: bool, say: Callable[[str], None], *,
                          fixed_ports: bool, sild: str, signals: _Signals) -> None:
    _prepare_folder(root)
    net = LocalNet.create(root, [REGISTER, CLINIC, *SPECS], instance_id=INSTANCE,
                          registry_port=port, fixed_ports=fixed_ports, ledger=True)
    tracker = TrackerDemo(REGISTER, CLINIC)
    tracker.prepare(net)
    (root / MARKER).write_text("created by `sild demo`; safe to delete\n")
    # The tour's own API key for the ledger's POST /add (docs/spec/ledger.md §8.1).
    write_private_file(root / "ledger.credential",
                       (add_key(root / "ledger", "demo-user") + "\n").encode())
    (root / "letter.txt").write_text("A document to timestamp in the demo ledger.\n")
    net.sample_is_port = 9000 if fixed_ports else 0
    try:
        await net.start()
        await tracker.start(net)
        sc = net.stores[REGISTER.server].serverconf
        sc.add_service(PERSONS.subsystem, "persons", net.is_url + "/echo/persons", timeout=10)
        sc.add_endpoint(PERSONS, Endpoint.parse("GET /*"))
        sc.grant(PERSONS, parse_subject(str(CLIENT)), Endpoint.parse("GET /*"))
        consumer = net.is_url_of(CLINIC.server)
        call = f"{consumer}/r1/{PERSONS.path()}/38001085718"
        answer = await _first_exchange(call)
        gw1, gw2 = (net.gateway_settings[s.server] for s in (REGISTER, CLINIC))
        say(f"Sild demo network, instance {INSTANCE}, in {root}:")
        say(f"  registry            {net.registry_url}   (global configuration: /globalconf)")
        say(f"  {REGISTER.name:<19} gateway {REGISTER.server}: IS {gw1.is_listen}, "
            f"peers {gw1.peer_listen}, admin {gw1.admin_listen}")
        say(f"  {CLINIC.name:<19} gateway {CLINIC.server}: IS {gw2.is_listen}, "
            f"peers {gw2.peer_listen}, admin {gw2.admin_listen}")
        say(f"  ledger              {net.ledger_url}   (anchors both gateways' message logs)")
        say(f"  provider IS         {net.is_url}")
        say(f"First exchange {CLIENT} → {PERSONS}: the provider saw "
            f"{answer.get('method')} {answer.get('path')}")
        say("")
        gw1_dir, vkey = _shown(gw1.root), _shown(net.root / "ledger" / "ledger.vkey")
        letter, receipt = _shown(root / "letter.txt"), _shown(root / "letter.tlog")
        conf = _shown(root / "globalconf.json")
        say("Try these in another shell, in this folder (an unmodified X-Road REST client "
            "is just curl):")
        say(f"  curl -s -H 'X-Road-Client: {CLIENT}' {call}")
        say(f"  curl -s -H 'X-Road-Client: {OTHER}' {call}        # AccessDenied")
        say(f"  curl -s -H 'X-Road-Client: {CLIENT}' "
            f"{consumer}/r1/{PERSONS.subsystem.path()}/listMethods")
        say(f"  curl -s -H 'Accept: application/json' {consumer}/listClients")
        say(f"  curl -s http://{gw2.admin_listen}/metrics | grep sild_")
        say(f"  {sild} gateway log stats --dir {gw1_dir}")
        say(f"  {sild} audit --dir {gw1_dir} --ledger-key {vkey}"
            "        # every log row checked against its anchoring proof")
        cred = _shown(root / "ledger.credential")
        say(f"  {sild} ledger submit --url {net.ledger_url} --credential {cred} "
            f"--file {letter} --out {receipt}")
        say(f"  {sild} verify {receipt} --file {letter} --key {vkey}")
        say(f"  {sild} gateway service list --dir {gw1_dir}")
        say(f"  {sild} registry gateways --dir {_shown(net.instance.root)}")
        say(f"  curl -s {net.registry_url}/globalconf -o {conf} && "
            f"{sild} conf verify --anchor {_shown(net.instance.anchor_path)} {conf}")
        say("  # Data tracker: who used a person's data, locks, break-glass, proofs")
        tracker.tour(net, say, _shown, sild)
        if not wait:
            return
        say("\nPress Ctrl-C to stop.")
        signals.started = True
        await signals.stop.wait()
        say("stopping…")
    finally:
        await tracker.stop()
        await net.stop()


def run_demo(root: Path, *, port: int, wait: bool, say: Callable[[str], None],
             fixed_ports: bool = True, sild: str = "sild") -> int:
    """Set up, start and (unless ``wait`` is false) run the demo network until Ctrl-C.

    ``sild`` is how the printed tour names the command (a path; see the module doc);
    ``fixed_ports=False`` takes free loopback ports instead of X-Road's defaults.
    """
    try:
        asyncio.run(_run(root, port, wait, say, fixed_ports=fixed_ports, sild=sild))
    except _Interrupted:
        raise KeyboardInterrupt from None  # `sild: interrupted`, exit 130; all stopped
    except OSError as e:
        raise ConfigurationError(f"cannot start the demo: {e}") from e
    except ConfigurationError as e:
        if "cannot listen" in e.message:
            raise ConfigurationError(
                f"{e.message} — the demo uses ports 4000, 8080-8085, 5500-5505, 5566-5571, "
                "8470 and 9000; is another `sild demo` running?") from e
        raise
    return 0

"""``sild demo``: a country a newcomer can explore, on SQLite, nothing to install.

The registry (signed global configuration), eight organisations' gateways
(:mod:`sild.demo_plan`), a ledger that anchors the gateways' message logs, the six base
registries each from its own generated database (:mod:`sild.demo_data`) behind its
organisation's gateway with the data tracker, consent, notifications and background
traffic (:mod:`sild.demo_tracker`), and the once-only e-services
(:mod:`sild.demo_eservices`), Sild ID — soft tokens for the demo persons and the
OpenID Connect provider the portal logs in with (:mod:`sild.demo_identity`) — all on
loopback with X-Road's default ports, registered
the real way (CSR → CA → signed request → approval). A Rich progress bar shows the
start-up (:mod:`sild.demo_start`); the running country is handed to the portal if
``sild.portal.demo`` exists and written to ``demo-country.json``. A first exchange is
made, then the URLs, the demo identities and a tour of copy-paste shell lines are
printed. Ctrl-C stops everything, also while it starts.

Every line of the tour runs as printed in another shell opened in the same folder,
without activating a virtual environment: ``sild`` is named by the path the demo was
started with (:func:`sild.cli._common.sild_command`), files are given by paths that
exist, and what a line writes goes into the demo folder
(tests/integration/test_demo_tour.py runs every line).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from sild.core.access import Endpoint, parse_subject
from sild.crypto.keys import write_private_file
from sild.demo_country import COUNTRY_FILE, DemoCountry
from sild.demo_data import Generation
from sild.demo_eservices import start_eservices
from sild.demo_eservices import tour as eservices_tour
from sild.demo_identity import DemoIdentity, start_identity
from sild.demo_plan import CLINIC, INSTANCE, REGISTER, RIA, SPECS
from sild.demo_start import Steps, build_country, start_portal, stop_portal
from sild.demo_tracker import TrackerDemo
from sild.errors import ConfigurationError
from sild.ledger.submitters import add_key
from sild.localnet import LocalNet
from sild.registers import SIZES
from sild.startup_signals import Interrupted, StartupSignals

__all__ = ["run_demo"]

MARKER = ".sild-demo"
PERSONS = REGISTER.member.subsystem("rr").service("persons")
CLIENT = CLINIC.member.subsystem("his")
OTHER = CLINIC.member.subsystem("billing")
SEED = 2014


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


async def _run(root: Path, port: int, wait: bool, say: Callable[[str], None], *,
               fixed_ports: bool, sild: str, seed: int, size: str) -> None:
    signals = StartupSignals()
    try:
        await _start_and_wait(root, port, wait, say, fixed_ports=fixed_ports, sild=sild,
                              signals=signals, seed=seed, size=size)
    except asyncio.CancelledError:
        if signals.stop.is_set() and not signals.started:
            raise Interrupted from None
        raise


async def _start_and_wait(root: Path, port: int, wait: bool, say: Callable[[str], None], *,
                          fixed_ports: bool, sild: str, signals: StartupSignals, seed: int,
                          size: str) -> None:
    _prepare_folder(root)  # start-up is synchronous work before the servers anyway
    root.mkdir(parents=True)  # noqa: ASYNC240
    (root / MARKER).write_text("created by `sild demo`; safe to delete\n")
    # The registers are generated in a child process, started before any thread exists
    # (fork), while this process builds the network.
    generation = Generation(root, seed=seed, size=size)
    generation.start()
    tracker = TrackerDemo()
    net: LocalNet | None = None
    engines: list[Any] = []
    portal_stop: Any = None
    identity: DemoIdentity | None = None
    try:
        with Steps(9) as steps:
            steps.step(f"generating the registers ({SIZES[size]:,} persons) and the network")
            net = LocalNet.create(root, list(SPECS), instance_id=INSTANCE,
                                  registry_port=port, fixed_ports=fixed_ports, ledger=True,
                                  fresh=False)
            tracker.prepare(net)
            # The tour's own API key for the ledger's POST /add (docs/spec/ledger.md §8.1).
            write_private_file(root / "ledger.credential",
                               (add_key(root / "ledger", "demo-user") + "\n").encode())
            (root / "letter.txt").write_text("A document to timestamp in the demo ledger.\n")
            net.sample_is_port = 9000 if fixed_ports else 0
            steps.step("starting the registry, the ledger and 8 gateways")
            await net.start()
            steps.step(f"waiting for the registers ({SIZES[size]:,} persons)")
            data = await generation.wait()
            steps.step("serving the registers, consent, notifications and the tracker")
            await tracker.start(net, data)
            sc = net.stores[REGISTER.server].serverconf
            sc.add_service(PERSONS.subsystem, "persons", net.is_url + "/echo/persons",
                           timeout=10)
            sc.add_endpoint(PERSONS, Endpoint.parse("GET /*"))
            sc.grant(PERSONS, parse_subject(str(CLIENT)), Endpoint.parse("GET /*"))
            steps.step("starting the e-services")
            eservice_urls = await start_eservices(net, tracker._serve, engines,
                                                  fixed_ports=fixed_ports)
            steps.step("a first exchange")
            consumer = net.is_url_of(CLINIC.server)
            call = f"{consumer}/r1/{PERSONS.path()}/38001085718"
            answer = await _first_exchange(call)
            steps.step("Sild ID: the demo persons' tokens and the OpenID Connect provider")
            identity = await start_identity(net.instance, root, data.persons,
                                            fixed_ports=fixed_ports)
            country = dataclasses.replace(
                build_country(net, tracker, data, eservice_urls, sild),
                oidc_url=identity.issuer)
            (root / COUNTRY_FILE).write_text(country.to_json())
            steps.step("the portal")
            portal_stop = await start_portal(country)
            steps.step("ready")
        _say_network(net, country, answer, say)
        if isinstance(getattr(portal_stop, "url", None), str):
            say(f"Citizen portal: {portal_stop.url}/")
        if identity is not None:
            _say_sild_id(identity, say, sild)
        say("")
        _say_tour(net, root, call, consumer, say, sild)
        tracker.tour(net, say, _shown, sild)
        say("  # Once-only e-services (docs/spec/eservices.md): registers asked through the "
            "exchange, each use in the person's findUsage")
        eservices_tour(eservice_urls, data, say)
        find = f"{net.is_url_of(RIA.server)}/r1/{country.find_usage['population']}"
        citizen = data.person("citizen").code
        say(f"  curl -s -H 'X-Road-Client: {country.subsystems['tracker']}' "
            f"-H 'X-Road-UserId: {citizen}' '{find}/v2/findUsage?userCode={citizen}'"
            "        # the e-services' uses, each with its purpose")
        if identity is not None and citizen in identity.tokens:
            say(f"  {sild} identity token status {_shown(identity.tokens[citizen])}"
                "        # the person's Sild ID token (PIN1 1234) for the portal's login")
        if not wait:
            return
        say("\nPress Ctrl-C to stop.")
        signals.started = True
        await signals.stop.wait()
        say("stopping…")
    finally:
        generation.stop()
        await stop_portal(portal_stop)
        if identity is not None:
            await identity.stop()
        await tracker.stop()
        if net is not None:
            await net.stop()
        for engine in engines:
            engine.dispose()


def _say_network(net: LocalNet, country: DemoCountry, answer: dict[str, object],
                 say: Callable[[str], None]) -> None:
    say(f"Sild demo country, instance {INSTANCE}, in {country.root}:")
    say(f"  registry            {net.registry_url}   (global configuration: /globalconf)")
    say(f"  ledger              {net.ledger_url}   (anchors every gateway's message log)")
    for spec in net.specs:
        s = net.gateway_settings[spec.server]
        say(f"  {spec.name:<29} gateway {spec.server_code}: IS {s.is_listen}, "
            f"peers {s.peer_listen}, admin {s.admin_listen}")
    say(f"  sample provider IS  {net.is_url}")
    say("E-services (a page at each URL; JSON API in docs/spec/eservices.md):")
    for name, url in country.eservice_urls.items():
        say(f"  {name:<12} {url}/")
    say("Demo identities (use as X-Road-UserId or ?user=):")
    for p in country.persons:
        say(f"  {p.code:<15} {p.given_name} {p.surname}: {p.note}")
    say(f"First exchange {CLIENT} → {PERSONS}: the provider saw "
        f"{answer.get('method')} {answer.get('path')}")


def _say_sild_id(identity: DemoIdentity, say: Callable[[str], None], sild: str) -> None:
    """How to log in to the portal with Sild ID (docs/guide.md, the demo's portal)."""
    say(f"Sild ID (OpenID Connect provider {identity.issuer}): in the portal, "
        "\"Log in with Sild ID\"; on the provider's page either")
    say("  - its marked demo login, or")
    say("  - the certificate login: paste the person's certificate and, as the signature, "
        "what this prints for the nonce the page shows (PIN1 1234):")
    code = next(iter(identity.tokens), "")
    if code:
        say(f"      certificate: {_shown(identity.certificate_file(code))}")
        say("      read -r -p 'nonce shown on the page: ' NONCE")
        say(f"      {sild} identity token authenticate {_shown(identity.tokens[code])} "
            f"--pin1-file {_shown(identity.pin1_file)} --challenge \"$({sild} identity "
            f"oidc challenge --origin {identity.issuer} --nonce=\"$NONCE\")\"")
    say(f"    then register a passkey at {identity.issuer}/passkeys (within 10 minutes) "
        "and log in with it next time.")
    say(f"  tokens and certificates of every Estonian demo person: "
        f"{_shown(identity.folder)}/")


def _say_tour(net: LocalNet, root: Path, call: str, consumer: str,
              say: Callable[[str], None], sild: str) -> None:
    gw1, gw2 = (net.gateway_settings[s.server] for s in (REGISTER, CLINIC))
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


def run_demo(root: Path, *, port: int, wait: bool, say: Callable[[str], None],
             fixed_ports: bool = True, sild: str = "sild", seed: int = SEED,
             size: str = "large") -> int:
    """Set up, start and (unless ``wait`` is false) run the demo network until Ctrl-C.

    ``sild`` is how the printed tour names the command (a path; see the module doc);
    ``fixed_ports=False`` takes free loopback ports instead of X-Road's defaults;
    ``seed`` and ``size`` (``small``, ``medium``, ``large``: 100, 1,000, 10,000 persons)
    choose the registers' generated population.
    """
    if size not in SIZES:
        raise ConfigurationError(f"size must be one of {', '.join(SIZES)}, not {size[:20]!r}")
    try:
        asyncio.run(_run(root, port, wait, say, fixed_ports=fixed_ports, sild=sild,
                         seed=seed, size=size))
    except Interrupted:
        raise KeyboardInterrupt from None  # `sild: interrupted`, exit 130; all stopped
    except OSError as e:
        raise ConfigurationError(f"cannot start the demo: {e}") from e
    except ConfigurationError as e:
        if "cannot listen" in e.message:
            raise ConfigurationError(
                f"{e.message} — the demo uses ports 4000, 8080-8087, 5500-5507, 5566-5573, "
                "8470, 8482, 8487, 8490-8494 and 9000; is another `sild demo` running?") from e
        raise
    return 0

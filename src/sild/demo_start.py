"""What ``sild demo`` shows while it starts and what it hands to add-ons (issue #10).

* :class:`Steps`: a Rich progress display on stderr (the tour goes to stdout), a bar of
  start-up steps with the elapsed time; nothing when stderr is not a terminal.
* :func:`build_country`: the :class:`~sild.demo_country.DemoCountry` of the running demo.
* :func:`start_portal` / :func:`stop_portal`: the optional portal hook. If the module
  ``sild.portal.demo`` exists, ``start(country)`` is called once everything answers;
  it may be a coroutine function. Whatever it returns (or its coroutine returns) is
  called at shutdown if it is callable (awaited if that gives an awaitable).
"""

from __future__ import annotations

import importlib
import inspect
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sild.demo_country import DemoCountry, DemoGateway
from sild.demo_data import DemoData
from sild.demo_plan import CONSUMERS, ESERVICES, HOSTS, INSTANCE, ROLES, eservice_id
from sild.demo_tracker import TrackerDemo
from sild.localnet import LocalNet

__all__ = ["Steps", "build_country", "start_portal", "stop_portal"]

PORTAL_MODULE = "sild.portal.demo"


class Steps:
    """``with Steps(n) as s: s.step("…")`` — the start-up's progress on stderr."""

    def __init__(self, total: int) -> None:
        self._progress = Progress(TextColumn("[bold]sild demo[/] {task.description}"),
                                  BarColumn(), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task("starting", total=total)
        self._started = False

    def step(self, what: str) -> None:
        if self._started:
            self._progress.advance(self._task)
        self._started = True
        self._progress.update(self._task, description=what)

    def __enter__(self) -> Steps:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()


def build_country(net: LocalNet, tracker: TrackerDemo, data: DemoData,
                  eservice_urls: dict[str, str], sild: str) -> DemoCountry:
    gateways = {}
    for role, spec in ROLES.items():
        s = net.gateway_settings[spec.server]
        gateways[role] = DemoGateway(
            spec.name, str(spec.member), str(spec.server), f"http://{s.is_listen}",
            f"http://{s.admin_listen}",
            tuple(str(spec.member.subsystem(sub)) for sub in spec.subsystems))
    return DemoCountry(
        instance=INSTANCE, root=net.root.resolve(), registry_url=net.registry_url,
        ledger_url=net.ledger_url, gateways=gateways,
        services={r: str(h.service(r)) for r, h in HOSTS.items()},
        find_usage={r: str(h.client.service("findUsage")) for r, h in HOSTS.items()},
        subsystems={role: str(c[0]) for role, c in CONSUMERS.items()},
        subsystem_gateway={role: c[1] for role, c in CONSUMERS.items()},
        eservice_urls=eservice_urls,
        eservice_services={name: str(eservice_id(name)) for name in ESERVICES},
        consent_url=tracker.consent_url, notify_url=tracker.notify_url,
        tracker_urls=tracker.tracker_urls, oidc_url="", persons=data.persons, sild=sild)


async def start_portal(country: DemoCountry) -> Any:
    """``sild.portal.demo.start(country)`` if that module exists; its stop handle."""
    try:
        module = importlib.import_module(PORTAL_MODULE)
    except ModuleNotFoundError as e:
        if e.name in ("sild.portal", PORTAL_MODULE):
            return None
        raise
    result = module.start(country)
    if inspect.isawaitable(result):
        result = await result
    return result


async def stop_portal(handle: Any) -> None:
    if callable(handle):
        result = handle()
        if inspect.isawaitable(result):
            await result

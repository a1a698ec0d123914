"""The error tree's X-Road codes."""

from __future__ import annotations

import pytest

from sild.errors import (
    AccessDenied,
    GlobalConfExpired,
    InvalidIdentifier,
    SildError,
    UnknownClient,
    normalise_code,
    xroad_code_at,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("server.serverproxy.access_denied", "Server.ServerProxy.AccessDenied"),
        ("server.clientproxy.outdated_global_conf", "Server.ClientProxy.OutdatedGlobalConf"),
        ("client.invalid_client_identifier", "Client.InvalidClientIdentifier"),
        ("Server.ServerProxy.AccessDenied", "Server.ServerProxy.AccessDenied"),
        ("  Client.MissingHeader ", "Client.MissingHeader"),
    ],
)
def test_78_lower_case_codes_are_accepted(given: str, expected: str) -> None:
    """X-Road 7.8's lower snake-case codes parse to the documented CamelCase."""
    assert normalise_code(given) == expected


@pytest.mark.parametrize(
    ("error", "component", "code"),
    [
        (AccessDenied("x"), "ServerProxy", "Server.ServerProxy.AccessDenied"),
        (GlobalConfExpired("x"), "ClientProxy", "Server.ClientProxy.OutdatedGlobalConf"),
        (UnknownClient("x"), "ClientProxy", "Server.ClientProxy.UnknownMember"),
        (InvalidIdentifier("x"), "ClientProxy", "Client.InvalidClientIdentifier"),
    ],
)
def test_component_prefix(error: Exception, component: str, code: str) -> None:
    """Server.* codes get the gateway component; Client.* codes do not."""
    assert xroad_code_at(error, component) == code  # type: ignore[arg-type]


def _every_error_class() -> list[type[SildError]]:
    import importlib
    import pkgutil

    import sild

    for info in pkgutil.walk_packages(sild.__path__, "sild."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)

    def walk(cls: type[SildError]) -> list[type[SildError]]:
        return [c for s in cls.__subclasses__() for c in (s, *walk(s))]

    return walk(SildError)


ABSTRACT = {"RemoteError", "LocalError", "RelayedError"}  # RelayedError carries another's code


def test_every_error_class_lives_in_sild_errors() -> None:
    """One tree in one module: no SildError subclass is defined elsewhere in src/."""
    elsewhere = sorted(f"{c.__module__}.{c.__name__}" for c in _every_error_class()
                       if c.__module__ != "sild.errors")
    assert elsewhere == []


def test_every_error_code_is_unique() -> None:
    """Each concrete error class maps to its own X-Road-style code."""
    by_code: dict[str, list[str]] = {}
    for cls in _every_error_class():
        if cls.__name__ not in ABSTRACT:
            by_code.setdefault(f"{cls.fault}.{cls.code}", []).append(cls.__name__)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert shared == {}


def test_fault_split_follows_who_is_at_fault() -> None:
    """Unreachable peers and maintenance are not the caller's fault (not RemoteError)."""
    from sild.errors import RemoteError, ServiceUnavailable, TransportError

    assert not issubclass(TransportError, RemoteError)
    assert not issubclass(ServiceUnavailable, RemoteError)

"""The error tree's X-Road codes."""

from __future__ import annotations

import pytest

from sild.errors import (
    AccessDenied,
    GlobalConfExpired,
    InvalidIdentifier,
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

"""Network failures in words (sild.web.neterrors; issue 12: a raw Python repr was shown)."""

from __future__ import annotations

import asyncio
import errno
import socket

import aiohttp
import pytest

from sild.web.neterrors import describe_network_error


def _refused() -> BaseException:
    async def go() -> BaseException:
        async with aiohttp.ClientSession() as s:
            try:
                await s.get("http://127.0.0.1:1/")
            except aiohttp.ClientError as e:
                return e
        raise AssertionError("port 1 answered")

    return asyncio.run(go())


@pytest.mark.parametrize(("error", "words"), [
    (TimeoutError(), "timed out"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
    (socket.gaierror(-2, "Name or service not known"), "host name not found"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "host unreachable"),
    (OSError(errno.EPERM, "Operation not permitted"), "operation not permitted"),
])
def test_phrases(error: BaseException, words: str) -> None:
    """Each kind of failure has its phrase."""
    assert words in describe_network_error(error)


def test_a_real_refusal_has_no_repr() -> None:
    """aiohttp's ClientConnectorError against a closed port: words, no class names."""
    text = describe_network_error(_refused())
    assert text.startswith("connection refused")
    assert "Error(" not in text
    assert "ConnectionKey" not in text

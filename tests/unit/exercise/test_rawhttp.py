"""The drill's raw HTTP client reads whatever a network under test answers: garbage, a
closed connection or an error document, never raising on it."""

from __future__ import annotations

import asyncio

import pytest

from sild.exercise.model import error_code, error_text
from sild.exercise.rawhttp import raw_request


async def _answer(reply: bytes) -> tuple[int, bytes, bytes]:
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ans = await raw_request(f"127.0.0.1:{port}", "/r1/a/../b",
                                [(b"X-Road-Client", b"A\x00B")], within=5)
    return ans.status, ans.body, got[0]


@pytest.mark.parametrize(("reply", "status"), [
    (b"", 0), (b"garbage", 0), (b"HTTP/1.1 abc\r\n\r\n", 0),
    (b"HTTP/1.1 400 Bad\r\nX-Road-Error: x\r\n\r\n{\"type\":\"Client.InvalidRequest\"}", 400),
])
def test_answers_of_any_shape(reply: bytes, status: int) -> None:
    got, body, sent = asyncio.run(_answer(reply))
    assert got == status
    # the bytes went out as given: no normalisation of dot segments, NUL kept
    assert sent.startswith(b"GET /r1/a/../b HTTP/1.1\r\n")
    assert b"X-Road-Client: A\x00B\r\n" in sent
    if status == 400:
        assert error_code(body) == "Client.InvalidRequest"


@pytest.mark.parametrize("body", [b"", b"[]", b"{", b'{"type": 5}', b"\xff"])
def test_error_code_of_a_non_error(body: bytes) -> None:
    assert error_code(body) == ""
    assert error_text(500, body) == "HTTP 500"


def test_error_text_cuts_the_message() -> None:
    text = error_text(400, b'{"type": "Client.X", "message": "' + b"m" * 500 + b'"}')
    assert text.startswith("HTTP 400 Client.X: mmm")
    assert len(text) < 200

"""One raw HTTP/1.1 exchange over a socket: attacks need bytes no HTTP client sends
(unnormalised dot segments, control characters, duplicate or overlong headers)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

__all__ = ["RawAnswer", "raw_request"]

_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z.]+)"')


@dataclass(frozen=True)
class RawAnswer:
    status: int  # 0: the connection was closed without an answer
    head: str
    body: bytes

    @property
    def code(self) -> str:
        """The X-Road error type in the answer, or ""."""
        m = _TYPE.search(self.body)
        return m.group(1).decode() if m else ""

    def header(self, name: str) -> str:
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return ""

    def evidence(self) -> str:
        if not self.status:
            return "connection closed without an answer"
        return f"HTTP {self.status}" + (f" {self.code}" if self.code else "")


async def raw_request(listen: str, target: str, headers: list[tuple[bytes, bytes]], *,
                      method: bytes = b"GET", within: float = 15) -> RawAnswer:
    host, port = listen.rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), within)
    try:
        head = method + b" " + target.encode("latin-1") + b" HTTP/1.1\r\n"
        head += f"Host: {listen}\r\n".encode()
        head += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
        writer.write(head + b"Connection: close\r\n\r\n")
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(-1), within)
        except (ConnectionError, TimeoutError):
            data = b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    raw_head, _, body = data.partition(b"\r\n\r\n")
    text = raw_head.decode("latin-1")
    parts = text.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return RawAnswer(status, text, body)

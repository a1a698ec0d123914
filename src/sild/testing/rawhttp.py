"""A provider IS that answers with exact bytes, for protocol tests (HEAD, 204, 304, gzip).

HTTP frameworks tidy their answers (drop a 204's Content-Length, add one, re-encode);
this server writes precisely the status line, headers and body a test gives for a
path, and records every request it received (request line, headers, body) so a test
can check what reached the IS byte for byte. Loopback only; a thread per connection.
"""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field

__all__ = ["Canned", "RawHttpServer", "Received"]


@dataclass(frozen=True)
class Canned:
    status_line: str = "HTTP/1.1 200 OK"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""  # written as it is, whatever the headers say


@dataclass(frozen=True)
class Received:
    request_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class _State:
    routes: dict[str, Canned] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: int = 0


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        with self.server.state.lock:
            self.server.state.connections += 1
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            request_line = line.decode("latin-1").rstrip("\r\n")
            headers: list[tuple[str, str]] = []
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            body = self.rfile.read(length) if length else b""
            state = self.server.state
            with state.lock:
                state.received.append(Received(request_line, tuple(headers), body))
            parts = request_line.split(" ")
            target = parts[1] if len(parts) > 1 else "/"
            path = target.split("?", 1)[0]
            canned = state.routes.get(path, Canned("HTTP/1.1 404 Not Found",
                                                   (("Content-Length", "0"),)))
            head = canned.status_line + "\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in canned.headers) + "\r\n"
            self.wfile.write(head.encode("latin-1") + canned.body)
            self.wfile.flush()
            if any(k.lower() == "connection" and v.lower() == "close"
                   for k, v in canned.headers):
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: _State


class RawHttpServer:
    """``with RawHttpServer() as srv: srv.route("/x", Canned(...)); srv.url``."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, path: str, canned: Canned) -> None:
        self._server.state.routes[path] = canned

    @property
    def connections(self) -> int:
        """How many TCP connections were accepted so far."""
        with self._server.state.lock:
            return self._server.state.connections

    @property
    def received(self) -> list[Received]:
        with self._server.state.lock:
            return list(self._server.state.received)

    def __enter__(self) -> RawHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

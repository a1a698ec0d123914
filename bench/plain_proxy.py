"""Baseline for bench_exchange.py: a plain HTTP reverse proxy, no security at all.

``python bench/plain_proxy.py LISTEN_PORT UPSTREAM_URL`` — aiohttp server + aiohttp
client, forwarding method, path, query, headers (minus hop-by-hop) and body, the
same building blocks the gateway uses, minus TLS, signatures and logging.
"""

from __future__ import annotations

import sys

import aiohttp
import uvloop
from aiohttp import web

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host",
       "content-length", "proxy-connection"}


def make_app(upstream: str) -> web.Application:
    session: aiohttp.ClientSession | None = None

    async def on_start(app: web.Application) -> None:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024),
                                        auto_decompress=False)

    async def on_stop(app: web.Application) -> None:
        if session is not None:
            await session.close()

    async def handle(request: web.Request) -> web.Response:
        assert session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with session.request(request.method, upstream + request.raw_path, data=body,
                                   headers=headers, allow_redirects=False) as resp:
            payload = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            return web.Response(status=resp.status, body=payload, headers=out)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_startup.append(on_start)
    app.on_cleanup.append(on_stop)
    return app


if __name__ == "__main__":
    web.run_app(make_app(sys.argv[2].rstrip("/")), host="127.0.0.1", port=int(sys.argv[1]),
                access_log=None, print=None, loop=uvloop.new_event_loop())

"""A sample provider information system for the demo, tests and benchmarks.

Routes: ``/echo/...`` answers what it received as JSON; ``/hello`` a fixed small
JSON; ``/status/{code}``; ``/redirect`` (302); ``/slow?seconds=N``; ``/big?bytes=N``.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

__all__ = ["create_sample_is"]

HELLO = json.dumps({"message": "hello from the provider information system"}).encode()


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({
        "method": request.method, "path": request.path, "raw_path": request.raw_path,
        "query": request.rel_url.raw_query_string,
        "headers": {k.lower(): v for k, v in request.headers.items() if k.lower().startswith(
            ("x-road-", "content-type", "x-custom", "accept", "connection", "keep-alive"))},
        "body": body.decode("utf-8", "replace"),
    })


async def _hello(_: web.Request) -> web.Response:
    return web.Response(body=HELLO, content_type="application/json")


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.json_response({"status": code}, status=code)


async def _redirect(_: web.Request) -> web.Response:
    raise web.HTTPFound("/hello")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("seconds", "5")))
    return web.json_response({"slow": True})


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * int(request.query.get("bytes", "1000")))


def create_sample_is() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/echo{tail:.*}", _echo)
    app.router.add_get("/hello", _hello)
    app.router.add_route("*", "/status/{code:[0-9]{3}}", _status)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/big", _big)
    return app


def main() -> None:
    """``python -m sild.sample_is PORT``: serve the sample IS on 127.0.0.1:PORT."""
    import sys

    import uvloop

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    web.run_app(create_sample_is(), host="127.0.0.1", port=port, access_log=None,
                print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()

"""A trivial provider IS for ``bench_exchange.py --protocol soap``: every POST, on any
path, is answered with one fixed X-Road SOAP ``helloResponse`` (no parsing), so that
REST and SOAP runs through the gateways call the same IS with the same bytes.

    python bench/soap_is.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

HELLO = (b'<?xml version="1.0" encoding="UTF-8"?>'
         b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/>'
         b'<s:Body><h:helloResponse xmlns:h="urn:bench"><message>hello from the provider '
         b"information system</message></h:helloResponse></s:Body></s:Envelope>")


async def _hello(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=HELLO, content_type="text/xml", charset="utf-8")


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None,
                access_log=None)


if __name__ == "__main__":
    main()

"""A SOAP provider IS built with spyne, run as a child process by test_wsdl_exchange.py.

Its own process because spyne 2.14 installs a vendored ``six`` import hook that warns
on every later import (and imports ``cgi``, gone in Python 3.13). Prints its port,
then serves until killed; the WSDL is at ``http://127.0.0.1:PORT/?wsdl``.
"""

import sys
import warnings
from wsgiref.simple_server import WSGIRequestHandler, make_server

warnings.simplefilter("ignore")

from spyne import Application, Integer, ServiceBase, Unicode, rpc  # noqa: E402
from spyne.protocol.soap import Soap11  # noqa: E402
from spyne.server.wsgi import WsgiApplication  # noqa: E402


class Hello(ServiceBase):  # type: ignore[misc]
    @rpc(Unicode, _returns=Unicode)  # type: ignore[misc]
    def sayHello(ctx, name):  # type: ignore[no-untyped-def]
        return f"Hello, {name}"

    @rpc(Integer, _returns=Integer)  # type: ignore[misc]
    def double(ctx, n):  # type: ignore[no-untyped-def]
        return 2 * n


class Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


app = Application([Hello], tns="http://rr.example/hello", in_protocol=Soap11(),
                  out_protocol=Soap11())
server = make_server("127.0.0.1", 0, WsgiApplication(app), handler_class=Quiet)
print(server.server_port, flush=True)
sys.stdout.close()
server.serve_forever()

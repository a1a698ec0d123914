"""The OCSP responder over HTTP (RFC 6960 Appendix A.1), a Starlette ASGI app.

docs/spec/ocsp.md §3:

* ``POST /`` (any path) with ``Content-Type: application/ocsp-request`` and the DER
  request as the body;
* ``GET /<url-encoded base64 of the DER request>``;
* ``GET /healthz`` → ``{"issuer", "delegated"}``.

Answers are ``application/ocsp-response``, HTTP 200 for every OCSP answer, including
``malformedRequest``; a body over the limit is 413, another content type 415, another
method 405 — each still with a DER ``malformedRequest`` body, so an OCSP client always
gets something it can parse. The status source may block (a database), so each answer
is computed in a worker thread.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from urllib.parse import unquote_to_bytes

import anyio.to_thread
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sild.identity._http import BodyTooLarge, read_limited, serve_app
from sild.identity.ocsp import OcspLimits, OcspSigner, answer
from sild.identity.status import StatusSource

__all__ = ["OCSP_REQUEST", "OCSP_RESPONSE", "create_ocsp_app", "serve_ocsp"]

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
_MALFORMED = ocsp.OCSPResponseBuilder.build_unsuccessful(
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(serialization.Encoding.DER)


def _ocsp(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=OCSP_RESPONSE)


def _decode_get(raw_path: bytes) -> bytes | None:
    """RFC 6960 A.1.1: ``GET {url}/{url-encoding of base-64 encoding of the DER}``."""
    text = unquote_to_bytes(raw_path.lstrip(b"/")).replace(b"-", b"+").replace(b"_", b"/")
    text += b"=" * (-len(text) % 4)  # some clients drop the padding
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def create_ocsp_app(*, signer: OcspSigner, source: StatusSource,
                    limits: OcspLimits | None = None,
                    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                    blocking_source: bool = True) -> Starlette:
    """The ASGI app of one responder: one issuer, one signer, one status source.

    ``blocking_source``: the source may block (a database), so each answer is computed
    in a worker thread; a source that answers from memory can say False and save the
    thread hop.
    """
    limits = limits or OcspLimits()

    async def _answer(der: bytes) -> Response:
        work = partial(answer, der, signer=signer, source=source, at=clock(), limits=limits)
        if not blocking_source:
            return _ocsp(work().der)
        return _ocsp((await anyio.to_thread.run_sync(work)).der)

    async def post(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != OCSP_REQUEST:
            return _ocsp(_MALFORMED, 415)
        try:
            body = await read_limited(request, limits.max_request)
        except BodyTooLarge:
            return _ocsp(_MALFORMED, 413)
        return await _answer(body)

    async def get(request: Request) -> Response:
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        raw_path = raw_path.split(b"?", 1)[0]
        # base64 is 4/3 of the DER, and URL-encoding at most triples each character.
        if len(raw_path) > 4 * limits.max_request:
            return _ocsp(_MALFORMED, 414)
        der = _decode_get(raw_path)
        return await _answer(der) if der else _ocsp(_MALFORMED)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"issuer": signer.issuer.subject.rfc4514_string(),
                             "delegated": signer.delegated})

    async def other(request: Request) -> Response:
        return _ocsp(_MALFORMED, 405)

    return Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/{path:path}", post, methods=["POST"]),
        Route("/{path:path}", get, methods=["GET"]),
        Route("/{path:path}", other, methods=["PUT", "DELETE", "PATCH", "OPTIONS"]),
    ])


async def serve_ocsp(*, issuer: x509.Certificate, certificate: x509.Certificate,
                     key: object, source: StatusSource, host: str = "127.0.0.1",
                     port: int = 8480, limits: OcspLimits | None = None,
                     blocking_source: bool = True,
                     started: Callable[[str], None] | None = None) -> None:
    """Run an OCSP responder until cancelled (``sild identity ocsp serve``).

    ``certificate`` is a delegated responder certificate (the default deployment) or the
    issuer itself; :class:`~sild.identity.ocsp.OcspSigner` checks which and refuses a
    certificate clients would reject.
    """
    signer = OcspSigner(issuer=issuer, certificate=certificate,
                        key=key)  # type: ignore[arg-type]  # checked against the certificate
    app = create_ocsp_app(signer=signer, source=source, limits=limits,
                          blocking_source=blocking_source)
    await serve_app(app, host, port, started)

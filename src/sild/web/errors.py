"""One mapping from a :class:`~sild.errors.SildError` to an HTTP answer, for every service.

The gateway's IS and peer ports, its admin port, the registry, the ledger and the
witness all answer errors the X-Road way (research/xroad.md §2.2, PR-REST §4.6): header
``X-Road-Error`` with the code and a body ``{"type","message","detail"}`` — JSON by
default, XML ``<error>`` when ``Accept`` asks for ``text/xml``, ``application/xml`` or
``text/*`` — ``detail`` an error id that the log repeats. Every body names its charset
(PR-REST §4.3: ``application/json; charset=utf-8``). ``Server.*`` → 500 and
``Client.*`` → 400 (X-Road ``ClientRestMessageHandler.sendErrorResponse``), unless the
error states its own status (404, 409, 413, 503).

Framework-free: callers turn the :class:`ErrorAnswer` into their framework's response.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

import orjson

from sild.errors import RelayedError, SildError, xroad_code_at

__all__ = ["JSON_TYPE", "XML_TYPE", "ErrorAnswer", "answer_for", "error_answer", "status_for",
           "wants_xml"]

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    status: int
    code: str
    message: str
    detail: str
    content_type: str
    body: bytes

    def headers(self) -> tuple[tuple[str, str], ...]:
        return (("Content-Type", self.content_type), ("X-Road-Error", self.code))


def wants_xml(accept: str) -> bool:
    a = accept.lower()
    return any(t in a for t in ("text/xml", "application/xml", "text/*"))


def status_for(code: str, error: SildError | None = None) -> int:
    """The HTTP status of an error code (X-Road: Server.* 500, the rest 400)."""
    if error is not None and error.http_status not in (400, 500):
        return error.http_status
    return 500 if code.lower().startswith("server.") else 400


def error_answer(code: str, message: str, *, accept: str = "", status: int | None = None,
                 detail: str | None = None) -> ErrorAnswer:
    """The X-Road error body for ``code``, in the form ``accept`` asks for."""
    detail = detail or str(uuid.uuid4())
    if wants_xml(accept):
        body = (f"<error><type>{escape(code)}</type><message>{escape(message)}</message>"
                f"<detail>{escape(detail)}</detail></error>").encode()
        ctype = XML_TYPE
    else:
        body = orjson.dumps({"type": code, "message": message, "detail": detail})
        ctype = JSON_TYPE
    return ErrorAnswer(status or status_for(code), code, message, detail, ctype, body)


def answer_for(error: SildError, *, component: str | None = None, accept: str = "",
               detail: str | None = None) -> ErrorAnswer:
    """The one mapper: ``error`` as every Sild service answers it.

    ``component`` is ``"ClientProxy"`` / ``"ServerProxy"`` on a gateway's IS and peer
    ports (X-Road ``translateWithPrefix``), ``None`` elsewhere.
    """
    if isinstance(error, RelayedError):  # as the other gateway answered it
        return error_answer(error.relayed_code, error.message, accept=accept,
                            status=error.status, detail=error.detail or detail)
    code = xroad_code_at(error, component) if component else error.xroad_code
    return error_answer(code, error.message, accept=accept, status=status_for(code, error),
                        detail=detail)

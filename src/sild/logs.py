"""Structured logs (structlog): JSON lines on stderr for services, never key material."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import structlog

__all__ = ["configure_logging"]


class _StderrLogger:
    """Writes each event to whatever ``sys.stderr`` is *now* (tests swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _factory(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


class _OneLineHandler(logging.Handler):
    """Library loggers (aiohttp, uvicorn) as one JSON line each, exception type only.

    aiohttp logs a stranger's malformed HTTP with a plain-text traceback per request;
    that is noise an attacker controls. The type and message are enough to see it.
    """

    def emit(self, record: logging.LogRecord) -> None:
        event: dict[str, Any] = {"event": record.getMessage(), "logger": record.name,
                                 "level": record.levelname.lower()}
        if record.exc_info and record.exc_info[0] is not None:
            event["exc_type"] = record.exc_info[0].__name__
            event["exc_value"] = str(record.exc_info[1])[:200]
        print(json.dumps(event), file=sys.stderr, flush=True)


def configure_logging(level: int = logging.INFO) -> None:
    for name in ("aiohttp.server", "aiohttp.access", "aiohttp.web"):
        lib = logging.getLogger(name)
        lib.handlers = [_OneLineHandler()]
        lib.propagate = False
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # A crash carries its exception type, value and frames as JSON
            # (exception: [{exc_type, exc_value, frames: [...]}]), not exc_info: true.
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_factory,
        # Not cached: structlog.testing.capture_logs must be able to swap processors.
        cache_logger_on_first_use=False,
    )

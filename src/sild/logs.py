"""Structured logs (structlog): JSON lines on stderr for services, never key material."""

from __future__ import annotations

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


def configure_logging(level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_factory,
        # Not cached: structlog.testing.capture_logs must be able to swap processors.
        cache_logger_on_first_use=False,
    )

"""Logs are JSON lines: a crash carries its exception type and frames, a library's
traceback is folded into one line."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from sild.logs import configure_logging


def test_crash_logs_exception_type_and_frames(capsys: pytest.CaptureFixture[str]) -> None:
    """log.exception writes the type, value and traceback frames as JSON."""
    configure_logging()
    try:
        raise KeyError("boom")
    except KeyError:
        structlog.get_logger("t").exception("exchange_crashed")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    exc = line["exception"][0]
    assert (exc["exc_type"], line["event"]) == ("KeyError", "exchange_crashed")
    assert exc["frames"][-1]["name"] == "test_crash_logs_exception_type_and_frames"


def test_aiohttp_error_is_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    """aiohttp's 'Error handling request' with a traceback becomes one JSON line."""
    configure_logging()
    try:
        raise ValueError("bad request line")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["exc_type"] == "ValueError"
